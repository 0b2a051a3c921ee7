"""Per-conversation sequence race: concurrent senders that read the same "next seq"
and commit two messages with one number, or lose a counter increment.

Three devices send into one conversation at the same moment while another
conversation receives its own burst; every call succeeds and each conversation's
seqs are exactly 1..n. Scaled from 40 per device to 20 (60 plus 20 in the other
conversation) to keep the suite fast on 2 cores; the sends still all start together.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

from chatview_identity import KeyPair
from chatview_server.testing import ProtocolClient

ClientFactory = Callable[..., Awaitable[ProtocolClient]]

PER_DEVICE = 20


async def whole_history(user: ProtocolClient, peer: str) -> list[tuple[int, str]]:
    """(seq, text) of the whole conversation, oldest first."""
    found: list[tuple[int, str]] = []
    cursor = ""
    while True:
        page = (await user.history(peer, cursor=cursor, limit=100, direction="newer")).page
        found.extend((m.server_seq, m.text) for m in page.messages)
        if not page.has_more:
            return found
        cursor = str(page.messages[-1].server_seq)


class TestSeqRace:
    async def test_concurrent_sends_get_gapless_seqs(self, connect: ClientFactory) -> None:
        """Every call succeeds; seqs are 1..n per conversation, no repeat, no gap."""
        alice_key = KeyPair.generate()
        a1 = await connect(alice_key, client_id="a1")
        a2 = await connect(alice_key, client_id="a2")
        b1 = await connect(client_id="b1")
        carol = await connect(client_id="c1")

        def sends(sender: ProtocolClient, peer: str, label: str) -> list[Awaitable[object]]:
            return [
                sender.send(peer, f"{label}-{n:03}", client_message_id=str(uuid.uuid4()))
                for n in range(1, PER_DEVICE + 1)
            ]

        replies = await asyncio.gather(
            *sends(a1, b1.key, "A1"),
            *sends(a2, b1.key, "A2"),
            *sends(b1, a1.key, "B1"),
            *sends(a1, carol.key, "AC"),
        )

        assert 4 * PER_DEVICE == len(replies)
        main = await whole_history(b1, a1.key)
        assert list(range(1, 3 * PER_DEVICE + 1)) == [seq for seq, _ in main]
        assert 3 * PER_DEVICE == len({text for _, text in main})
        assert main == await whole_history(a2, b1.key)
        other = await whole_history(carol, a1.key)
        assert list(range(1, PER_DEVICE + 1)) == [seq for seq, _ in other]
