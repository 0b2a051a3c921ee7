"""The local cache: one SQLite file per identity, through aiosqlite.

It stores what the state machines decided; it decides nothing itself except what SQLite
constraints enforce: one row per (conversation, server_seq) and per client_message_id,
so storing the same server message twice, from an event and from a history page, leaves
one row whatever the order.

Schema versions live in ``PRAGMA user_version``. `SCHEMA_VERSION` is the version this
code writes; opening a file migrates it up step by step inside one transaction, and a
file with a higher version (written by a newer library) is refused with
`CacheVersionError` rather than misread.
"""

from __future__ import annotations

import asyncio
import enum
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import aiosqlite
import attrs
import structlog

from ._errors import CacheCorruptedError, CacheError, CacheVersionError, ClientStateError
from ._values import Friend, Message, MessageState, OutboxEntry, OutboxState

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "Cache", "StoreOutcome", "StoreResult"]

_log = structlog.get_logger(__name__)

MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    # Version 1: the first schema.
    (
        """CREATE TABLE meta (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        )""",
        """CREATE TABLE conversations (
            peer TEXT PRIMARY KEY,
            alias TEXT NOT NULL DEFAULT '',
            added INTEGER NOT NULL DEFAULT 0,
            is_online INTEGER NOT NULL DEFAULT 0,
            -- unread as the server counted it, covering seqs up to server_unread_seq
            server_unread INTEGER NOT NULL DEFAULT 0,
            server_unread_seq INTEGER NOT NULL DEFAULT 0,
            last_read_seq INTEGER NOT NULL DEFAULT 0,
            last_server_seq INTEGER NOT NULL DEFAULT 0,
            -- every seq from where this device started up to synced_seq is cached
            synced_seq INTEGER NOT NULL DEFAULT 0
        )""",
        """CREATE TABLE messages (
            local_id INTEGER PRIMARY KEY AUTOINCREMENT,
            peer TEXT NOT NULL,
            server_seq INTEGER,
            message_id TEXT,
            client_message_id TEXT UNIQUE,
            sender TEXT NOT NULL,
            receiver TEXT NOT NULL,
            text TEXT NOT NULL,
            timestamp TEXT NOT NULL,
            state TEXT NOT NULL,
            error TEXT,
            UNIQUE (peer, server_seq)
        )""",
        """CREATE TABLE outbox (
            client_message_id TEXT PRIMARY KEY,
            position INTEGER NOT NULL UNIQUE,
            peer TEXT NOT NULL,
            text TEXT NOT NULL,
            created_at TEXT NOT NULL,
            state TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT
        )""",
    ),
    # Version 2: order contacts by activity, and find unsent messages without a scan.
    (
        "ALTER TABLE conversations ADD COLUMN last_activity TEXT NOT NULL DEFAULT ''",
        """UPDATE conversations SET last_activity = COALESCE(
            (SELECT MAX(timestamp) FROM messages WHERE messages.peer = conversations.peer), ''
        )""",
        "CREATE INDEX messages_unsent ON messages (peer, local_id) WHERE server_seq IS NULL",
    ),
    # Version 3: end-to-end sealed messages. The cache keeps their plaintext (or the
    # undecryptable mark), whether a peer reads sealed bodies, and the sealed bytes of
    # queued items, so every retry sends the same bytes.
    (
        "ALTER TABLE conversations ADD COLUMN supports_sealed INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE messages ADD COLUMN encrypted INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE messages ADD COLUMN undecryptable INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE outbox ADD COLUMN sealed_body BLOB",
    ),
)
"""Statements that take a file from version ``n`` to ``n + 1``, at index ``n``."""

SCHEMA_VERSION: Final = len(MIGRATIONS)

_MESSAGE_COLUMNS: Final = (
    "peer, server_seq, message_id, client_message_id, sender, receiver, text, timestamp, "
    "state, error, encrypted, undecryptable"
)
_MESSAGE_PLACEHOLDERS: Final = ", ".join("?" * len(_MESSAGE_COLUMNS.split(",")))


