"""Connections, transactions, retries, and the translation of driver errors.

Every statement the store runs goes through `Database.read` or `Database.write`, which
are the single boundary where asyncpg, SQLAlchemy and OS errors become `StoreError`s.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from typing import TypeVar

import asyncpg
import sqlalchemy as sa
import structlog
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from ._errors import (
    DatabaseError,
    InvalidFieldError,
    RetriesExhaustedError,
    StoreError,
    StoreUnavailableError,
)

__all__ = [
    "RETRYABLE_SQLSTATES",
    "Database",
    "asyncpg_url",
    "constraint_of",
    "sqlstate_of",
    "translate_database_error",
]

_T = TypeVar("_T")
_log = structlog.get_logger("chatview_store_pg")

RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})
"""serialization_failure and deadlock_detected: the transaction may simply be run again."""

# SQLSTATE classes meaning "the database is not there or not able right now":
# 08 connection exception, 53 insufficient resources (too many connections, disk
# full), 57 operator intervention (shutdown, cancel, cannot connect now).
_UNAVAILABLE_CLASSES = ("08", "53", "57")

_UNLOCK_ALL = sa.text("SELECT pg_advisory_unlock_all()")

_BACKOFF_BASE_SECONDS = 0.005
_BACKOFF_CAP_SECONDS = 0.5


def asyncpg_url(dsn: str) -> sa.URL:
    """Turn a ``postgresql://`` DSN into a SQLAlchemy URL for the asyncpg driver.

    Raises:
        InvalidFieldError: the DSN does not parse or names another database system.
    """
    try:
        url = sa.make_url(dsn)
    except sa_exc.ArgumentError as exc:
        msg = "database DSN does not parse; expected postgresql://user@host:port/database"
        raise InvalidFieldError(msg) from exc
    if url.drivername not in {"postgresql", "postgres", "postgresql+asyncpg"}:
        msg = f"database DSN scheme {url.drivername!r} is not supported; use postgresql://"
        raise InvalidFieldError(msg)
    return url.set(drivername="postgresql+asyncpg")


def _advisory_lock_id(public_key: str) -> int:
    """Map a public key to a signed 64-bit advisory lock id (a hash of the key).

    A collision between two keys only makes their writers queue behind each other.
    """
    digest = hashlib.blake2b(public_key.encode(), digest_size=8, person=b"chatview-lock").digest()
    return int.from_bytes(digest, "big", signed=True)


def _lock_statement(count: int) -> sa.TextClause:
    # One round trip for all locks. PostgreSQL evaluates a select list from left to
    # right, so the locks are taken in the sorted order given. Were it ever not, the
    # deadlock detector would end one waiter with 40P01, which is retried.
    calls = ", ".join(f"pg_advisory_lock(:id{index})" for index in range(count))
    return sa.text(f"SELECT {calls}")


def _lock_parameters(ids: list[int]) -> dict[str, int]:
    """Return the bind parameters of `_lock_statement` for `ids`."""
    return {f"id{index}": lock_id for index, lock_id in enumerate(ids)}


def _causes(exc: BaseException) -> list[BaseException]:
    """Return `exc` and the chain of errors below it (SQLAlchemy wraps asyncpg twice)."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        if isinstance(current, sa_exc.DBAPIError) and current.orig is not None:
            current = current.orig
        else:
            current = current.__cause__
    return chain


def sqlstate_of(exc: BaseException) -> str | None:
    """Return the PostgreSQL SQLSTATE carried by `exc` or its causes, if any."""
    for error in _causes(exc):
        code = getattr(error, "sqlstate", None)
        if isinstance(code, str) and code:
            return code
    return None


def constraint_of(exc: BaseException) -> str | None:
    """Return the name of the constraint an integrity error names, if any."""
    for error in _causes(exc):
        if isinstance(error, asyncpg.PostgresError):
            name = getattr(error, "constraint_name", None)
            if isinstance(name, str):
                return name
    return None


def translate_database_error(exc: BaseException) -> StoreError:
    """Map an error from asyncpg, SQLAlchemy or the OS to the matching StoreError."""
    if isinstance(exc, StoreError):
        return exc
    code = sqlstate_of(exc)
    if code is not None and code.startswith(_UNAVAILABLE_CLASSES):
        return StoreUnavailableError(f"PostgreSQL is unavailable (SQLSTATE {code}); retry later")
    if code is not None:
        return DatabaseError(
            f"PostgreSQL rejected a statement (SQLSTATE {code}); check that the schema is "
            "migrated to the current revision"
        )
    if isinstance(exc, sa_exc.TimeoutError):
        return StoreUnavailableError("no database connection became free in time; retry later")
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return StoreUnavailableError("the database connection was lost; retry later")
    for error in _causes(exc):
        if isinstance(error, OSError | asyncpg.InterfaceError | asyncpg.ClientConfigurationError):
            # asyncpg reports a closed connection as InterfaceError, a refused or
            # timed-out connect as OSError (TimeoutError is one).
            return StoreUnavailableError(
                f"cannot talk to PostgreSQL ({type(error).__name__}); retry later"
            )
    return DatabaseError(f"unexpected database error ({type(exc).__name__})")


_DRIVER_ERRORS = (sa_exc.SQLAlchemyError, asyncpg.PostgresError, asyncpg.InterfaceError, OSError)


