"""Alembic migrations of the ChatView database, runnable without an alembic.ini.

`upgrade`, `downgrade` and `current` build the Alembic configuration in code (this
folder is the script location) and take the database DSN as an argument. They are
synchronous and block until done; they do their work in a worker thread with its own
event loop, so they may be called from inside a running event loop too (call them
through `asyncio.to_thread` there to keep the loop responsive).

The schema they create is exactly ``chatview_store_pg.metadata``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import pool
from sqlalchemy.ext.asyncio import create_async_engine

__all__ = ["HEAD", "asyncpg_url", "current", "downgrade", "make_config", "upgrade"]

HEAD = "0002"
"""The newest revision in this folder."""

_SCRIPT_LOCATION = Path(__file__).resolve().parent
_T = TypeVar("_T")


def asyncpg_url(dsn: str) -> sa.URL:
    """Turn a ``postgresql://`` (or ``postgres://``) DSN into an asyncpg SQLAlchemy URL."""
    url = sa.make_url(dsn)
    if url.drivername not in {"postgresql", "postgres", "postgresql+asyncpg"}:
        msg = f"database DSN scheme {url.drivername!r} is not supported; use postgresql://"
        raise ValueError(msg)
    return url.set(drivername="postgresql+asyncpg")


def make_config(dsn: str) -> Config:
    """Return an Alembic Config for this folder and `dsn` (kept out of the ini parser)."""
    config = Config()
    config.set_main_option("script_location", str(_SCRIPT_LOCATION))
    config.attributes["dsn"] = dsn
    return config


def _in_worker_thread(work: Callable[[], _T]) -> _T:
    # env.py calls asyncio.run, which refuses to run inside a running loop, so every
    # command runs in a thread of its own.
    result: list[_T] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            result.append(work())
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=target, name="chatview-migrations")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]


def upgrade(dsn: str, revision: str = "head") -> None:
    """Migrate the database at `dsn` up to `revision` (default: the newest)."""
    _in_worker_thread(lambda: command.upgrade(make_config(dsn), revision))


def downgrade(dsn: str, revision: str = "base") -> None:
    """Migrate the database at `dsn` down to `revision` (default: drop everything)."""
    _in_worker_thread(lambda: command.downgrade(make_config(dsn), revision))


def current(dsn: str) -> str | None:
    """Return the revision the database at `dsn` is at, or None when never migrated."""

    async def read() -> str | None:
        engine = create_async_engine(asyncpg_url(dsn), poolclass=pool.NullPool)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(
                    lambda sync: MigrationContext.configure(sync).get_current_revision()
                )
        finally:
            await engine.dispose()

    return _in_worker_thread(lambda: asyncio.run(read()))