class StoreOutcome(enum.Enum):
    """The effect of storing one server message."""

    INSERTED = "inserted"
    """A new row: the message is new on this device."""
    MATCHED = "matched"
    """It was this device's own pending or failed message, now marked sent."""
    DUPLICATE = "duplicate"
    """Already held; nothing changed."""


@attrs.frozen
class StoreResult:
    """The outcome of storing one server message, and the row as it now is."""

    outcome: StoreOutcome
    message: Message
    previous_state: MessageState | None = None


def _timestamp_text(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _parse_timestamp(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return datetime.fromtimestamp(0, UTC)


def _message_from_row(row: sqlite3.Row | aiosqlite.Row) -> Message:
    return Message(
        peer=row["peer"],
        sender=row["sender"],
        receiver=row["receiver"],
        text=row["text"],
        timestamp=_parse_timestamp(row["timestamp"]),
        state=MessageState(row["state"]),
        server_seq=row["server_seq"],
        message_id=row["message_id"],
        client_message_id=row["client_message_id"],
        error=row["error"],
        encrypted=bool(row["encrypted"]),
        undecryptable=bool(row["undecryptable"]),
    )


def _message_values(message: Message) -> tuple[Any, ...]:
    return (
        message.peer,
        message.server_seq,
        message.message_id,
        message.client_message_id,
        message.sender,
        message.receiver,
        message.text,
        _timestamp_text(message.timestamp),
        message.state.value,
        message.error,
        int(message.encrypted),
        int(message.undecryptable),
    )


def _entry_from_row(row: aiosqlite.Row) -> OutboxEntry:
    return OutboxEntry(
        client_message_id=row["client_message_id"],
        peer=row["peer"],
        text=row["text"],
        created_at=_parse_timestamp(row["created_at"]),
        state=OutboxState(row["state"]),
        attempts=row["attempts"],
        last_error=row["last_error"],
        position=row["position"],
        sealed_body=row["sealed_body"],
    )


# Unread: the server's count up to the seq it covered, plus incoming messages cached
# above both that seq and the read cursor. Own messages never count.
_FRIEND_QUERY: Final = """
    SELECT c.*,
        c.server_unread + (
            SELECT COUNT(*) FROM messages m
            WHERE m.peer = c.peer AND m.state = 'incoming'
              AND m.server_seq > MAX(c.server_unread_seq, c.last_read_seq)
        ) AS unread,
        MAX(c.last_server_seq, COALESCE(
            (SELECT MAX(server_seq) FROM messages m WHERE m.peer = c.peer), 0
        )) AS newest
    FROM conversations c
"""


class Cache:
    """One identity's cache file. Open with `Cache.open`; close with `close`.

    Every method serializes on one lock, so concurrent tasks never interleave inside a
    transaction. Not for use from several event loops or processes at once.
    """

    def __init__(self, connection: aiosqlite.Connection, path: Path) -> None:
        """Wrap an open connection; use `Cache.open` instead."""
        self._db: aiosqlite.Connection | None = connection
        self._path = path
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: str | Path, *, owner: str) -> Cache:
        """Open (creating if needed) and migrate the cache file of `owner`.

        Args:
            path: the SQLite file; missing folders are created.
            owner: the identity's canonical public key, recorded in the file and
                checked on every later open.

        Raises:
            CacheVersionError: the file has a newer schema than this library reads.
            CacheCorruptedError: the file is not a SQLite database.
            CacheError: the file belongs to another identity.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        connection = await aiosqlite.connect(path, isolation_level=None)
        cache = cls(connection, path)
        try:
            connection.row_factory = aiosqlite.Row
            await cache._prepare(owner)
        except BaseException:
            await connection.close()
            raise
        return cache

    async def _prepare(self, owner: str) -> None:
        db = self._require()
        try:
            await db.execute("PRAGMA journal_mode = WAL")
            await db.execute("PRAGMA synchronous = NORMAL")
            version = await self._user_version()
        except sqlite3.DatabaseError as exc:
            msg = (
                f"cache file {str(self._path)!r} is not a ChatView cache ({exc}); move it "
                "away and the client rebuilds it from the server"
            )
            raise CacheCorruptedError(msg) from exc

        if version > SCHEMA_VERSION:
            msg = (
                f"cache file {str(self._path)!r} has schema version {version}, written by "
                f"a newer chatview-client-core; this version reads up to {SCHEMA_VERSION}. "
                "Upgrade chatview-client-core, or use another data_dir"
            )
            raise CacheVersionError(msg)
        if version < SCHEMA_VERSION:
            await self._migrate(version)

        stored_owner = await self.get_meta("owner")
        if stored_owner is None:
            await self.set_meta("owner", owner)
        elif stored_owner != owner:
            msg = (
                f"cache file {str(self._path)!r} belongs to key {stored_owner[:8]}, not "
                f"{owner[:8]}; each identity needs its own cache file"
            )
            raise CacheError(msg)

    async def _user_version(self) -> int:
        db = self._require()
        async with db.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row is not None else 0

    async def _migrate(self, version: int) -> None:
        db = self._require()
        await db.execute("BEGIN IMMEDIATE")
        try:
            for target in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[target]:
                    await db.execute(statement)
                _log.info("cache.migrated", path=str(self._path), version=target + 1)
            # PRAGMA takes no parameters; the value is our own integer.
            await db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            await db.execute("COMMIT")
        except BaseException:
            await db.execute("ROLLBACK")
            raise

    @property
    def path(self) -> Path:
        """The SQLite file."""
        return self._path

    @property
    def closed(self) -> bool:
        """Whether `close` ran."""
        return self._db is None

    async def close(self) -> None:
        """Close the file; later calls raise `ClientStateError`. Idempotent."""
        db, self._db = self._db, None
        if db is not None:
            await db.close()

    def _require(self) -> aiosqlite.Connection:
        if self._db is None:
            msg = f"cache {str(self._path)!r} is closed"
            raise ClientStateError(msg)
        return self._db

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            db = self._require()
            await db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                await db.execute("ROLLBACK")
                raise
            await db.execute("COMMIT")

    async def _fetchall(self, query: str, params: Sequence[Any] = ()) -> list[aiosqlite.Row]:
        async with self._lock, self._require().execute(query, params) as cursor:
            return list(await cursor.fetchall())

    # --- meta ---------------------------------------------------------------------

    async def get_meta(self, key: str) -> str | None:
        """Return a stored setting, or None."""
        rows = await self._fetchall("SELECT value FROM meta WHERE key = ?", (key,))
        return str(rows[0]["value"]) if rows else None

    async def set_meta(self, key: str, value: str) -> None:
        """Store a setting."""
        async with self._transaction() as db:
            await db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # --- conversations --------------------------------------------------------------

    async def upsert_friend(self, friend: Friend) -> None:
        """Store a contact as ListFriends reports it (server counters included)."""
        async with self._transaction() as db:
            await db.execute(
                """INSERT INTO conversations (peer, alias, added, is_online, server_unread,
                    server_unread_seq, last_read_seq, last_server_seq, supports_sealed)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (peer) DO UPDATE SET
                    alias = excluded.alias, added = excluded.added,
                    is_online = excluded.is_online,
                    server_unread = excluded.server_unread,
                    server_unread_seq = excluded.server_unread_seq,
                    last_read_seq = MAX(last_read_seq, excluded.last_read_seq),
                    last_server_seq = MAX(last_server_seq, excluded.last_server_seq),
                    -- never cleared: a server cannot silently turn sealing off again
                    supports_sealed = MAX(supports_sealed, excluded.supports_sealed)""",
                (
                    friend.public_key,
                    friend.alias,
                    int(friend.added),
                    int(friend.is_online),
                    friend.unread,
                    friend.last_server_seq,
                    friend.last_read_server_seq,
                    friend.last_server_seq,
                    int(friend.supports_sealed),
                ),
            )

    async def add_contact(self, peer: str, alias: str) -> None:
        """Record a contact this user just added."""
        async with self._transaction() as db:
            await db.execute(
                """INSERT INTO conversations (peer, alias, added) VALUES (?, ?, 1)
                ON CONFLICT (peer) DO UPDATE SET alias = excluded.alias, added = 1""",
                (peer, alias),
            )

    async def apply_change(
        self, peer: str, *, last_server_seq: int, last_read_seq: int, unread: int
    ) -> None:
        """Store a conversation's counters from ListChangedConversations."""
        async with self._transaction() as db:
            await db.execute(
                """INSERT INTO conversations (peer, server_unread, server_unread_seq,
                    last_read_seq, last_server_seq) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (peer) DO UPDATE SET
                    server_unread = excluded.server_unread,
                    server_unread_seq = excluded.server_unread_seq,
                    last_read_seq = MAX(last_read_seq, excluded.last_read_seq),
                    last_server_seq = MAX(last_server_seq, excluded.last_server_seq)""",
                (peer, unread, last_server_seq, last_read_seq, last_server_seq),
            )

    async def set_online(self, peer: str, online: bool) -> None:
        """Record a contact's presence."""
        async with self._transaction() as db:
            await db.execute(
                "UPDATE conversations SET is_online = ? WHERE peer = ?", (int(online), peer)
            )

    async def mark_read(self, peer: str, seq: int) -> None:
        """Move the read cursor forward to `seq` (never back)."""
        # XXX: a cursor below the server's counted range keeps the server's unread count
        # until the next catch-up corrects it (see TestMessages.test_unread_counts_incoming).
        async with self._transaction() as db:
            await db.execute(
                """UPDATE conversations SET
                    last_read_seq = MAX(last_read_seq, ?),
                    server_unread = CASE WHEN ? >= server_unread_seq THEN 0
                        ELSE server_unread END,
                    server_unread_seq = MAX(server_unread_seq, ?)
                WHERE peer = ?""",
                (seq, seq, seq, peer),
            )

    async def set_synced(self, peer: str, seq: int) -> None:
        """Record that the conversation is complete up to `seq`."""
        async with self._transaction() as db:
            await self._ensure_conversation(db, peer)
            await db.execute(
                "UPDATE conversations SET synced_seq = MAX(synced_seq, ?) WHERE peer = ?",
                (seq, peer),
            )

    async def sync_state(self) -> dict[str, tuple[int, list[int]]]:
        """Per conversation: its synced seq and the seqs cached above it."""
        rows = await self._fetchall(
            """SELECT c.peer, c.synced_seq, m.server_seq FROM conversations c
            LEFT JOIN messages m ON m.peer = c.peer AND m.server_seq > c.synced_seq"""
        )
        state: dict[str, tuple[int, list[int]]] = {}
        for row in rows:
            _, above = state.setdefault(row["peer"], (row["synced_seq"], []))
            if row["server_seq"] is not None:
                above.append(row["server_seq"])
        return state

    async def friends(self) -> list[Friend]:
        """Every contact and every peer with messages, most recently active first."""
        rows = await self._fetchall(
            _FRIEND_QUERY + " ORDER BY c.last_activity DESC, c.added DESC, c.peer"
        )
        return [await self._friend_from_row(row) for row in rows]

    async def friend(self, peer: str) -> Friend | None:
        """One contact, or None when the cache has never seen the key."""
        rows = await self._fetchall(_FRIEND_QUERY + " WHERE c.peer = ?", (peer,))
        return await self._friend_from_row(rows[0]) if rows else None

    async def _friend_from_row(self, row: aiosqlite.Row) -> Friend:
        last = await self._fetchall(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE peer = ? "  # noqa: S608 - constant column list
            "ORDER BY server_seq IS NULL DESC, server_seq DESC, local_id DESC LIMIT 1",
            (row["peer"],),
        )
        return Friend(
            public_key=row["peer"],
            alias=row["alias"],
            added=bool(row["added"]),
            is_online=bool(row["is_online"]),
            unread=int(row["unread"]),
            last_server_seq=int(row["newest"]),
            last_read_server_seq=int(row["last_read_seq"]),
            last_message=_message_from_row(last[0]) if last else None,
            supports_sealed=bool(row["supports_sealed"]),
        )

    @staticmethod
    async def _ensure_conversation(db: aiosqlite.Connection, peer: str) -> None:
        await db.execute("INSERT OR IGNORE INTO conversations (peer) VALUES (?)", (peer,))

    @staticmethod
    async def _touch(db: aiosqlite.Connection, peer: str, timestamp: datetime) -> None:
        await db.execute(
            "UPDATE conversations SET last_activity = MAX(last_activity, ?) WHERE peer = ?",
            (_timestamp_text(timestamp), peer),
        )

    # --- messages --------------------------------------------------------------------

    async def add_pending(self, message: Message, entry: OutboxEntry) -> None:
        """Store a message just written and its outbox item, in one transaction."""
        async with self._transaction() as db:
            await self._ensure_conversation(db, message.peer)
            await db.execute(
                f"INSERT INTO messages ({_MESSAGE_COLUMNS}) VALUES ({_MESSAGE_PLACEHOLDERS})",  # noqa: S608 - constant column list
                _message_values(message),
            )
            await self._save_entry(db, entry)
            await self._touch(db, message.peer, message.timestamp)

    async def store_server_messages(self, messages: Iterable[Message]) -> list[StoreResult]:
        """Store messages the server returned, in one transaction; see `StoreOutcome`."""
        results = []
        async with self._transaction() as db:
            for message in messages:
                results.append(await self._store_one(db, message))
        return results

    async def _store_one(self, db: aiosqlite.Connection, message: Message) -> StoreResult:
        if message.server_seq is None:
            msg = "a server message must have a server_seq"
            raise ValueError(msg)
        await self._ensure_conversation(db, message.peer)

        # 1. Already held under its seq: nothing to do.
        async with db.execute(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE peer = ? AND server_seq = ?",  # noqa: S608 - constant column list
            (message.peer, message.server_seq),
        ) as cursor:
            existing = await cursor.fetchone()
        if existing is not None:
            if message.client_message_id:
                # A copy of it that this device still shows as unsent is now redundant.
                await db.execute(
                    "DELETE FROM messages WHERE client_message_id = ? AND server_seq IS NULL",
                    (message.client_message_id,),
                )
            return StoreResult(StoreOutcome.DUPLICATE, _message_from_row(existing))

        # 2. This device's own unsent copy: give it the server's seq.
        if message.client_message_id:
            async with db.execute(
                "SELECT state FROM messages WHERE client_message_id = ? AND server_seq IS NULL",
                (message.client_message_id,),
            ) as cursor:
                pending = await cursor.fetchone()
            if pending is not None:
                await db.execute(
                    """UPDATE messages SET server_seq = ?, message_id = ?, timestamp = ?,
                        state = ?, error = NULL WHERE client_message_id = ?""",
                    (
                        message.server_seq,
                        message.message_id,
                        _timestamp_text(message.timestamp),
                        MessageState.SENT.value,
                        message.client_message_id,
                    ),
                )
                await self._touch(db, message.peer, message.timestamp)
                stored = attrs.evolve(message, state=MessageState.SENT, error=None)
                return StoreResult(StoreOutcome.MATCHED, stored, MessageState(pending["state"]))

        # 3. New here. A client_message_id already used by another row would mean the
        # server reused it for a different seq; keep the row and drop the key.
        cursor = await db.execute(
            f"INSERT OR IGNORE INTO messages ({_MESSAGE_COLUMNS}) "  # noqa: S608 - constant column list
            f"VALUES ({_MESSAGE_PLACEHOLDERS})",
            _message_values(message),
        )
        if cursor.rowcount == 0:
            message = attrs.evolve(message, client_message_id=None)
            await db.execute(
                f"INSERT INTO messages ({_MESSAGE_COLUMNS}) VALUES ({_MESSAGE_PLACEHOLDERS})",  # noqa: S608 - constant column list
                _message_values(message),
            )
        await self._touch(db, message.peer, message.timestamp)
        return StoreResult(StoreOutcome.INSERTED, message)

    async def messages_before(self, peer: str, before: int | None, limit: int) -> list[Message]:
        """Up to `limit` stored messages with seq below `before` (None: the newest),
        newest first."""
        if before is None:
            rows = await self._fetchall(
                f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE peer = ? "  # noqa: S608 - constant column list
                "AND server_seq IS NOT NULL ORDER BY server_seq DESC LIMIT ?",
                (peer, limit),
            )
        else:
            rows = await self._fetchall(
                f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE peer = ? "  # noqa: S608 - constant column list
                "AND server_seq < ? ORDER BY server_seq DESC LIMIT ?",
                (peer, before, limit),
            )
        return [_message_from_row(row) for row in rows]

    async def unsent_messages(self, peer: str) -> list[Message]:
        """This device's pending and failed messages in the conversation, oldest first."""
        rows = await self._fetchall(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE peer = ? "  # noqa: S608 - constant column list
            "AND server_seq IS NULL ORDER BY local_id",
            (peer,),
        )
        return [_message_from_row(row) for row in rows]

    async def message_by_client_id(self, client_message_id: str) -> Message | None:
        """The row with this client_message_id, or None."""
        rows = await self._fetchall(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE client_message_id = ?",  # noqa: S608 - constant column list
            (client_message_id,),
        )
        return _message_from_row(rows[0]) if rows else None

    async def newest_seq(self, peer: str) -> int:
        """The highest seq cached for the conversation; 0 when none."""
        rows = await self._fetchall(
            "SELECT COALESCE(MAX(server_seq), 0) AS seq FROM messages WHERE peer = ?", (peer,)
        )
        return int(rows[0]["seq"])

    # --- outbox ----------------------------------------------------------------------

    async def outbox_entries(self) -> list[OutboxEntry]:
        """Every outbox item, in queue order."""
        rows = await self._fetchall("SELECT * FROM outbox ORDER BY position")
        return [_entry_from_row(row) for row in rows]

    @staticmethod
    async def _save_entry(db: aiosqlite.Connection, entry: OutboxEntry) -> None:
        await db.execute(
            """INSERT INTO outbox (client_message_id, position, peer, text, created_at, state,
                attempts, last_error, sealed_body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (client_message_id) DO UPDATE SET state = excluded.state,
                attempts = excluded.attempts, last_error = excluded.last_error""",
            (
                entry.client_message_id,
                entry.position,
                entry.peer,
                entry.text,
                _timestamp_text(entry.created_at),
                entry.state.value,
                entry.attempts,
                entry.last_error,
                entry.sealed_body,
            ),
        )

    async def update_outbox_entry(
        self, entry: OutboxEntry, message_state: MessageState | None = None
    ) -> Message | None:
        """Store an item's new state and, when given, its message's new state.

        Returns:
            The message row after the change, when `message_state` was given and the
            row exists.
        """
        async with self._transaction() as db:
            await self._save_entry(db, entry)
            if message_state is None:
                return None
            await db.execute(
                "UPDATE messages SET state = ?, error = ? "
                "WHERE client_message_id = ? AND server_seq IS NULL",
                (
                    message_state.value,
                    entry.last_error if message_state is MessageState.FAILED else None,
                    entry.client_message_id,
                ),
            )
            async with db.execute(
                f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE client_message_id = ?",  # noqa: S608 - constant column list
                (entry.client_message_id,),
            ) as cursor:
                row = await cursor.fetchone()
        return _message_from_row(row) if row is not None else None

    async def complete_outbox_entry(self, client_message_id: str, sent: Message) -> StoreResult:
        """The server stored an item: drop it from the outbox and record the sent message."""
        async with self._transaction() as db:
            await db.execute("DELETE FROM outbox WHERE client_message_id = ?", (client_message_id,))
            return await self._store_one(db, sent)

    async def discard_outbox_entry(self, client_message_id: str) -> None:
        """Drop an item and its unsent message row."""
        async with self._transaction() as db:
            await db.execute("DELETE FROM outbox WHERE client_message_id = ?", (client_message_id,))
            await db.execute(
                "DELETE FROM messages WHERE client_message_id = ? AND server_seq IS NULL",
                (client_message_id,),
            )
