"""Measure how fast the hub queues events: publish to 1 and 10 devices, broadcast to 10,000.

Run: ``uv run python packages/chatview-hub/bench/bench_fanout.py``

Only the publish and broadcast calls are timed. Between timed batches the queues are
drained with ``receive_nowait()`` so that no connection overflows.
"""

from __future__ import annotations

import argparse
import logging
import time

import structlog

from chatview_hub import Connection, Hub


def user_key(number: int) -> str:
    return f"{number:064x}"


def drain(connections: list[Connection[int]]) -> None:
    for connection in connections:
        for _ in range(connection.statistics().queued):
            connection.receive_nowait()


def bench_publish(devices: int, events: int, batch: int) -> tuple[float, float]:
    """Publish ``events`` events to one user with ``devices`` connections.

    Returns:
        Publish calls per second and events queued per second.
    """
    hub: Hub[int] = Hub(max_queue_size=batch)
    user = user_key(1)
    connections = [hub.connect(user, f"device-{index}") for index in range(devices)]

    elapsed = 0.0
    for start in range(0, events, batch):
        count = min(batch, events - start)
        began = time.perf_counter()
        for number in range(start, start + count):
            hub.publish(user, number)
        elapsed += time.perf_counter() - began
        drain(connections)

    delivered = hub.statistics().events_delivered
    return events / elapsed, delivered / elapsed


def bench_broadcast(users: int, broadcasts: int) -> tuple[float, float]:
    """Broadcast ``broadcasts`` events to ``users`` users with one connection each.

    Returns:
        Broadcast calls per second and events queued per second.
    """
    hub: Hub[int] = Hub(max_queue_size=broadcasts)
    for number in range(users):
        hub.connect(user_key(number), "phone")

    began = time.perf_counter()
    for number in range(broadcasts):
        hub.broadcast(number)
    elapsed = time.perf_counter() - began

    delivered = hub.statistics().events_delivered
    return broadcasts / elapsed, delivered / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000, help="events per publish run")
    parser.add_argument("--broadcasts", type=int, default=200, help="broadcast calls")
    arguments = parser.parse_args()

    # The hub logs every connection at info level; 10,000 of them would drown the result.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

    for devices in (1, 10):
        calls, queued = bench_publish(devices, arguments.events, batch=256)
        print(
            f"publish to {devices:>2} connection(s): {calls:>12,.0f} publish/s "
            f"{queued:>12,.0f} events queued/s"
        )
    calls, queued = bench_broadcast(10_000, arguments.broadcasts)
    print(
        f"broadcast to 10,000 connections: {calls:>8,.0f} broadcast/s "
        f"{queued:>12,.0f} events queued/s"
    )


if __name__ == "__main__":
    main()
