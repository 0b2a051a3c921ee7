"""Wrong unread badges: own messages counted, reads not synced across devices, and a
stale device moving the read cursor backwards.

The server moves the sender's cursor on every send, publishes ``conversation_read``
with the stored cursor to the reader's other devices after MarkConversationRead, and
keeps the cursor at its maximum.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from chatview_identity import KeyPair
from chatview_proto import chat_pb2
from chatview_server.testing import ProtocolClient

from .conftest import Subscriber

ClientFactory = Callable[..., Awaitable[ProtocolClient]]


async def badge(user: ProtocolClient, peer: str) -> tuple[int, int]:
    """(unread, read cursor) of the conversation with `peer`, as the server counts."""
    (entry,) = [f for f in (await user.friends()).friends if f.public_key == peer]
    return entry.unread, entry.last_read_server_seq


async def mark_read(user: ProtocolClient, peer: str, seq: int) -> None:
    await user.chat.MarkConversationRead(
        chat_pb2.MarkConversationReadReq(peer_public_key=peer, last_read_server_seq=seq),
        metadata=user.metadata,
    )


class TestUnreadBadge:
    async def test_read_syncs_and_never_goes_back(
        self, connect: ClientFactory, subscribe: Subscriber
    ) -> None:
        """Own messages are never unread, a read on A1 reaches A2 as an event, and a
        stale MarkRead from A2 leaves the cursor where it was."""
        alice_key = KeyPair.generate()
        a1 = await connect(alice_key, client_id="a1")
        a2 = await connect(alice_key, client_id="a2")
        bob = await connect(client_id="b1")
        a2_stream = await subscribe(a2, "a2")

        for n in range(3):
            await a1.send(bob.key, f"第{n + 1}条")
        assert (0, 3) == await badge(a1, bob.key)
        assert (3, 0) == await badge(bob, a1.key)

        await bob.send(a1.key, "回复一")
        await bob.send(a1.key, "回复二")
        assert (2, 3) == await badge(a2, bob.key)

        await mark_read(a1, bob.key, 5)
        event = await a2_stream.next("conversation_read", within=2.0)
        assert (bob.key, 5) == (
            event.conversation_read.peer_public_key,
            event.conversation_read.last_read_server_seq,
        )

        await mark_read(a2, bob.key, 4)  # a stale device
        assert (0, 5) == await badge(a1, bob.key)

        await bob.send(a1.key, "再来一条")
        assert (1, 5) == await badge(a2, bob.key)

    async def test_stale_read_announces_stored_cursor(
        self, connect: ClientFactory, subscribe: Subscriber
    ) -> None:
        """The event after a stale MarkRead carries the stored cursor, not the lower one."""
        alice_key = KeyPair.generate()
        a1 = await connect(alice_key, client_id="a1")
        a2 = await connect(alice_key, client_id="a2")
        bob = await connect()
        for n in range(3):
            await bob.send(a1.key, f"消息{n}")
        await mark_read(a1, bob.key, 3)
        a1_stream = await subscribe(a1, "a1")

        await mark_read(a2, bob.key, 1)

        event = await a1_stream.next("conversation_read")
        assert 3 == event.conversation_read.last_read_server_seq

    async def test_reading_device_gets_no_event(
        self, connect: ClientFactory, subscribe: Subscriber
    ) -> None:
        """The device that read learns the result from the reply, not from an event."""
        alice_key = KeyPair.generate()
        a1 = await connect(alice_key, client_id="a1")
        bob = await connect()
        await bob.send(a1.key, "你好")
        own = await subscribe(a1, "a1")

        await mark_read(a1, bob.key, 1)

        assert [] == await own.events("conversation_read", quiet=0.5)
