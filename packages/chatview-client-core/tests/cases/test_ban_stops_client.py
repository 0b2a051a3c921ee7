"""A banned client that keeps retrying: outbox items resent in a loop and a
reconnect storm against a server that refuses the account.

M2 has two messages queued while cut off when the ban comes; once the network is
back its login is refused, the items are marked failed once and not retried, and the
client stops reconnecting. After the unban a new login works and the items stay
failed until the user retries them.
"""

from __future__ import annotations

import asyncio

import pytest

from chatview_client import ConnectionState, OutboxState, SessionEndedError
from chatview_identity import KeyPair

from ..integration.conftest import (  # noqa: TID252 - shared test helpers
    SERVER_CONFIG,
    ClientFactory,
    ServerFactory,
    until,
)
from .proxy import FaultProxy


class TestBanStopsClient:
    async def test_banned_outbox_fails_once(
        self, chatview_server_factory: ServerFactory, make_client: ClientFactory
    ) -> None:
        """Queued items fail once after the ban; no reconnect loop; unban needs a retry."""
        admin_key, mallory_key, alice_key = (KeyPair.generate() for _ in range(3))
        server = chatview_server_factory(
            config={**SERVER_CONFIG, "admin_pub_key": admin_key.public_key.hex}
        )
        proxy = await FaultProxy.start(server.address)
        try:
            admin = await make_client(server, admin_key)
            alice = await make_client(server, alice_key)
            m1 = await make_client(server, mallory_key, device="m1")
            m2 = await make_client(server, mallory_key, device="m2", grpc_target=proxy.address)
            for client in (admin, alice, m1, m2):
                await client.wait_online(20)
            proxy.cut()
            for n in range(2):
                await m2.send_message(alice.public_key, f"广告 {n}")

            await admin.ban(m1.public_key)
            await until(lambda: m1.connection_state is ConnectionState.OFFLINE, what="m1 off")
            proxy.restore()
            await until(
                lambda: [e.state for e in m2.outbox()] == [OutboxState.FAILED] * 2,
                what="m2's items failed",
            )
            with pytest.raises(SessionEndedError, match="banned"):
                await m2.wait_online(1)
            connections = proxy.connections
            attempts = [entry.attempts for entry in m2.outbox()]
            await asyncio.sleep(2.0)
            assert connections == proxy.connections
            # Failed by the ended session, at most after one attempt, and not again.
            assert attempts == [entry.attempts for entry in m2.outbox()]
            assert all(count <= 1 for count in attempts)

            await admin.unban(m1.public_key)
            await m2.close()
            again = await make_client(server, mallory_key, device="m2")
            await again.wait_online(20)
            assert [OutboxState.FAILED] * 2 == [entry.state for entry in again.outbox()]
            await again.retry_message(again.outbox()[0].client_message_id)
            await until(lambda: len(again.outbox()) == 1, what="the retried item sent")
        finally:
            await proxy.close()
