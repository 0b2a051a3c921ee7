"""Pytest fixtures giving each test a fresh PostgreSQL database.

Registered through the ``pytest11`` entry point, so every test suite in an environment
where chatview-store-pg is installed can ask for these fixtures:

* ``chatview_postgres`` (session): the `TemporaryPostgres` behind the others; started
  on first use, stopped when the session ends.
* ``database_dsn``: a new, empty database for one test, dropped afterwards.
* ``store_dsn``: a database with the store tables, emptied (TRUNCATE) before each test.
  One such database serves all tests of a module, which is much faster than a new
  database per test. A test that changes the schema itself should use
  ``database_dsn`` instead.

Nothing starts unless a test requests one of them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ._postgres import TemporaryPostgres, truncate_tables


@pytest.fixture(scope="session")
def chatview_postgres() -> Iterator[TemporaryPostgres]:
    """Start the session's PostgreSQL server (CHATVIEW_TEST_DSN's, else an embedded one)."""
    postgres = TemporaryPostgres.start()
    try:
        yield postgres
    finally:
        postgres.close()


@pytest.fixture
def database_dsn(chatview_postgres: TemporaryPostgres) -> Iterator[str]:
    """DSN of an empty database that exists for this test only."""
    dsn = chatview_postgres.create_database()
    try:
        yield dsn
    finally:
        chatview_postgres.drop_database(dsn)


@pytest.fixture(scope="module")
def chatview_store_module_dsn(chatview_postgres: TemporaryPostgres) -> Iterator[str]:
    """DSN of a database with the store tables, shared by the tests of one module."""
    dsn = chatview_postgres.create_database(schema=True)
    try:
        yield dsn
    finally:
        chatview_postgres.drop_database(dsn)


@pytest.fixture
def store_dsn(chatview_store_module_dsn: str) -> str:
    """DSN of a database with the store tables and no rows."""
    truncate_tables(chatview_store_module_dsn)
    return chatview_store_module_dsn
