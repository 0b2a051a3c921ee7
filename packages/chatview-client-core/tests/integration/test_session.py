"""Login, re-login, logout, bans and permanent send failures against a real server."""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import AsyncIterator

import psutil
import pytest

from chatview_client import (
    ConnectionState,
    ConnectionStateChanged,
    Event,
    EventStream,
    ForcedOffline,
    MessageState,
    OutboxState,
    Role,
    SessionEndedError,
)
from chatview_identity import KeyPair
from chatview_server.testing import ServerProcess

from .conftest import SERVER_CONFIG, ClientFactory, ServerFactory, server_history, until


def open_paths() -> set[str]:
    return {os.path.realpath(item.path) for item in psutil.Process().open_files()}


class TestLifecycle:
    async def test_close_leaves_nothing(
        self, server: ServerProcess, make_client: ClientFactory
    ) -> None:
        """After close no task of the client is left and the cache file is closed."""
        before = asyncio.all_tasks()
        client = await make_client(server, KeyPair.generate())
        await client.wait_online(20)
        stream = client.events()
        await client.send_message(KeyPair.generate().public_key.hex, "to nobody")
        path = str(client.cache_path.resolve())
        assert path in open_paths()

        await client.close()

        assert set() == asyncio.all_tasks() - before
        assert client.cache_closed
        assert path not in open_paths()
        # The stream ends with the client, and its last event reports the client offline.
        assert ConnectionStateChanged(ConnectionState.OFFLINE) == [e async for e in stream][-1]

    async def test_logout_cancels_everything(
        self, server: ServerProcess, make_client: ClientFactory
    ) -> None:
        """Logout ends the session on the server and leaves no task or open cache file."""
        before = asyncio.all_tasks()
        client = await make_client(server, KeyPair.generate())
        await client.wait_online(20)
        path = str(client.cache_path.resolve())

        await client.logout()
        gc.collect()

        assert set() == asyncio.all_tasks() - before
        assert not client.running
        assert client.cache_closed
        assert path not in open_paths()
        assert ConnectionState.OFFLINE is client.connection_state

    async def test_reopen_after_close(
        self, server: ServerProcess, make_client: ClientFactory
    ) -> None:
        """A closed client refuses calls; a new one on the same data works."""
        key = KeyPair.generate()
        client = await make_client(server, key)
        await client.close()

        with pytest.raises(Exception, match=r"the ChatClient is closed"):
            await client.friends()
        again = await make_client(server, key)
        assert Role.USER is (await again.wait_online(20)).role


class TestRelogin:
    async def test_expired_session_renewed(
        self, chatview_server_factory: ServerFactory, make_client: ClientFactory
    ) -> None:
        """When the session expires the client logs in again and misses nothing."""
        server = chatview_server_factory(config={**SERVER_CONFIG, "session_ttl": "2s"})
        alice_key, bob_key = KeyPair.generate(), KeyPair.generate()
        alice = await make_client(server, alice_key)
        bob = await make_client(server, bob_key)
        await asyncio.gather(alice.wait_online(20), bob.wait_online(20))

        texts = []
        for n in range(4):
            texts.append(f"tick {n}")
            await alice.send_message(bob.public_key, texts[-1])
            await asyncio.sleep(1.0)
        await until(lambda: not alice.outbox(), what="all sent")

        async def bob_has_all() -> bool:
            return texts == [m.text for m in await bob.history(alice.public_key)]

        await until(bob_has_all, what="bob has every message")
        await until(lambda: bob.connection_state is ConnectionState.ONLINE, what="bob online")


class TestRefusals:
    async def test_permanent_failure_not_blocking(
        self, server: ServerProcess, make_client: ClientFactory
    ) -> None:
        """A message the server rejects fails at once, but the next one is delivered.
        The failed one can be retried once the problem is gone."""
        alice_key, bob_key, ghost_key = (KeyPair.generate() for _ in range(3))
        alice = await make_client(server, alice_key)
        bob = await make_client(server, bob_key)
        await asyncio.gather(alice.wait_online(20), bob.wait_online(20))

        lost = await alice.send_message(ghost_key.public_key.hex, "to a key never seen")
        await alice.send_message(bob.public_key, "after the refused one")
        await until(
            lambda: [e.state for e in alice.outbox()] == [OutboxState.FAILED],
            what="one failed item left",
        )
        (failed,) = alice.outbox()
        assert (1, True) == (failed.attempts, "NOT_FOUND" in (failed.last_error or ""))
        stored = await server_history(server, bob_key, alice.public_key)
        assert ["after the refused one"] == [m.text for m in stored]

        ghost = await make_client(server, ghost_key)
        await ghost.wait_online(20)
        assert lost.client_message_id is not None
        retried = await alice.retry_message(lost.client_message_id)
        assert MessageState.PENDING is retried.state
        await until(lambda: not alice.outbox(), what="retry delivered")

    async def test_ban_ends_session(
        self, chatview_server_factory: ServerFactory, make_client: ClientFactory
    ) -> None:
        """A ban forces the client offline for good; it stops sending and reconnecting."""
        admin_key, mallory_key = KeyPair.generate(), KeyPair.generate()
        server = chatview_server_factory(
            config={**SERVER_CONFIG, "admin_pub_key": admin_key.public_key.hex}
        )
        admin = await make_client(server, admin_key)
        mallory = await make_client(server, mallory_key)
        session = await admin.wait_online(20)
        await mallory.wait_online(20)
        assert Role.ADMIN is session.role
        stream = mallory.events()

        await admin.ban(mallory.public_key)
        await until(
            lambda: mallory.connection_state is ConnectionState.OFFLINE, what="mallory offline"
        )
        with pytest.raises(SessionEndedError, match=r"account is banned"):
            await mallory.wait_online(1)
        with pytest.raises(SessionEndedError, match=r"account is banned"):
            await mallory.send_message(admin.public_key, "after the ban")

        forced = [event async for event in _drain(stream) if isinstance(event, ForcedOffline)]
        assert ["account_banned"] == [event.reason for event in forced]
        overview = await admin.admin_overview()
        assert {mallory.public_key} == {u.public_key for u in overview.users if u.is_banned}
        assert 1 == overview.stats.banned_users


async def _drain(stream: EventStream) -> AsyncIterator[Event]:
    """The events buffered in `stream`, ending once it stays quiet for half a second."""
    while True:
        try:
            async with asyncio.timeout(0.5):
                yield await anext(stream)
        except (TimeoutError, StopAsyncIteration):
            return
