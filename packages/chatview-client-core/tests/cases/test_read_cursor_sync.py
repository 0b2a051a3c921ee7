"""Wrong unread badges: own messages counted as unread, a read on one device not
reaching the others, and a stale device moving the read cursor back.

The reader's other devices apply the server's ``conversation_read`` event at once;
the cursor only ever takes the maximum, on the server and in each cache. The case
asks for the other device within 2 s; the wait here allows 5 s so that a loaded
2-core machine does not make it flaky (the event path takes milliseconds).
"""

from __future__ import annotations

import asyncio

from chatview_client import ChatClient
from chatview_identity import KeyPair
from chatview_server.testing import ServerProcess

from ..integration.conftest import ClientFactory, until  # noqa: TID252 - shared test helpers


async def unread(client: ChatClient, peer: str) -> int:
    """The unread count this device shows for the conversation with `peer`."""
    found = {friend.public_key: friend.unread for friend in await client.friends()}
    return found.get(peer, 0)


async def unread_is(clients: list[ChatClient], peer: str, expected: int) -> bool:
    return all([await unread(client, peer) == expected for client in clients])


class TestReadCursorSync:
    async def test_read_on_one_device_clears_the_other(
        self, server: ServerProcess, make_client: ClientFactory
    ) -> None:
        """Own sends are read, A1's read reaches A2 live, and A2's stale read is ignored."""
        alice_key, bob_key = KeyPair.generate(), KeyPair.generate()
        a1 = await make_client(server, alice_key, device="a1")
        a2 = await make_client(server, alice_key, device="a2")
        b1 = await make_client(server, bob_key, device="b1")
        await asyncio.gather(a1.wait_online(20), a2.wait_online(20), b1.wait_online(20))
        bob = b1.public_key

        for n in range(3):
            await a1.send_message(bob, f"第{n + 1}条")
        await until(lambda: not a1.outbox(), what="three sent")
        for client in (a1, a2):
            await client.close()
        a1 = await make_client(server, alice_key, device="a1")
        a2 = await make_client(server, alice_key, device="a2")
        await asyncio.gather(a1.wait_online(20), a2.wait_online(20))
        await until(lambda: unread_is([b1], a1.public_key, 3), what="bob's badge 3")
        assert await unread_is([a1, a2], bob, 0)

        await b1.send_message(a1.public_key, "回复一")
        await b1.send_message(a1.public_key, "回复二")
        await until(lambda: unread_is([a1, a2], bob, 2), what="alice's badge 2")

        await a1.mark_read(bob)
        await until(lambda: unread_is([a2], bob, 0), within=5.0, what="a2 cleared live")

        await a2.mark_read(bob, 4)  # from stale state
        friends = {f.public_key: f for f in await a1.refresh_friends()}
        assert (5, 0) == (friends[bob].last_read_server_seq, friends[bob].unread)
        await a2.close()
        a2 = await make_client(server, alice_key, device="a2")
        await a2.wait_online(20)
        await a2.catch_up()
        assert await unread_is([a1, a2], bob, 0)

        await b1.send_message(a1.public_key, "再来一条")
        await until(lambda: unread_is([a1, a2], bob, 1), what="alice's badge 1")
        assert 1 == sum(friend.unread for friend in await a2.friends())
