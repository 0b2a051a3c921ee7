"""The SQLite cache: schema versions, migrations, and idempotent storing."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatview_client import (
    CacheCorruptedError,
    CacheError,
    CacheVersionError,
    ClientStateError,
    Friend,
    MessageState,
    OutboxState,
)
from chatview_client._cache import MIGRATIONS, SCHEMA_VERSION, Cache, StoreOutcome

from .strategies import EPOCH, ME, PEER, entry, server_message


def write_version_one(path: Path) -> None:
    """Write a cache file as the first schema version left it, with one message."""
    connection = sqlite3.connect(path)
    for statement in MIGRATIONS[0]:
        connection.execute(statement)
    connection.execute("INSERT INTO meta VALUES ('owner', ?)", (ME,))
    connection.execute("INSERT INTO conversations (peer, synced_seq) VALUES (?, 1)", (PEER,))
    connection.execute(
        "INSERT INTO messages (peer, server_seq, sender, receiver, text, timestamp, state) "
        "VALUES (?, 1, ?, ?, 'old', ?, 'incoming')",
        (PEER, PEER, ME, EPOCH.isoformat()),
    )
    connection.execute("PRAGMA user_version = 1")
    connection.commit()
    connection.close()


@pytest.fixture(name="cache")
async def fixture_cache(tmp_path: Path) -> AsyncIterator[Cache]:
    cache = await Cache.open(tmp_path / "cache.sqlite3", owner=ME)
    yield cache
    await cache.close()


class TestSchema:
    async def test_new_file_current(self, tmp_path: Path) -> None:
        """A new file gets the current schema version."""
        cache = await Cache.open(tmp_path / "c.sqlite3", owner=ME)
        await cache.close()

        assert (
            SCHEMA_VERSION
            == sqlite3.connect(tmp_path / "c.sqlite3").execute("PRAGMA user_version").fetchone()[0]
        )

    async def test_migrates_version_one(self, tmp_path: Path) -> None:
        """A version 1 file is migrated and keeps its data."""
        path = tmp_path / "c.sqlite3"
        write_version_one(path)

        cache = await Cache.open(path, owner=ME)
        try:
            messages = await cache.messages_before(PEER, None, 10)
            friends = await cache.friends()
        finally:
            await cache.close()

        assert ["old"] == [message.text for message in messages]
        assert [PEER] == [friend.public_key for friend in friends]

    async def test_migration_fills_activity(self, tmp_path: Path) -> None:
        """The version 2 migration sets last_activity from existing messages."""
        path = tmp_path / "c.sqlite3"
        write_version_one(path)
        await (await Cache.open(path, owner=ME)).close()

        activity = sqlite3.connect(path).execute("SELECT last_activity FROM conversations")
        assert EPOCH.isoformat() == activity.fetchone()[0]

    async def test_newer_version_refused(self, tmp_path: Path) -> None:
        """A file from a newer library is refused with a clear error."""
        path = tmp_path / "c.sqlite3"
        connection = sqlite3.connect(path)
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        connection.close()

        expected = rf"schema version {SCHEMA_VERSION + 1}, written by a newer"
        with pytest.raises(CacheVersionError, match=expected):
            await Cache.open(path, owner=ME)

    async def test_newer_version_untouched(self, tmp_path: Path) -> None:
        """Refusing a newer file leaves its version as it was."""
        path = tmp_path / "c.sqlite3"
        connection = sqlite3.connect(path)
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
        connection.close()
        with pytest.raises(CacheVersionError):
            await Cache.open(path, owner=ME)

        version = sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0]
        assert SCHEMA_VERSION + 5 == version

    async def test_not_sqlite(self, tmp_path: Path) -> None:
        """A file that is not SQLite is reported as corrupted."""
        path = tmp_path / "c.sqlite3"
        path.write_bytes(b"this is not a database at all, just text" * 100)

        with pytest.raises(CacheCorruptedError, match=r"is not a ChatView cache"):
            await Cache.open(path, owner=ME)

    async def test_other_owner(self, tmp_path: Path) -> None:
        """A cache file of another key is refused."""
        await (await Cache.open(tmp_path / "c.sqlite3", owner=ME)).close()

        with pytest.raises(CacheError, match=r"belongs to key aaaaaaaa, not bbbbbbbb"):
            await Cache.open(tmp_path / "c.sqlite3", owner=PEER)

    async def test_closed(self, cache: Cache) -> None:
        """A closed cache refuses calls."""
        await cache.close()

        assert cache.closed
        with pytest.raises(ClientStateError, match=r"is closed$"):
            await cache.friends()


class TestMessages:
    async def test_duplicate(self, cache: Cache) -> None:
        """The same seq stored twice leaves one row."""
        first = await cache.store_server_messages([server_message(1)])
        second = await cache.store_server_messages([server_message(1)])

        assert [StoreOutcome.INSERTED, StoreOutcome.DUPLICATE] == [
            first[0].outcome,
            second[0].outcome,
        ]
        assert 1 == len(await cache.messages_before(PEER, None, 10))

    async def test_pending_matched(self, cache: Cache) -> None:
        """The server's copy of an own pending message replaces it, marked sent."""
        item = entry(1)
        pending = attrs.evolve(
            server_message(1, incoming=False),
            state=MessageState.PENDING,
            server_seq=None,
            message_id=None,
            client_message_id=item.client_message_id,
        )
        await cache.add_pending(pending, item)
        stored = attrs.evolve(
            server_message(1, incoming=False), client_message_id=item.client_message_id
        )

        result = (await cache.store_server_messages([stored]))[0]

        assert (StoreOutcome.MATCHED, MessageState.PENDING) == (
            result.outcome,
            result.previous_state,
        )
        assert [] == await cache.unsent_messages(PEER)
        assert [1] == [m.server_seq for m in await cache.messages_before(PEER, None, 10)]

    async def test_complete_outbox(self, cache: Cache) -> None:
        """Completing an item removes it from the outbox and marks its message sent."""
        item = entry(1)
        pending = attrs.evolve(
            server_message(1, incoming=False),
            state=MessageState.PENDING,
            server_seq=None,
            client_message_id=item.client_message_id,
        )
        await cache.add_pending(pending, item)

        await cache.complete_outbox_entry(
            item.client_message_id,
            attrs.evolve(
                server_message(1, incoming=False), client_message_id=item.client_message_id
            ),
        )

        assert [] == await cache.outbox_entries()
        sent = await cache.message_by_client_id(item.client_message_id)
        assert sent is not None
        assert MessageState.SENT is sent.state

    async def test_outbox_roundtrip(self, cache: Cache) -> None:
        """Outbox items come back in queue order with their state."""
        for position in (2, 1):
            item = entry(position)
            message = attrs.evolve(
                server_message(position, incoming=False),
                state=MessageState.PENDING,
                server_seq=None,
                client_message_id=item.client_message_id,
            )
            await cache.add_pending(message, item)
        failed = attrs.evolve(entry(2), state=OutboxState.FAILED, attempts=3, last_error="no")
        await cache.update_outbox_entry(failed, MessageState.FAILED)

        assert [entry(1), failed] == await cache.outbox_entries()

    async def test_unread_counts_incoming(self, cache: Cache) -> None:
        """Unread counts the peer's messages above the read cursor, never own ones."""
        await cache.store_server_messages(
            [server_message(1), server_message(2, incoming=False), server_message(3)]
        )
        before = await cache.friend(PEER)
        await cache.mark_read(PEER, 1)
        after = await cache.friend(PEER)

        assert (2, 1) == (before.unread if before else None, after.unread if after else None)

    async def test_server_unread_kept(self, cache: Cache) -> None:
        """The server's unread count covers messages the cache does not hold."""
        await cache.upsert_friend(Friend(public_key=PEER, unread=5, last_server_seq=9))
        await cache.store_server_messages([server_message(10)])
        friend = await cache.friend(PEER)

        assert friend is not None
        assert (6, 10) == (friend.unread, friend.last_server_seq)

    async def test_read_cursor_never_back(self, cache: Cache) -> None:
        """An older read cursor leaves the newer one in place."""
        await cache.store_server_messages([server_message(1), server_message(2)])
        await cache.mark_read(PEER, 2)
        await cache.mark_read(PEER, 1)
        friend = await cache.friend(PEER)

        assert friend is not None
        assert 2 == friend.last_read_server_seq

    async def test_sync_state(self, cache: Cache) -> None:
        """The synced seq and the seqs above it are read back for the planner."""
        await cache.store_server_messages([server_message(1), server_message(4)])
        await cache.set_synced(PEER, 1)

        assert {PEER: (1, [4])} == await cache.sync_state()


class TestStoreProperties:
    @settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(st.integers(min_value=1, max_value=30), max_size=60))
    async def test_any_order_once(self, tmp_path: Path, seqs: list[int]) -> None:
        """Storing seqs in any order, with repeats, leaves exactly one row per seq."""
        path = tmp_path / f"c-{len(seqs)}-{hash(tuple(seqs))}.sqlite3"
        path.unlink(missing_ok=True)
        cache = await Cache.open(path, owner=ME)
        try:
            for seq in seqs:
                await cache.store_server_messages([server_message(seq)])
            rows = await cache.messages_before(PEER, None, 100)
        finally:
            await cache.close()
            path.unlink(missing_ok=True)

        assert sorted(set(seqs), reverse=True) == [row.server_seq for row in rows]
