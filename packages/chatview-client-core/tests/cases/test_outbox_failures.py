"""An outbox that retries permanent errors forever, lets one bad item block the queue,
or strands items after a crash; and a length limit checked only on one side.

Queued while offline: q1, q2 (over the server's limit, the client's check relaxed as
after a limit change), q3, q4 (to a key the server does not know), q5. The first
connection attempts fail (the proxy refuses them), then the good items are delivered
once and in order, the bad ones fail at their first definitive error without holding
up the rest, and "retry" and "delete" work on them. The ``kill -9`` of the case is
played as a crash image: the cache is closed with an item left in "sending".
"""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from chatview_client import InvalidMessageError, OutboxState
from chatview_identity import KeyPair
from chatview_server.testing import ServerProcess

from ..integration.conftest import (  # noqa: TID252 - shared test helpers
    ClientFactory,
    server_history,
    until,
)
from .proxy import FaultProxy

LIMIT = 4000


class TestOutboxFailures:
    async def test_permanent_errors_fail_once_and_do_not_block(
        self, server: ServerProcess, make_client: ClientFactory, proxy: FaultProxy
    ) -> None:
        """q1, q3, q5 arrive once in order; q2 and q4 fail after one attempt each."""
        alice_key, bob_key, ghost_key = (KeyPair.generate() for _ in range(3))
        bob = await make_client(server, bob_key)
        await bob.wait_online(20)
        proxy.cut()
        alice = await make_client(
            server, alice_key, grpc_target=proxy.address, max_message_chars=LIMIT + 10
        )

        queued = [
            await alice.send_message(bob.public_key, "第一条"),
            await alice.send_message(bob.public_key, "中" * (LIMIT + 1)),
            await alice.send_message(bob.public_key, "第三条"),
            await alice.send_message(ghost_key.public_key.hex, "给陌生人"),
            await alice.send_message(bob.public_key, "第五条"),
        ]
        keys = [message.client_message_id for message in queued]
        await asyncio.sleep(2.0)  # connection attempts fail meanwhile
        proxy.restore()

        await until(
            lambda: (
                [e.client_message_id for e in alice.outbox()] == [keys[1], keys[3]]
                and all(e.state is OutboxState.FAILED for e in alice.outbox())
            ),
            what="only q2 and q4 left, failed",
        )
        assert [1, 1] == [entry.attempts for entry in alice.outbox()]
        stored = await server_history(server, bob_key, alice.public_key)
        assert [(1, "第一条"), (2, "第三条"), (3, "第五条")] == [
            (m.server_seq, m.text) for m in stored
        ]
        await asyncio.sleep(1.5)  # no automatic retry of a permanent failure
        assert [1, 1] == [entry.attempts for entry in alice.outbox()]

        ghost = await make_client(server, ghost_key)
        await ghost.wait_online(20)
        assert keys[3] is not None
        await alice.retry_message(keys[3])
        assert keys[1] is not None
        await alice.discard_message(keys[1])
        await until(lambda: not alice.outbox(), what="retried q4 delivered, q2 deleted")
        assert ["给陌生人"] == [
            m.text for m in await server_history(server, ghost_key, alice.public_key)
        ]

    async def test_sending_rows_resume_after_crash(
        self, server: ServerProcess, make_client: ClientFactory
    ) -> None:
        """An item a crash left in "sending" is sent again with its key, once."""
        alice_key, bob_key = KeyPair.generate(), KeyPair.generate()
        alice = await make_client(server, alice_key, grpc_target="127.0.0.1:9")
        written = await alice.send_message(bob_key.public_key.hex, "崩溃前写的")
        path = alice.cache_path
        await alice.close()
        with sqlite3.connect(path) as db:
            db.execute("UPDATE outbox SET state = 'sending'")
        bob = await make_client(server, bob_key)
        await bob.wait_online(20)

        alice = await make_client(server, alice_key)

        await until(lambda: not alice.outbox(), what="the stranded item delivered")
        stored = await server_history(server, alice_key, bob.public_key)
        assert [(written.client_message_id, "崩溃前写的")] == [
            (m.client_message_id, m.text) for m in stored
        ]

    async def test_oversized_request_fails_permanently(
        self, server: ServerProcess, make_client: ClientFactory
    ) -> None:
        """A 5 MB text that got past the client check fails once, and is not retried."""
        alice_key, bob_key = KeyPair.generate(), KeyPair.generate()
        bob = await make_client(server, bob_key)
        alice = await make_client(server, alice_key, max_message_chars=6_000_000)
        await asyncio.gather(alice.wait_online(20), bob.wait_online(20))

        await alice.send_message(bob.public_key, "a" * 5_000_000)

        await until(
            lambda: [e.state for e in alice.outbox()] == [OutboxState.FAILED],
            what="the 5 MB item failed",
        )
        assert 1 == alice.outbox()[0].attempts

    @pytest.mark.parametrize("text", ["中" * (LIMIT + 1), "a" * (LIMIT + 1), "x" * 5_000_000])
    async def test_client_refuses_what_server_refuses(
        self, server: ServerProcess, make_client: ClientFactory, text: str
    ) -> None:
        """The library counts code points like the server and refuses at once."""
        alice = await make_client(server, KeyPair.generate(), grpc_target="127.0.0.1:9")

        with pytest.raises(InvalidMessageError, match=rf"limit is {LIMIT} characters"):
            await alice.send_message(KeyPair.generate().public_key.hex, text)

        assert () == alice.outbox()
