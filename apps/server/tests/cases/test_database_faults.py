"""Transient database errors reaching clients: serialization conflicts raised at
COMMIT, and a pool that loses connections the database killed.

Concurrent reads, sends and mutual friend adds see no INTERNAL or UNKNOWN status and
end in a consistent state. After every server connection is terminated with
``pg_terminate_backend``, at most the calls in flight fail, with UNAVAILABLE; a retry
with the same key stores nothing twice and the pool recovers without a restart.
Scaled from 20 sends to 10. Stopping PostgreSQL itself for 5 s is not played here:
the suite's PostgreSQL is shared by the other tests.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import asyncpg
import grpc

from chatview_proto import chat_pb2
from chatview_server.testing import ProtocolClient

ClientFactory = Callable[..., Awaitable[ProtocolClient]]


async def mark_read(user: ProtocolClient, peer: str, seq: int) -> None:
    await user.chat.MarkConversationRead(
        chat_pb2.MarkConversationReadReq(peer_public_key=peer, last_read_server_seq=seq),
        metadata=user.metadata,
    )


async def send_until_stored(user: ProtocolClient, peer: str, text: str, key: str) -> int:
    """Send, retrying UNAVAILABLE with the same key as an outbox does; return the seq."""
    for _ in range(20):
        try:
            return (await user.send(peer, text, client_message_id=key)).server_seq
        except grpc.aio.AioRpcError as exc:
            if exc.code() is not grpc.StatusCode.UNAVAILABLE:
                raise
            await asyncio.sleep(0.2)
    raise AssertionError(f"{text!r} was never stored")


class TestDatabaseFaults:
    async def test_conflicts_never_reach_clients(self, connect: ClientFactory) -> None:
        """Simultaneous reads, sends and mutual adds all succeed, each stored once."""
        alice = await connect()
        b1 = await connect(client_id="b1")
        b2 = await connect(b1.keypair, client_id="b2")
        for n in range(10):
            await alice.send(b1.key, f"先发 {n}")

        await asyncio.gather(
            mark_read(b1, alice.key, 10),
            mark_read(b2, alice.key, 10),
            *(alice.send(b1.key, f"并发 {n}") for n in range(5)),
            alice.add_friend(b1.key, "bob"),
            b1.add_friend(alice.key, "alice"),
        )

        bob_view = {f.public_key: f for f in (await b1.friends()).friends}[alice.key]
        assert (10, 15) == (bob_view.last_read_server_seq, bob_view.last_server_seq)
        assert [alice.key] == [f.public_key for f in (await b1.friends()).friends if f.added]
        assert [b1.key] == [f.public_key for f in (await alice.friends()).friends if f.added]

    async def test_pool_recovers_after_terminated_connections(
        self, connect: ClientFactory, module_dsn: str
    ) -> None:
        """Killed connections cost at most the calls in flight, as UNAVAILABLE."""
        alice, bob = await connect(), await connect()
        await alice.send(bob.key, "before")
        killer = await asyncpg.connect(module_dsn)
        try:
            await killer.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        finally:
            await killer.close()

        seqs = [
            await send_until_stored(alice, bob.key, f"after {n}", str(uuid.uuid4()))
            for n in range(10)
        ]

        assert list(range(2, 12)) == seqs
        texts = [m.text for m in (await bob.history(alice.key, limit=100)).page.messages]
        assert ["before", *(f"after {n}" for n in range(10))] == texts
