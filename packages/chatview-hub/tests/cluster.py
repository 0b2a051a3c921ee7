"""Helpers for the cross-process backend tests: simulated server processes on one database."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Literal

import attrs

from chatview_hub import (
    Connection,
    ConnectionClosedError,
    EventCodec,
    Hub,
    NatsBackend,
    PostgresBackend,
    PresenceChange,
    WouldBlockError,
)

NATS_URL = os.environ.get("CHATVIEW_TEST_NATS_URL", "nats://127.0.0.1:4222")

# Strings as events keep the tests readable; the server passes protobuf's methods.
STRING_CODEC: EventCodec[str] = EventCodec(encode=str.encode, decode=bytes.decode)

BackendKind = Literal["postgres", "nats"]


@attrs.define
class Node:
    """One simulated server process: a hub, its backend and its presence reports."""

    hub: Hub[str]
    backend: PostgresBackend[str] | NatsBackend[str]
    reported: list[PresenceChange]


@attrs.define
class Cluster:
    """Makes nodes on one database (and one NATS subject); ``stop_all`` ends them."""

    kind: BackendKind
    dsn: str
    nats_url: str | None
    subject: str
    shared_log: list[tuple[int, PresenceChange]] = attrs.field(factory=list)
    nodes: list[Node] = attrs.field(factory=list)

    def backend(self, *, heal_interval: float = 3.0) -> PostgresBackend[str] | NatsBackend[str]:
        """Make an unstarted backend of the cluster's kind."""
        if self.kind == "postgres":
            return PostgresBackend(
                self.dsn,
                STRING_CODEC,
                channel=self.subject,
                keepalive_interval=0.5,
                heal_interval=heal_interval,
            )
        assert self.nats_url is not None
        return NatsBackend(
            [self.nats_url],
            STRING_CODEC,
            presence_dsn=self.dsn,
            subject=self.subject,
            reconnect_wait=0.1,
            heal_interval=heal_interval,
        )

    async def start(self, *, heal_interval: float = 3.0) -> Node:
        """Make and start a node; its presence reports also go to ``shared_log``."""
        index = len(self.nodes)
        reported: list[PresenceChange] = []

        def report(change: PresenceChange) -> None:
            reported.append(change)
            self.shared_log.append((index, change))

        backend = self.backend(heal_interval=heal_interval)
        hub: Hub[str] = Hub(max_queue_size=64, on_presence=report, backend=backend)
        await backend.start()
        node = Node(hub=hub, backend=backend, reported=reported)
        self.nodes.append(node)
        return node

    async def flush(self) -> None:
        """Wait until every node has sent what it queued and written its presence."""
        for node in self.nodes:
            await node.backend.flush()

    async def stop_all(self) -> None:
        for node in self.nodes:
            node.hub.close()
            await node.backend.stop()


async def eventually(check: Callable[[], bool], *, within: float = 10.0) -> None:
    """Wait until ``check()`` is true; fail the test after ``within`` seconds."""
    async with asyncio.timeout(within):
        # Polling: the states checked (another process's view) signal no event.
        while not check():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


def drain(connection: Connection[str]) -> list[str]:
    """Take every queued event of a connection without waiting."""
    events: list[str] = []
    while True:
        try:
            events.append(connection.receive_nowait())
        except (WouldBlockError, ConnectionClosedError):
            return events
