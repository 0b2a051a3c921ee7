"""Duplicate rows after a reconnect, when the history catch-up overlaps the live
stream or an idle reconnect replays what the cache already holds.

Bob's cache keeps one row per (conversation, seq): after a cut during which Alice
writes, messages racing the catch-up, five idle reconnects and a message from Bob's
other device, B1 holds exactly seq 1..28 with 7 unread. The 5 s cut is 2 s here; the
500 ms delay of History is not injected, the race comes from sends made while B1
reconnects.
"""

from __future__ import annotations

import asyncio
import sqlite3

from chatview_client import ChatClient, ConnectionState
from chatview_identity import KeyPair
from chatview_server.testing import ServerProcess

from ..integration.conftest import ClientFactory, until  # noqa: TID252 - shared test helpers
from .proxy import FaultProxy


def seqs(client: ChatClient, peer: str) -> list[int | None]:
    with sqlite3.connect(client.cache_path) as db:
        rows = db.execute(
            "SELECT server_seq FROM messages WHERE peer = ? ORDER BY server_seq", (peer,)
        ).fetchall()
    return [seq for (seq,) in rows]


async def unread(client: ChatClient, peer: str, expected: int) -> bool:
    return expected == {f.public_key: f.unread for f in await client.friends()}.get(peer)


async def reconnect(client: ChatClient, proxy: FaultProxy, seconds: float) -> None:
    proxy.cut()
    await until(lambda: client.connection_state is not ConnectionState.ONLINE, what="cut off")
    await asyncio.sleep(seconds)
    proxy.restore()


class TestReconnectDuplicates:
    async def test_one_row_per_seq_after_reconnects(
        self, server: ServerProcess, make_client: ClientFactory, proxy: FaultProxy
    ) -> None:
        """Catch-up racing live events, idle reconnects and another device add no copy."""
        alice_key, bob_key = KeyPair.generate(), KeyPair.generate()
        alice = await make_client(server, alice_key)
        b1 = await make_client(server, bob_key, device="b1", grpc_target=proxy.address)
        b2 = await make_client(server, bob_key, device="b2")
        await asyncio.gather(alice.wait_online(20), b1.wait_online(20), b2.wait_online(20))
        for n in range(1, 21):
            await alice.send_message(bob_key.public_key.hex, f"第{n}条")
        await until(lambda: len(seqs(b1, alice.public_key)) == 20, what="1..20 cached")
        await b1.mark_read(alice.public_key)

        cut = asyncio.create_task(reconnect(b1, proxy, 2.0))
        for n in range(21, 26):
            await alice.send_message(bob_key.public_key.hex, f"第{n}条")
        await until(lambda: not alice.outbox(), what="21..25 sent")
        await cut
        for n in (26, 27):  # while B1 catches up
            await alice.send_message(bob_key.public_key.hex, f"第{n}条")
        await b1.wait_online(20)
        await until(lambda: len(seqs(b1, alice.public_key)) == 27, what="1..27 cached")
        await until(lambda: unread(b1, alice.public_key, 7), what="seq 21..27 unread")

        for round_number in range(5):
            await reconnect(b1, proxy, 0.2)
            if round_number == 2:
                await b2.send_message(alice.public_key, "我在另一台设备")
            await b1.wait_online(20)

        await until(lambda: len(seqs(b1, alice.public_key)) == 28, what="the B2 message")
        await b1.catch_up()
        assert list(range(1, 29)) == seqs(b1, alice.public_key)
        history = await b1.history(alice.public_key, limit=100)
        assert 1 == [m.text for m in history].count("我在另一台设备")
        # Bob's own message moved his read cursor past everything before it.
        assert await unread(b1, alice.public_key, 0)
