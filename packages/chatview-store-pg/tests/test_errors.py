"""Driver errors are translated at the boundary, and conflicts are retried."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection

from chatview_store_pg import (
    DatabaseError,
    RetriesExhaustedError,
    StoreError,
    StoreUnavailableError,
    open_store,
)
from chatview_store_pg._engine import Database, sqlstate_of, translate_database_error
from chatview_store_pg.testing import TemporaryPostgres


def _wrapped(error: Exception) -> sa_exc.DBAPIError:
    """Wrap a driver error the way SQLAlchemy's asyncpg dialect does."""
    return sa_exc.DBAPIError("SELECT 1", {}, error)


UNAVAILABLE_ERRORS: list[Exception] = [
    asyncpg.exceptions.ConnectionDoesNotExistError("gone"),  # 08003
    asyncpg.exceptions.ConnectionFailureError("failed"),  # 08006
    asyncpg.exceptions.CannotConnectNowError("starting up"),  # 57P03
    asyncpg.exceptions.AdminShutdownError("terminating connection"),  # 57P01
    asyncpg.exceptions.CrashShutdownError("crash"),  # 57P02
    asyncpg.exceptions.QueryCanceledError("statement timeout"),  # 57014
    asyncpg.exceptions.TooManyConnectionsError("too many"),  # 53300
    asyncpg.exceptions.DiskFullError("disk full"),  # 53100
    asyncpg.exceptions.InterfaceError("connection is closed"),
    ConnectionRefusedError(111, "Connection refused"),
    TimeoutError("connect timed out"),
    OSError(113, "No route to host"),
]

DATABASE_ERRORS: list[Exception] = [
    asyncpg.exceptions.UndefinedTableError("relation users does not exist"),  # 42P01
    asyncpg.exceptions.UndefinedColumnError("column missing"),  # 42703
    asyncpg.exceptions.UniqueViolationError("duplicate"),  # 23505
    asyncpg.exceptions.CheckViolationError("check"),  # 23514
]


class TestTranslateDatabaseError:
    @pytest.mark.parametrize("error", UNAVAILABLE_ERRORS, ids=lambda e: type(e).__name__)
    def test_unavailable_bare(self, error: Exception) -> None:
        """Connection, resource and shutdown failures become StoreUnavailableError."""
        assert isinstance(translate_database_error(error), StoreUnavailableError)

    @pytest.mark.parametrize("error", UNAVAILABLE_ERRORS, ids=lambda e: type(e).__name__)
    def test_unavailable_wrapped(self, error: Exception) -> None:
        """The same failures wrapped by SQLAlchemy map the same way."""
        assert isinstance(translate_database_error(_wrapped(error)), StoreUnavailableError)

    @pytest.mark.parametrize("error", DATABASE_ERRORS, ids=lambda e: type(e).__name__)
    def test_other_sqlstates(self, error: Exception) -> None:
        """Any other SQLSTATE becomes DatabaseError naming the code."""
        translated = translate_database_error(_wrapped(error))

        assert isinstance(translated, DatabaseError)
        assert getattr(error, "sqlstate", "?") in str(translated)

    def test_pool_timeout(self) -> None:
        """An exhausted connection pool is unavailability, not a bug."""
        translated = translate_database_error(sa_exc.TimeoutError("QueuePool limit"))

        assert isinstance(translated, StoreUnavailableError)

    def test_invalidated_connection(self) -> None:
        """A statement on a connection SQLAlchemy marked dead is unavailability."""
        error = sa_exc.DBAPIError("SELECT 1", {}, Exception("lost"), connection_invalidated=True)

        assert isinstance(translate_database_error(error), StoreUnavailableError)

    def test_unknown_error(self) -> None:
        """An unrecognised SQLAlchemy error is a DatabaseError, never a raw exception."""
        translated = translate_database_error(sa_exc.InvalidRequestError("bad statement"))

        assert isinstance(translated, DatabaseError)

    def test_store_error_passes_through(self) -> None:
        """A StoreError raised inside a transaction is returned unchanged."""
        error = StoreUnavailableError("already translated")

        assert translate_database_error(error) is error

    @pytest.mark.parametrize(
        ("error", "code"),
        [
            (asyncpg.exceptions.SerializationError("conflict"), "40001"),
            (asyncpg.exceptions.DeadlockDetectedError("deadlock"), "40P01"),
        ],
    )
    def test_sqlstate_of_wrapped(self, error: Exception, code: str) -> None:
        """The SQLSTATE is found through SQLAlchemy's wrapper."""
        assert sqlstate_of(_wrapped(error)) == code


