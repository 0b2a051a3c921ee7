"""The shared presence ledger and payload store, in PostgreSQL.

Tables (created if missing, under a transaction-level advisory lock so that several
processes starting at once do not race on the catalog):

``hub_processes(process_id, started_at, last_seen)``
    One row per live server process; ``last_seen`` is its heartbeat, on the
    database's clock so that the processes' clocks do not matter.
``hub_presence(process_id, user_key, since)``
    One row per user online in a process; the foreign key makes a row for a process
    already declared dead fail to insert.
``hub_users(user_key, processes, version)``
    Per user, the number of processes where it is online, and a version from the
    sequence ``hub_presence_version`` bumped on every change.
``hub_payloads(payload_id, body, created_at)``
    Messages too large for the transport, read back by id, deleted after a while.

Invariants:

1. ``hub_users.processes`` equals the number of ``hub_presence`` rows of the user.
   Both change in the same transaction, and the counter row is changed with an
   atomic upsert or update, which PostgreSQL serializes per user.
2. A user's global transitions are exactly the counter's moves between 0 and 1 or
   more, so they strictly alternate, and each one is seen by exactly one
   transaction: the one that moved the counter. That transaction's process reports it.
3. Versions of one user grow in commit order, because the transactions that change
   a user wait for each other on its counter row.
4. Rows of ``hub_users`` stay at zero instead of being deleted, so a snapshot carries
   the latest version of every user and a stale message can always be recognised.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, final

import attrs

if TYPE_CHECKING:
    import asyncpg
    from asyncpg.pool import PoolConnectionProxy

    Db = PoolConnectionProxy[asyncpg.Record]

__all__ = ["InTransaction", "Ledger", "ProcessReapedError", "Transition", "plain_dsn"]

_SCHEMA_LOCK = "chatview_hub.schema"

_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS hub_processes (
        process_id text PRIMARY KEY,
        started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        last_seen timestamptz NOT NULL DEFAULT clock_timestamp()
    )
    """,
    "CREATE INDEX IF NOT EXISTS hub_processes_last_seen ON hub_processes (last_seen)",
    """
    CREATE TABLE IF NOT EXISTS hub_presence (
        process_id text NOT NULL REFERENCES hub_processes (process_id),
        user_key text NOT NULL,
        since timestamptz NOT NULL DEFAULT clock_timestamp(),
        PRIMARY KEY (process_id, user_key)
    )
    """,
    "CREATE SEQUENCE IF NOT EXISTS hub_presence_version",
    """
    CREATE TABLE IF NOT EXISTS hub_users (
        user_key text PRIMARY KEY,
        processes integer NOT NULL,
        version bigint NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS hub_payloads (
        payload_id bigserial PRIMARY KEY,
        body bytea NOT NULL,
        created_at timestamptz NOT NULL DEFAULT clock_timestamp()
    )
    """,
)

# Rows are inserted and counters locked in user order, which makes deadlocks between
# two processes' batches rare; the ones left are retried like serialization failures.
_ADD = """
WITH added AS (
    INSERT INTO hub_presence (process_id, user_key)
    SELECT $1, user_key FROM unnest($2::text[]) AS user_key ORDER BY user_key
    ON CONFLICT DO NOTHING
    RETURNING user_key
)
INSERT INTO hub_users AS counter (user_key, processes, version)
SELECT user_key, 1, nextval('hub_presence_version') FROM added ORDER BY user_key
ON CONFLICT (user_key) DO UPDATE
    SET processes = counter.processes + 1, version = EXCLUDED.version
RETURNING user_key, processes, version
"""

_REMOVE = """
WITH removed AS (
    DELETE FROM hub_presence
    WHERE process_id = ANY($1::text[]) AND ($2::text[] IS NULL OR user_key = ANY($2::text[]))
    RETURNING user_key
), counted AS (
    SELECT user_key, count(*) AS rows FROM removed GROUP BY user_key
)
UPDATE hub_users AS counter
SET processes = greatest(counter.processes - counted.rows, 0),
    version = nextval('hub_presence_version')
FROM counted
WHERE counter.user_key = counted.user_key
RETURNING counter.user_key, counter.processes, counter.version
"""


def plain_dsn(dsn: str) -> str:
    """Drop a SQLAlchemy driver suffix (``postgresql+asyncpg://``), which asyncpg rejects."""
    scheme, separator, rest = dsn.partition("://")
    if not separator:
        return dsn
    return scheme.split("+", 1)[0] + separator + rest


class ProcessReapedError(Exception):
    """This process's row is gone: another process declared it dead.

    Its presence rows went with it, so it must register again and re-add its users.
    """


@attrs.frozen
class Transition:
    """A user's global presence change, as committed to the ledger."""

    user: str
    online: bool
    version: int


# Called inside the transaction that made the transitions, before its commit, so a
# transport that can (PostgreSQL NOTIFY) sends them atomically with the change.
InTransaction = Callable[["Db", list[Transition]], Awaitable[None]]


