"""TemporaryPostgres hands out databases and removes what it made."""

from __future__ import annotations

from urllib.parse import urlsplit

import asyncpg
import pytest

from chatview_store_pg import open_store
from chatview_store_pg.testing import TEST_DSN_VARIABLE, TemporaryPostgres


async def _database_names(dsn: str) -> set[str]:
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch("SELECT datname FROM pg_database")
    finally:
        await connection.close()
    return {row["datname"] for row in rows}


class TestExternalServer:
    async def test_creates_and_drops(self, chatview_postgres: TemporaryPostgres) -> None:
        """With CHATVIEW_TEST_DSN set, databases are made on that server and dropped on close."""
        external = TemporaryPostgres.start(
            environ={TEST_DSN_VARIABLE: chatview_postgres.server_dsn}
        )
        empty = external.create_database()
        with_schema = external.create_database(schema=True)
        names = {urlsplit(dsn).path.lstrip("/") for dsn in (empty, with_schema)}

        assert not external.is_embedded
        assert names <= await _database_names(chatview_postgres.server_dsn)
        store = await open_store(with_schema)
        assert (await store.user_counts()).total == 0
        await store.close()

        external.close()

        assert not names & await _database_names(chatview_postgres.server_dsn)

    def test_refuses_foreign_database(self, chatview_postgres: TemporaryPostgres) -> None:
        """drop_database only drops databases this object created."""
        with pytest.raises(ValueError, match=r"^database 'postgres' was not created"):
            chatview_postgres.drop_database(chatview_postgres.server_dsn)

    def test_closed_refuses_work(self, chatview_postgres: TemporaryPostgres) -> None:
        """A closed TemporaryPostgres cannot create databases."""
        external = TemporaryPostgres.start(
            environ={TEST_DSN_VARIABLE: chatview_postgres.server_dsn}
        )
        external.close()

        with pytest.raises(RuntimeError, match=r"^this TemporaryPostgres is closed"):
            external.create_database()


class TestFixtures:
    async def test_database_dsn_is_empty(self, database_dsn: str) -> None:
        """database_dsn gives a database without any table."""
        connection = await asyncpg.connect(database_dsn)
        try:
            count = await connection.fetchval(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
            )
        finally:
            await connection.close()

        assert count == 0

    async def test_store_dsn_is_empty(self, store_dsn: str) -> None:
        """store_dsn has the tables but no rows, even after an earlier test wrote some."""
        store = await open_store(store_dsn)
        try:
            counts = await store.user_counts()
            await store.ensure_user("f" * 64)
        finally:
            await store.close()

        assert counts.total == 0

    async def test_store_dsn_is_empty_again(self, store_dsn: str) -> None:
        """The row written by the previous test is gone."""
        store = await open_store(store_dsn)
        try:
            counts = await store.user_counts()
        finally:
            await store.close()

        assert counts.total == 0
