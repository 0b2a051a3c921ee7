"""`Store.statistics()`: write-retry counters and connection-pool use for metrics."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from chatview_store_pg import RetriesExhaustedError, Store, open_store


class _SerializationError(OSError):
    """A driver-level failure carrying SQLSTATE 40001, as asyncpg reports a conflict."""

    sqlstate = "40001"


class TestStatistics:
    async def test_fresh_store(self, store_dsn: str) -> None:
        """A new store reports its pool size, nothing lent and no retries."""
        store = await open_store(store_dsn, pool_size=3)
        try:
            stats = store.statistics()
        finally:
            await store.close()

        assert (stats.pool_size, stats.pool_checked_out) == (3, 0)
        assert (stats.write_retries, stats.writes_exhausted) == (0, 0)

    async def test_checked_out(self, store: Store) -> None:
        """A connection held by a transaction counts as checked out."""

        async def inspect(connection: AsyncConnection) -> int:
            return store.statistics().pool_checked_out

        during = await store._database.read(inspect)

        assert during >= 1
        assert store.statistics().pool_checked_out == 0

    async def test_retry_counted(self, store: Store) -> None:
        """A write attempted again after a conflict adds one retry."""
        attempts = 0

        async def conflict_once(connection: AsyncConnection) -> int:
            nonlocal attempts
            attempts += 1
            if attempts == 1:
                raise _SerializationError
            return attempts

        result = await store._database.write("test", conflict_once)

        assert result == 2
        assert store.statistics().write_retries == 1

    async def test_exhausted_counted(self, store_dsn: str) -> None:
        """A write that conflicts on every attempt counts once as exhausted."""
        store = await open_store(store_dsn, send_retry_limit=2)

        async def always_conflict(connection: AsyncConnection) -> None:
            raise _SerializationError

        try:
            with pytest.raises(RetriesExhaustedError):
                await store._database.write("test", always_conflict)
            stats = store.statistics()
        finally:
            await store.close()

        assert (stats.write_retries, stats.writes_exhausted) == (1, 1)
