"""Messages written while the server is down are delivered exactly once when it returns."""

from __future__ import annotations

import asyncio

from chatview_client import ConnectionState, MessageState
from chatview_identity import KeyPair

from .conftest import SERVER_CONFIG, ClientFactory, ServerFactory, server_history, until


class TestOfflineOutbox:
    async def test_fifty_delivered_once_in_order(
        self, chatview_server_factory: ServerFactory, make_client: ClientFactory
    ) -> None:
        """50 messages queued while the server is stopped arrive once each, in order."""
        server = chatview_server_factory(config=SERVER_CONFIG)
        alice_key, bob_key = KeyPair.generate(), KeyPair.generate()
        alice = await make_client(server, alice_key)
        bob = await make_client(server, bob_key)
        await asyncio.gather(alice.wait_online(20), bob.wait_online(20))

        # 1. The server goes away; Alice's client notices.
        await asyncio.to_thread(server.stop)
        await until(
            lambda: alice.connection_state is not ConnectionState.ONLINE, what="alice offline"
        )

        # 2. Alice writes 50 messages; each is pending at once.
        texts = [f"offline message {n:02d}" for n in range(50)]
        pending = [await alice.send_message(bob.public_key, text) for text in texts]
        assert {MessageState.PENDING} == {message.state for message in pending}
        assert 50 == len(alice.outbox())

        # 3. The server returns; the outbox drains and Bob catches up.
        await asyncio.to_thread(server.start)
        await until(lambda: not alice.outbox(), within=60, what="outbox drained")

        stored = await server_history(server, bob_key, alice.public_key)
        assert texts == [message.text for message in stored]
        assert list(range(1, 51)) == [message.server_seq for message in stored]

        async def bob_has_all() -> bool:
            return 50 == len(await bob.history(alice.public_key, limit=100))

        await until(bob_has_all, what="bob has 50 messages")
        assert texts == [message.text for message in await bob.history(alice.public_key, limit=100)]

    async def test_outbox_survives_restart(
        self, chatview_server_factory: ServerFactory, make_client: ClientFactory
    ) -> None:
        """Messages queued in one session are sent by the next one, with the same keys."""
        server = chatview_server_factory(config=SERVER_CONFIG)
        alice_key, bob_key = KeyPair.generate(), KeyPair.generate()
        bob = await make_client(server, bob_key)
        await bob.wait_online(20)
        await asyncio.to_thread(server.stop)

        first = await make_client(server, alice_key)
        queued = [await first.send_message(bob.public_key, f"queued {n}") for n in range(3)]
        await first.close()

        await asyncio.to_thread(server.start)
        second = await make_client(server, alice_key)
        assert [m.client_message_id for m in queued] == [
            entry.client_message_id for entry in second.outbox()
        ]
        await until(lambda: not second.outbox(), what="outbox drained")

        # The server shows the author's idempotency keys to the author only.
        stored = await server_history(server, alice_key, bob.public_key)
        assert [m.client_message_id for m in queued] == [m.client_message_id for m in stored]

    async def test_concurrent_sends_all_queued(
        self, chatview_server_factory: ServerFactory, make_client: ClientFactory
    ) -> None:
        """Sends started at the same moment each take their own outbox place and arrive."""
        server = chatview_server_factory(config=SERVER_CONFIG)
        alice_key, bob_key = KeyPair.generate(), KeyPair.generate()
        alice = await make_client(server, alice_key)
        bob = await make_client(server, bob_key)
        await asyncio.gather(alice.wait_online(20), bob.wait_online(20))

        texts = [f"together {n}" for n in range(10)]
        sent = await asyncio.gather(*(alice.send_message(bob.public_key, t) for t in texts))
        await until(lambda: not alice.outbox(), what="outbox drained")

        stored = await server_history(server, bob_key, alice.public_key)
        assert 10 == len({message.client_message_id for message in sent})
        assert sorted(texts) == sorted(message.text for message in stored)
        assert list(range(1, 11)) == [message.server_seq for message in stored]
