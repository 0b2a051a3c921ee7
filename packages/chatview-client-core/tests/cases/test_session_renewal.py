"""A stream that outlives its token: the client must log in again by itself, miss
nothing around the expiry, and stop at a refusal instead of retrying a dead token.

The session TTL of 60 s is scaled to 3 s and Bob's sends at 30, 59, 61, 90 and 150 s
to 1.5, 2.95, 3.05, 4.5 and 7.5 s. The ban after renewal stands for a re-login that
fails: the client stops and reports it.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from chatview_client import ChatClient, ConnectionState, SessionEndedError
from chatview_identity import KeyPair

from ..integration.conftest import (  # noqa: TID252 - shared test helpers
    SERVER_CONFIG,
    ClientFactory,
    ServerFactory,
    until,
)

SEND_AT = (1.5, 2.95, 3.05, 4.5, 7.5)


class TestSessionRenewal:
    async def test_renews_and_misses_nothing(
        self, chatview_server_factory: ServerFactory, make_client: ClientFactory
    ) -> None:
        """Every message around two expiries arrives once, in order, without the user."""
        admin_key, alice_key, bob_key = (KeyPair.generate() for _ in range(3))
        server = chatview_server_factory(
            config={
                **SERVER_CONFIG,
                "session_ttl": "3s",
                "admin_pub_key": admin_key.public_key.hex,
            }
        )
        alice = await make_client(server, alice_key)
        bob = await make_client(server, bob_key)
        await asyncio.gather(alice.wait_online(20), bob.wait_online(20))
        started = time.monotonic()

        texts = [f"在 {at} 秒" for at in SEND_AT]
        for at, text in zip(SEND_AT, texts, strict=True):
            await asyncio.sleep(max(0.0, started + at - time.monotonic()))
            await bob.send_message(alice.public_key, text)

        await until(lambda: _texts(alice, bob.public_key, texts), what="all five in alice's cache")
        history = await alice.history(bob.public_key, limit=100)
        assert texts == [m.text for m in history]
        assert [1, 2, 3, 4, 5] == [m.server_seq for m in history]

        admin = await make_client(server, admin_key)
        await admin.wait_online(20)
        await admin.ban(alice.public_key)
        await until(lambda: alice.connection_state is ConnectionState.OFFLINE, what="alice stopped")
        with pytest.raises(SessionEndedError):
            await alice.wait_online(1)


async def _texts(client: ChatClient, peer: str, expected: list[str]) -> bool:
    return expected == [m.text for m in await client.history(peer, limit=100)]
