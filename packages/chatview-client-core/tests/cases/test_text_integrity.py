"""Text that changes or breaks on its way: a lone surrogate queued and retried forever,
and emoji sequences whose bytes differ after a round trip.

A lone surrogate (from ``json.loads`` or a clipboard) is refused by the library at
once and never reaches the outbox. Skin tones, ZWJ families, flags and VS16 arrive
with identical UTF-8 bytes in the other client's SQLite cache.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3

import pytest

from chatview_client import InvalidMessageError
from chatview_identity import KeyPair
from chatview_server.testing import ServerProcess

from ..integration.conftest import ClientFactory, until  # noqa: TID252 - shared test helpers

EMOJI = ["好的👍", "👍🏻", "👨\u200d👩\u200d👧", "🇨🇳", "❤️", "😀" * 50, "哈哈😂😂😂"]


class TestTextIntegrity:
    @pytest.mark.parametrize("text", ["bad \ud83d end", json.loads('"\\ud83d"'), "\udc00尾"])
    async def test_lone_surrogate_refused_early(
        self, server: ServerProcess, make_client: ClientFactory, text: str
    ) -> None:
        """The library refuses at once, naming the code point; nothing is queued."""
        alice = await make_client(server, KeyPair.generate(), grpc_target="127.0.0.1:9")

        with pytest.raises(InvalidMessageError, match=r"lone surrogate \(U\+D[89A-F]"):
            await alice.send_message(KeyPair.generate().public_key.hex, text)

        assert () == alice.outbox()

    async def test_emoji_bytes_survive_round_trip(
        self, server: ServerProcess, make_client: ClientFactory
    ) -> None:
        """Each emoji text is byte-identical in the receiver's cache."""
        alice = await make_client(server, KeyPair.generate())
        bob = await make_client(server, KeyPair.generate())
        await asyncio.gather(alice.wait_online(20), bob.wait_online(20))

        for text in EMOJI:
            await alice.send_message(bob.public_key, text)

        def cached() -> list[bytes]:
            with sqlite3.connect(bob.cache_path) as db:
                rows = db.execute(
                    "SELECT CAST(text AS BLOB) FROM messages WHERE peer = ? ORDER BY server_seq",
                    (alice.public_key,),
                ).fetchall()
            return [bytes(blob) for (blob,) in rows]

        await until(lambda: len(cached()) == len(EMOJI), what="all emoji texts cached")
        assert [text.encode() for text in EMOJI] == cached()
