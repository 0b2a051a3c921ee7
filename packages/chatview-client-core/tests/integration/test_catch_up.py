"""A client that was away catches up everything it missed, across devices too."""

from __future__ import annotations

import asyncio

from chatview_client import ChatClient, MessageState, NewMessage
from chatview_identity import KeyPair
from chatview_server.testing import ServerProcess

from .conftest import ClientFactory, server_history, summary, until


async def collect_new(client: ChatClient, count: int, *, within: float = 20.0) -> list[NewMessage]:
    """Read `count` NewMessage events from a stream opened before the call."""
    found: list[NewMessage] = []
    async with asyncio.timeout(within):
        async for event in client.events():
            if isinstance(event, NewMessage):
                found.append(event)
                if len(found) == count:
                    return found
    return found


class TestCatchUp:
    async def test_twenty_while_offline(
        self, server: ServerProcess, make_client: ClientFactory
    ) -> None:
        """20 messages that arrive while Bob's client is closed reach it on reconnect,
        each once, and its cache then equals the server's history."""
        alice_key, bob_key = KeyPair.generate(), KeyPair.generate()
        alice = await make_client(server, alice_key)
        bob = await make_client(server, bob_key)
        await asyncio.gather(alice.wait_online(20), bob.wait_online(20))
        await alice.send_message(bob.public_key, "before")
        await until(lambda: not alice.outbox(), what="first message sent")
        await until(lambda: _has(bob, alice.public_key, 1), what="bob got the first message")
        await bob.close()

        texts = [f"while away {n:02d}" for n in range(20)]
        for text in texts:
            await alice.send_message(bob.public_key, text)
        await until(lambda: not alice.outbox(), what="alice's outbox drained")

        # The stream is made before the client connects, so it gets every event.
        again = await make_client(server, bob_key)
        received = await collect_new(again, 20)

        assert texts == [event.message.text for event in received]
        assert list(range(2, 22)) == [event.message.server_seq for event in received]
        cached = await again.history(alice.public_key, limit=100)
        stored = await server_history(server, bob_key, alice.public_key)
        assert [(m.server_seq, m.sender_public_key, m.text) for m in stored] == summary(cached)

    async def test_idle_reconnects_add_nothing(
        self, server: ServerProcess, make_client: ClientFactory
    ) -> None:
        """Reopening without new messages adds no rows and raises no events."""
        alice_key, bob_key = KeyPair.generate(), KeyPair.generate()
        alice = await make_client(server, alice_key)
        await alice.wait_online(20)
        bob = await make_client(server, bob_key)
        await bob.wait_online(20)
        for n in range(3):
            await alice.send_message(bob.public_key, f"m{n}")
        await until(lambda: _has(bob, alice.public_key, 3), what="bob has 3")
        await bob.close()

        for _ in range(3):
            again = await make_client(server, bob_key)
            stream = again.events()
            await again.wait_online(20)
            await again.catch_up()
            await again.close()
            assert [] == [event async for event in stream if isinstance(event, NewMessage)]
        final = await make_client(server, bob_key)
        assert 3 == len(await final.history(alice.public_key, limit=100))


class TestDevices:
    async def test_second_device_sees_sent(
        self, server: ServerProcess, make_client: ClientFactory
    ) -> None:
        """A message sent from one device appears, as sent, on the same key's other device."""
        alice_key, bob_key = KeyPair.generate(), KeyPair.generate()
        first = await make_client(server, alice_key, device="laptop")
        second = await make_client(server, alice_key, device="phone")
        bob = await make_client(server, bob_key)
        await asyncio.gather(first.wait_online(20), second.wait_online(20), bob.wait_online(20))
        watching = asyncio.create_task(collect_new(second, 1))
        await asyncio.sleep(0)

        await first.send_message(bob.public_key, "from the laptop")
        seen = (await watching)[0].message

        assert ("from the laptop", MessageState.SENT, bob.public_key) == (
            seen.text,
            seen.state,
            seen.peer,
        )
        assert summary(await first.history(bob.public_key)) == summary(
            await second.history(bob.public_key)
        )

    async def test_late_device_catches_up(
        self, server: ServerProcess, make_client: ClientFactory
    ) -> None:
        """A device that logs in later gets the conversation from catch-up."""
        alice_key, bob_key = KeyPair.generate(), KeyPair.generate()
        first = await make_client(server, alice_key, device="laptop")
        bob = await make_client(server, bob_key)
        await asyncio.gather(first.wait_online(20), bob.wait_online(20))
        await first.send_message(bob.public_key, "one")
        await until(lambda: not first.outbox(), what="sent")
        await bob.send_message(alice_key.public_key.hex, "two")
        await until(lambda: not bob.outbox(), what="reply sent")

        late = await make_client(server, alice_key, device="tablet")
        await late.wait_online(20)
        await late.catch_up()

        friends = await late.friends()
        assert [bob.public_key] == [friend.public_key for friend in friends]
        assert [(1, "one"), (2, "two")] == [
            (m.server_seq, m.text) for m in await late.history(bob.public_key)
        ]


async def _has(client: ChatClient, peer: str, count: int) -> bool:
    return len(await client.history(peer, limit=100)) >= count