@final
class Ledger:
    """Presence rows, heartbeats and stored payloads of every process, over a pool."""

    def __init__(self, pool: asyncpg.Pool[asyncpg.Record]) -> None:
        self._pool = pool

    async def create_tables(self) -> None:
        """Create the tables and the sequence if missing."""
        async with self._pool.acquire() as db, db.transaction():
            await db.execute("SELECT pg_advisory_xact_lock(hashtext($1))", _SCHEMA_LOCK)
            for statement in _SCHEMA:
                await db.execute(statement)

    # -- processes --------------------------------------------------------------------

    async def register(self, process_id: str) -> None:
        """Insert this process's row, or refresh it."""
        await self._pool.execute(
            """
            INSERT INTO hub_processes (process_id) VALUES ($1)
            ON CONFLICT (process_id) DO UPDATE SET last_seen = clock_timestamp()
            """,
            process_id,
        )

    async def heartbeat(self, process_id: str) -> None:
        """Refresh this process's ``last_seen``.

        Raises:
            ProcessReapedError: The row is gone; the process was declared dead.
        """
        status = await self._pool.execute(
            "UPDATE hub_processes SET last_seen = clock_timestamp() WHERE process_id = $1",
            process_id,
        )
        if status == "UPDATE 0":
            raise ProcessReapedError(process_id)

    async def reap(
        self, process_id: str, heal_interval: float, in_transaction: InTransaction | None
    ) -> tuple[list[str], list[Transition]]:
        """Remove every other process silent for longer than ``heal_interval`` seconds.

        Returns:
            The dead processes' ids, and the users who went offline with them.
        """
        async with self._pool.acquire() as db, db.transaction():
            # Locked, so a dead process that comes back waits, then finds its row gone;
            # skipped if locked, so two reapers never wait for each other.
            rows = await db.fetch(
                """
                SELECT process_id FROM hub_processes
                WHERE last_seen < clock_timestamp() - make_interval(secs => $1)
                    AND process_id <> $2
                FOR UPDATE SKIP LOCKED
                """,
                heal_interval,
                process_id,
            )
            dead = [row["process_id"] for row in rows]
            if not dead:
                return [], []
            transitions = await self._remove(db, dead, None, in_transaction)
            await db.execute("DELETE FROM hub_processes WHERE process_id = ANY($1::text[])", dead)
        return dead, transitions

    async def unregister(
        self, process_id: str, in_transaction: InTransaction | None
    ) -> list[Transition]:
        """Remove this process and all its presence rows, as at a clean stop.

        Returns:
            The users who went offline with it.
        """
        async with self._pool.acquire() as db, db.transaction():
            transitions = await self._remove(db, [process_id], None, in_transaction)
            await db.execute("DELETE FROM hub_processes WHERE process_id = $1", process_id)
        return transitions

    # -- presence ---------------------------------------------------------------------

    async def update(
        self,
        process_id: str,
        add: Sequence[str],
        remove: Sequence[str],
        in_transaction: InTransaction | None,
    ) -> list[Transition]:
        """Mark ``add`` online and ``remove`` offline in this process, in one transaction.

        Returns:
            The global transitions this made, in the order they were committed.

        Raises:
            ProcessReapedError: This process was declared dead; nothing changed.
        """
        import asyncpg

        try:
            async with self._pool.acquire() as db, db.transaction():
                transitions: list[Transition] = []
                if add:
                    rows = await db.fetch(_ADD, process_id, sorted(add))
                    transitions += [
                        Transition(row["user_key"], True, row["version"])
                        for row in rows
                        if row["processes"] == 1
                    ]
                if remove:
                    transitions += await self._remove(db, [process_id], sorted(remove), None)
                if transitions and in_transaction is not None:
                    await in_transaction(db, transitions)
        except asyncpg.ForeignKeyViolationError:
            raise ProcessReapedError(process_id) from None
        return transitions

    async def snapshot(self) -> list[tuple[str, bool, int]]:
        """Return every user's (user, online anywhere, version)."""
        rows = await self._pool.fetch("SELECT user_key, processes, version FROM hub_users")
        return [(row["user_key"], row["processes"] > 0, row["version"]) for row in rows]

    async def _remove(
        self,
        db: Db,
        processes: list[str],
        users: list[str] | None,
        in_transaction: InTransaction | None,
    ) -> list[Transition]:
        rows = await db.fetch(_REMOVE, processes, users)
        transitions = [
            Transition(row["user_key"], False, row["version"])
            for row in sorted(rows, key=_by_version)
            if row["processes"] == 0
        ]
        if transitions and in_transaction is not None:
            await in_transaction(db, transitions)
        return transitions

    # -- large payloads ---------------------------------------------------------------

    async def store_payload(self, body: bytes) -> int:
        """Store a message too large for the transport; return its id."""
        payload_id: int = await self._pool.fetchval(
            "INSERT INTO hub_payloads (body) VALUES ($1) RETURNING payload_id", body
        )
        return payload_id

    async def fetch_payload(self, payload_id: int) -> bytes | None:
        """Return a stored message, or None if it was deleted already."""
        body: bytes | None = await self._pool.fetchval(
            "SELECT body FROM hub_payloads WHERE payload_id = $1", payload_id
        )
        return body

    async def prune_payloads(self, retention: float) -> int:
        """Delete stored messages older than ``retention`` seconds; return how many."""
        status = await self._pool.execute(
            """
            DELETE FROM hub_payloads
            WHERE created_at < clock_timestamp() - make_interval(secs => $1)
            """,
            retention,
        )
        return int(status.rsplit(" ", 1)[-1])


def _by_version(row: Any) -> int:
    version: int = row["version"]
    return version