class Database:
    """An engine plus the read and retrying-write transaction runners."""

    def __init__(self, engine: AsyncEngine, *, retry_limit: int) -> None:
        self.engine = engine
        self._serializable = engine.execution_options(isolation_level="SERIALIZABLE")
        self._retry_limit = retry_limit
        # Plain counters read by Store.statistics(); one event loop, so no lock.
        self.write_retries = 0
        self.writes_exhausted = 0

    @classmethod
    def connect(cls, dsn: str, *, pool_size: int, max_overflow: int, retry_limit: int) -> Database:
        """Build the engine; no connection is opened yet."""
        engine = create_async_engine(
            asyncpg_url(dsn),
            pool_size=pool_size,
            max_overflow=max_overflow,
            # A pooled connection killed by the server (restart, pg_terminate_backend)
            # is found by the ping and replaced instead of failing the next request.
            pool_pre_ping=True,
            pool_timeout=10,
        )
        return cls(engine, retry_limit=retry_limit)

    async def read(self, work: Callable[[AsyncConnection], Awaitable[_T]]) -> _T:
        """Run `work` in a READ COMMITTED transaction; translate driver errors."""
        try:
            async with self.engine.begin() as connection:
                return await work(connection)
        except _DRIVER_ERRORS as exc:
            raise translate_database_error(exc) from exc

    async def write(
        self,
        operation: str,
        work: Callable[[AsyncConnection], Awaitable[_T]],
        *,
        lock_keys: Collection[str] = (),
        precheck: Callable[[AsyncConnection], Awaitable[_T | None]] | None = None,
        retry_constraints: Collection[str] = (),
    ) -> _T:
        """Run `work` in a SERIALIZABLE transaction, retrying conflicts.

        The whole attempt, COMMIT included, is retried on SQLSTATE 40001/40P01 and on
        unique violations of `retry_constraints` (a concurrent twin committed first,
        and the next attempt's `precheck` finds its row). Retries back off
        exponentially with jitter, up to the store's retry limit.

        Args:
            lock_keys: public keys whose writers queue rather than conflict; see
                `_locked`.
            precheck: runs first on the same connection, under the locks but outside
                the transaction. When it returns something other than None, that is
                the result and `work` does not run.

        Raises:
            RetriesExhaustedError: every attempt conflicted.
            StoreError: the translated driver error, or what `work` raised.
        """
        attempt = 1
        while True:
            try:
                async with self._locked(lock_keys) as connection:
                    if precheck is not None:
                        early = await precheck(connection)
                        await connection.commit()
                        if early is not None:
                            return early
                    await connection.execution_options(isolation_level="SERIALIZABLE")
                    async with connection.begin():
                        return await work(connection)
            except _DRIVER_ERRORS as exc:
                code = sqlstate_of(exc)
                retryable = code in RETRYABLE_SQLSTATES or (
                    code == "23505" and constraint_of(exc) in retry_constraints
                )
                if not retryable:
                    raise translate_database_error(exc) from exc
                if attempt >= self._retry_limit:
                    self.writes_exhausted += 1
                    _log.warning(
                        "store.write.retries_exhausted",
                        operation=operation,
                        attempts=attempt,
                        sqlstate=code,
                    )
                    msg = (
                        f"{operation} conflicted with concurrent writes {attempt} times "
                        f"(SQLSTATE {code}); nothing was written, retry later"
                    )
                    raise RetriesExhaustedError(msg) from exc
                delay = self._backoff(attempt)
                self.write_retries += 1
                _log.debug(
                    "store.write.retried",
                    operation=operation,
                    attempt=attempt,
                    sqlstate=code,
                    delay_s=round(delay, 4),
                )
                await asyncio.sleep(delay)
                attempt += 1

    @contextlib.asynccontextmanager
    async def _locked(self, lock_keys: Collection[str]) -> AsyncIterator[AsyncConnection]:
        """Yield an autocommit connection holding advisory locks on `lock_keys`.

        Writers touching the same user all update that user's row, so under
        SERIALIZABLE all but one of them would fail with 40001 and retry. With many
        writers on one conversation they can exhaust any retry limit. Session-level
        advisory locks taken *before* the transaction starts make them wait in line
        instead, and because the transaction's snapshot is taken only after the
        locks are held, the queued transaction does not conflict. The locks are an
        optimisation: correctness still comes from SERIALIZABLE and the retries.

        Locks are taken in sorted order (no deadlock between two lockers) and released
        afterwards. When that cannot be done cleanly (cancellation, a broken
        connection) the connection is invalidated, so PostgreSQL ends the session and
        drops its locks.
        """
        ids = sorted({_advisory_lock_id(key) for key in lock_keys})
        async with self.engine.connect() as connection:
            try:
                await connection.execution_options(isolation_level="AUTOCOMMIT")
                if ids:
                    await connection.execute(_lock_statement(len(ids)), _lock_parameters(ids))
                await connection.commit()
            except BaseException:
                await connection.invalidate()
                raise
            try:
                yield connection
            except Exception:
                await self._unlock(connection, bool(ids))
                raise
            except BaseException:
                await connection.invalidate()
                raise
            else:
                await self._unlock(connection, bool(ids))

    @staticmethod
    async def _unlock(connection: AsyncConnection, locked: bool) -> None:
        try:
            await connection.rollback()
            if locked:
                await connection.execution_options(isolation_level="AUTOCOMMIT")
                await connection.execute(_UNLOCK_ALL)
                await connection.commit()
        except BaseException:
            await connection.invalidate()
            raise

    @staticmethod
    def _backoff(attempt: int) -> float:
        # "Equal jitter": half the exponential delay is fixed, half random, so
        # colliding writers spread out but none retries instantly.
        ceiling = min(_BACKOFF_CAP_SECONDS, _BACKOFF_BASE_SECONDS * (1 << (attempt - 1)))
        jitter: float = random.uniform(0, ceiling / 2)  # noqa: S311 - not for security
        return ceiling / 2 + jitter

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()
