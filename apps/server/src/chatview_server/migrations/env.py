"""Alembic environment: runs migrations over an asyncpg connection.

The DSN comes from ``config.attributes["dsn"]`` (set by the functions in this package)
or from the ``sqlalchemy.url`` main option (an ``alembic.ini``).
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from chatview_server.migrations import asyncpg_url
from chatview_store_pg import metadata

config = context.config


def _dsn() -> str:
    dsn = config.attributes.get("dsn") or config.get_main_option("sqlalchemy.url")
    if not dsn:
        msg = "no database DSN: pass one to chatview_server.migrations or set sqlalchemy.url"
        raise RuntimeError(msg)
    return str(dsn)


def _configure_and_run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    engine = create_async_engine(asyncpg_url(_dsn()), poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_configure_and_run)
            await connection.commit()
    finally:
        await engine.dispose()


def _run_offline() -> None:
    """Emit the SQL instead of running it (``alembic upgrade --sql``)."""
    context.configure(url=asyncpg_url(_dsn()), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    _run_offline()
else:
    asyncio.run(_run_online())
