"""The Alembic migrations build exactly the store's schema, and tear it down again."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from chatview_server import migrations
from chatview_store_pg import metadata


async def _inspect(dsn: str, work: Any) -> Any:
    engine = create_async_engine(migrations.asyncpg_url(dsn), poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(work)
    finally:
        await engine.dispose()


def _schema_diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


def _table_names(connection: Connection) -> set[str]:
    return set(sa.inspect(connection).get_table_names())


class TestMigrations:
    async def test_upgrade_matches_store_metadata(self, database_dsn: str) -> None:
        """Upgrading an empty database to head gives the schema the store defines."""
        migrations.upgrade(database_dsn)

        assert await _inspect(database_dsn, _schema_diff) == []

    async def test_current_reports_head(self, database_dsn: str) -> None:
        """current() is None before the first upgrade and the head revision after."""
        assert migrations.current(database_dsn) is None

        migrations.upgrade(database_dsn)

        assert migrations.current(database_dsn) == migrations.HEAD

    async def test_downgrade_removes_every_table(self, database_dsn: str) -> None:
        """Downgrading to base leaves only Alembic's own version table."""
        migrations.upgrade(database_dsn)

        migrations.downgrade(database_dsn)

        assert await _inspect(database_dsn, _table_names) == {"alembic_version"}
        assert migrations.current(database_dsn) is None

    async def test_comparison_sees_missing_tables(self, database_dsn: str) -> None:
        """The schema comparison used above reports a difference on an empty database."""
        diff = await _inspect(database_dsn, _schema_diff)

        added = {entry[1].name for entry in diff if entry[0] == "add_table"}
        assert added == set(metadata.tables)

    async def test_upgrade_after_downgrade(self, database_dsn: str) -> None:
        """A full downgrade followed by an upgrade rebuilds the same schema."""
        migrations.upgrade(database_dsn)
        migrations.downgrade(database_dsn)

        migrations.upgrade(database_dsn)

        assert await _inspect(database_dsn, _schema_diff) == []

    async def test_upgrade_is_idempotent(self, database_dsn: str) -> None:
        """Upgrading a database that is already at head changes nothing."""
        migrations.upgrade(database_dsn)

        migrations.upgrade(database_dsn)

        assert migrations.current(database_dsn) == migrations.HEAD


class TestAsyncpgUrl:
    @pytest.mark.parametrize("scheme", ["postgresql", "postgres", "postgresql+asyncpg"])
    def test_accepts_postgres_schemes(self, scheme: str) -> None:
        """Every PostgreSQL spelling becomes the asyncpg driver."""
        url = migrations.asyncpg_url(f"{scheme}://user@localhost:5432/chat")

        assert url.drivername == "postgresql+asyncpg"

    def test_rejects_other_database(self) -> None:
        """A DSN for another database system is refused."""
        with pytest.raises(ValueError, match=r"^database DSN scheme 'mysql' is not supported"):
            migrations.asyncpg_url("mysql://user@localhost/chat")