class TestWriteRetries:
    @pytest.mark.parametrize(
        "error",
        [
            asyncpg.exceptions.SerializationError("could not serialize access"),
            asyncpg.exceptions.DeadlockDetectedError("deadlock detected"),
        ],
        ids=["40001", "40P01"],
    )
    async def test_gives_up_after_limit(self, store_dsn: str, error: Exception) -> None:
        """A conflict on every attempt ends in RetriesExhaustedError after the limit."""
        database = Database.connect(store_dsn, pool_size=1, max_overflow=0, retry_limit=3)
        attempts = 0

        async def conflict(connection: AsyncConnection) -> None:
            nonlocal attempts
            attempts += 1
            raise _wrapped(error)

        try:
            with pytest.raises(RetriesExhaustedError, match=r"^test conflicted .* 3 times"):
                await database.write("test", conflict)
        finally:
            await database.dispose()

        assert attempts == 3

    async def test_succeeds_after_conflicts(self, store_dsn: str) -> None:
        """Two conflicts and then success returns the successful result."""
        database = Database.connect(store_dsn, pool_size=1, max_overflow=0, retry_limit=3)
        attempts = 0

        async def flaky(connection: AsyncConnection) -> int:
            nonlocal attempts
            attempts += 1
            if attempts < 3:
                raise _wrapped(asyncpg.exceptions.SerializationError("conflict"))
            return attempts

        try:
            result = await database.write("test", flaky)
        finally:
            await database.dispose()

        assert result == 3

    async def test_non_retryable_not_retried(self, store_dsn: str) -> None:
        """An error that is no conflict fails at once."""
        database = Database.connect(store_dsn, pool_size=1, max_overflow=0, retry_limit=5)
        attempts = 0

        async def broken(connection: AsyncConnection) -> None:
            nonlocal attempts
            attempts += 1
            await connection.execute(sa.text("SELECT * FROM no_such_table"))

        try:
            with pytest.raises(DatabaseError, match="42P01"):
                await database.write("test", broken)
        finally:
            await database.dispose()

        assert attempts == 1

    async def test_real_write_skew_is_retried(self, store_dsn: str) -> None:
        """A genuine SSI conflict (raised by a statement or at COMMIT) is retried to success."""
        database = Database.connect(store_dsn, pool_size=4, max_overflow=0, retry_limit=5)
        async with database.engine.begin() as setup:
            await setup.execute(sa.text("CREATE TABLE skew (id int PRIMARY KEY, on_call bool)"))
            await setup.execute(sa.text("INSERT INTO skew VALUES (1, true), (2, true)"))
        both_read = asyncio.Barrier(2)
        attempts: list[int] = []

        async def go_off_call(me: int, connection: AsyncConnection) -> None:
            attempts.append(me)
            # Each reads the other's row, then writes its own: the classic write skew
            # that SERIALIZABLE must refuse for one of the two.
            await connection.execute(sa.text("SELECT sum(id) FROM skew WHERE on_call"))
            if len(attempts) <= 2:
                await both_read.wait()
            await connection.execute(
                sa.text("UPDATE skew SET on_call = false WHERE id = :id"), {"id": me}
            )

        async def run(me: int) -> None:
            async def work(connection: AsyncConnection) -> None:
                await go_off_call(me, connection)

            await database.write("skew", work)

        try:
            await asyncio.gather(run(1), run(2))
        finally:
            await database.dispose()

        assert len(attempts) == 3


class TestUnavailableServer:
    async def test_open_refused(self) -> None:
        """Nothing listening at the DSN gives StoreUnavailableError from open_store."""
        with pytest.raises(StoreUnavailableError, match="retry later"):
            await open_store("postgresql://postgres@127.0.0.1:1/chatview")

    async def test_killed_connections_recover(self, store_dsn: str) -> None:
        """After the server kills every pooled connection, the next calls still work."""
        store = await open_store(store_dsn, pool_size=3)
        try:
            await asyncio.gather(*(store.user_counts() for _ in range(3)))
            killer = await asyncpg.connect(store_dsn)
            try:
                await killer.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            finally:
                await killer.close()

            counts = await asyncio.gather(*(store.user_counts() for _ in range(3)))
        finally:
            await store.close()

        assert [count.total for count in counts] == [0, 0, 0]

    async def test_stopped_server(self) -> None:
        """Calls on a store whose server has stopped raise StoreUnavailableError."""
        postgres = TemporaryPostgres.start(environ={})
        try:
            dsn = postgres.create_database(schema=True)
            store = await open_store(dsn)
            await store.user_counts()
            postgres.close()

            with pytest.raises(StoreUnavailableError):
                await store.user_counts()
            await store.close()
        finally:
            postgres.close()

    def test_errors_share_base(self) -> None:
        """Every translated error is a StoreError, so callers can catch one class."""
        translated: list[Any] = [translate_database_error(e) for e in UNAVAILABLE_ERRORS]

        assert all(isinstance(error, StoreError) for error in translated)
