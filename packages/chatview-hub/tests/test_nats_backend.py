"""NatsBackend: what differs from PostgresBackend (the shared behaviour is in test_cluster)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Any

import pytest

from chatview_hub import (
    BackendUnavailableError,
    CloseReason,
    Connection,
    ConnectionClosedError,
    MissingDependencyError,
    NatsBackend,
)

from .cluster import STRING_CODEC, BackendKind, Cluster

ALICE = "a" * 64

MakeCluster = Callable[[BackendKind], Cluster]


async def received(connection: Connection[str], count: int) -> list[str]:
    events: list[str] = []
    async with asyncio.timeout(10):
        while len(events) < count:
            events.append(await connection.receive())
    return events


async def close_reason(connection: Connection[str]) -> str:
    async with asyncio.timeout(10):
        while True:
            try:
                await connection.receive()
            except ConnectionClosedError as exc:
                return exc.reason


def cut_link(backend: NatsBackend[str]) -> None:
    """Abort the NATS client's socket, as a network failure would."""
    # No public way to break a live link without restarting the shared server.
    client: Any = backend._transport._client  # type: ignore[attr-defined]
    client._transport._io_writer.transport.abort()


class TestNatsReconnect:
    async def test_link_cut_closes_for_catch_up(self, make_cluster: MakeCluster) -> None:
        """After the NATS link drops and comes back, local streams end for a catch-up."""
        cluster = make_cluster("nats")
        a, b = await cluster.start(), await cluster.start()
        phone = b.hub.connect(ALICE, "phone")
        assert isinstance(b.backend, NatsBackend)

        cut_link(b.backend)

        assert CloseReason.BACKEND_RECONNECTED == await close_reason(phone)
        again = b.hub.connect(ALICE, "phone")
        a.hub.publish(ALICE, "after")
        assert ["after"] == await received(again, 1)


class TestNatsLargePayload:
    async def test_above_max_payload_by_reference(self, make_cluster: MakeCluster) -> None:
        """An event above the server's max_payload goes through the payload table."""
        cluster = make_cluster("nats")
        a, b = await cluster.start(), await cluster.start()
        phone = b.hub.connect(ALICE, "phone")
        large = "z" * 1_200_000

        a.hub.publish(ALICE, large)
        a.hub.publish(ALICE, "small")

        assert [large, "small"] == await received(phone, 2)
        assert 1 == a.backend.statistics().payloads_stored


class TestNatsLifecycle:
    async def test_unreachable_server(self, postgres_dsn: str) -> None:
        """No NATS server at the URL: ``start`` fails with ``BackendUnavailableError``."""
        backend: NatsBackend[str] = NatsBackend(
            ["nats://127.0.0.1:1"],
            STRING_CODEC,
            presence_dsn=postgres_dsn,
            reconnect_wait=0.05,
            connect_timeout=0.5,
        )
        before = asyncio.all_tasks()

        with pytest.raises(BackendUnavailableError, match=r"^NatsBackend could not start: "):
            await backend.start()

        await asyncio.sleep(0)
        assert before == asyncio.all_tasks()

    async def test_no_task_left_after_stop(self, postgres_dsn: str, nats_url: str) -> None:
        """After ``stop`` no task of the backend or of the NATS client runs."""
        before = asyncio.all_tasks()
        async with NatsBackend([nats_url], STRING_CODEC, presence_dsn=postgres_dsn):
            pass

        await asyncio.sleep(0)
        assert before == asyncio.all_tasks()


class TestNatsConstruction:
    def test_single_url_string_accepted(self) -> None:
        """A lone URL string is one server, not a list of characters."""
        backend: NatsBackend[str] = NatsBackend(
            "nats://127.0.0.1:4222", STRING_CODEC, presence_dsn="postgresql:///x"
        )

        assert ["nats://127.0.0.1:4222"] == backend._transport._servers  # type: ignore[attr-defined]

    @pytest.mark.parametrize(
        ("options", "match"),
        [
            ({"servers": []}, r"^invalid servers \[\]: expected at least one NATS URL$"),
            ({"subject": "chat.*"}, r"^invalid subject 'chat\.\*': expected a NATS subject"),
        ],
    )
    def test_bad_settings_rejected(self, options: dict[str, Any], match: str) -> None:
        """Unusable servers or subjects are refused with the bad value."""
        arguments: dict[str, Any] = {"servers": ["nats://127.0.0.1:4222"], **options}

        with pytest.raises(ValueError, match=match):
            NatsBackend(codec=STRING_CODEC, presence_dsn="postgresql:///x", **arguments)

    def test_missing_nats(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without nats-py the backend says which extra to install."""
        monkeypatch.setitem(sys.modules, "nats", None)

        with pytest.raises(MissingDependencyError, match=r"'nats'.*install chatview-hub\[nats\]$"):
            NatsBackend(["nats://127.0.0.1:4222"], STRING_CODEC, presence_dsn="postgresql:///x")
