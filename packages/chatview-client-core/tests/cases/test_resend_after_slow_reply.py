"""Duplicate messages when a send is retried after a slow reply.

The server commits a message but its reply comes after the client's deadline; the
outbox retries, the client restarts and retries again. Every attempt must carry the
idempotency key made once when the message was written, so the server keeps one row
and one seq, and the receiver gets one event. The case's 3 s reply delay against a
1 s deadline is kept; the delay comes from a proxy that holds back the server's bytes.
"""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import pytest

from chatview_client import (
    ChatClient,
    Event,
    EventStream,
    MessageState,
    NewMessage,
    OutboxItemNotFoundError,
)
from chatview_identity import KeyPair
from chatview_server.testing import ServerProcess

from ..integration.conftest import ClientFactory, server_history, until  # noqa: TID252 - shared test helpers
from .proxy import FaultProxy


def cached_rows(client: ChatClient, peer: str) -> list[tuple[int | None, str, str | None]]:
    """(seq, state, key) of every cached row of the conversation, read from the file."""
    with sqlite3.connect(client.cache_path) as db:
        rows = db.execute(
            "SELECT server_seq, state, client_message_id FROM messages WHERE peer = ?"
            " ORDER BY local_id",
            (peer,),
        ).fetchall()
    return [(seq, state, key) for seq, state, key in rows]


async def drain(stream: EventStream) -> list[Event]:
    """The events buffered in `stream`, until it stays quiet for half a second."""
    found: list[Event] = []
    while True:
        try:
            async with asyncio.timeout(0.5):
                found.append(await anext(stream))
        except (TimeoutError, StopAsyncIteration):
            return found


class TestResendAfterSlowReply:
    async def test_retry_with_same_key_stores_once(
        self, server: ServerProcess, make_client: ClientFactory, proxy: FaultProxy
    ) -> None:
        """Timed-out attempts and a restart store one message, seq 1; a manual resend
        of it is refused rather than sent under a new key."""
        alice_key, bob_key = KeyPair.generate(), KeyPair.generate()
        slow: dict[str, Any] = {"grpc_target": proxy.address, "grpc_timeout": 1.0}
        alice = await make_client(server, alice_key, **slow)
        bob = await make_client(server, bob_key)
        await asyncio.gather(alice.wait_online(20), bob.wait_online(20))
        bob_events = bob.events()

        proxy.delay_replies(3.0)
        written = await alice.send_message(bob.public_key, "明天见 see you tomorrow")
        key = written.client_message_id
        await until(lambda: alice.outbox()[0].attempts >= 2, what="two timed-out attempts")

        await alice.close()  # quit and restart while the message is still unsent
        alice = await make_client(server, alice_key, device="main", **slow)
        assert [key] == [entry.client_message_id for entry in alice.outbox()]
        await until(
            lambda: not alice.outbox() or alice.outbox()[0].attempts >= 1,
            what="an attempt after the restart",
        )
        proxy.delay_replies(0.0)
        await until(lambda: not alice.outbox(), what="outbox drained")
        # "Resend" of a message the server has makes no new key and no new copy.
        assert key is not None
        with pytest.raises(OutboxItemNotFoundError):
            await alice.retry_message(key)

        stored = await server_history(server, bob_key, alice.public_key)
        assert [(1, "明天见 see you tomorrow")] == [(m.server_seq, m.text) for m in stored]
        assert [(1, MessageState.SENT.value, key)] == cached_rows(alice, bob.public_key)
        await until(
            lambda: len(bob.outbox()) == 0 and bool(cached_rows(bob, alice.public_key)),
            what="bob has the message",
        )
        friends = {f.public_key: f for f in await bob.refresh_friends()}
        assert 1 == friends[alice.public_key].unread
        arrived = [
            event.message.text for event in await drain(bob_events) if isinstance(event, NewMessage)
        ]
        assert ["明天见 see you tomorrow"] == arrived

        following = await alice.send_message(bob.public_key, "第二条")
        assert key != following.client_message_id
        await until(lambda: not alice.outbox(), what="second message delivered")
        stored = await server_history(server, bob_key, alice.public_key)
        assert [1, 2] == [m.server_seq for m in stored]
