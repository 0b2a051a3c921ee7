"""Pytest fixtures that run a real ChatView server process.

Pytest loads this module through the ``pytest11`` entry point once chatview-server is
installed; nothing starts unless a test requests a fixture, and the server code is
imported only then. The fixtures build on the ``chatview_postgres`` fixture of
chatview-store-pg (one PostgreSQL per test session, from ``CHATVIEW_TEST_DSN`` or
embedded):

* ``chatview_server_factory``: a function ``make(**kwargs) -> ServerProcess`` that
  starts a server with the keyword arguments of `ServerProcess`, on a fresh database
  unless ``dsn=`` is given. After the test, each of these servers is closed and its
  database dropped.
* ``chatview_server``: one server on a fresh database, shared by a test module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from chatview_server.testing import ServerProcess
    from chatview_store_pg.testing import TemporaryPostgres

__all__ = ["chatview_server", "chatview_server_factory"]

ServerFactory = Callable[..., "ServerProcess"]


@pytest.fixture(scope="module")
def chatview_server(chatview_postgres: TemporaryPostgres) -> Iterator[ServerProcess]:
    """Start one server on a database of its own for the tests of one module."""
    from chatview_server.testing import ServerProcess

    dsn = chatview_postgres.create_database()
    try:
        with ServerProcess(dsn=dsn) as server:
            yield server
    finally:
        chatview_postgres.drop_database(dsn)


@pytest.fixture
def chatview_server_factory(chatview_postgres: TemporaryPostgres) -> Iterator[ServerFactory]:
    """Start servers with custom configuration; all are closed after the test."""
    from chatview_server.testing import ServerProcess

    started: list[tuple[ServerProcess, str | None]] = []

    def make(**kwargs: Any) -> ServerProcess:
        own_dsn = None
        if "dsn" not in kwargs:
            own_dsn = kwargs["dsn"] = chatview_postgres.create_database()
        server = ServerProcess(**kwargs)
        started.append((server, own_dsn))
        server.start()
        return server

    try:
        yield make
    finally:
        for server, own_dsn in reversed(started):
            server.close()
            if own_dsn is not None:
                chatview_postgres.drop_database(own_dsn)
