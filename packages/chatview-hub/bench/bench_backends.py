"""Measure cross-process delivery through PostgresBackend and NatsBackend.

Run: ``uv run python packages/chatview-hub/bench/bench_backends.py``

Two real processes: this one publishes through its hub, and a receiver child process
has the receiving user's one connection and timestamps each event on arrival.
Both read the system-wide monotonic clock, so one-way latency is measured directly.

1. Latency: events at a steady rate (``--rate`` per second); p50, p99 and max of
   publish-to-arrival time.
2. Throughput: a burst of ``--burst`` events published as fast as the hub allows;
   events per second from the first publish to the last arrival.

PostgreSQL comes from ``--dsn``, else ``CHATVIEW_TEST_DSN``, else an embedded
server started through chatview-store-pg's testing helper. NATS is measured when
``--nats`` (default ``nats://127.0.0.1:4222``) answers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import socket
import statistics
import sys
import time
from collections.abc import Iterator

import structlog

from chatview_hub import EventCodec, Hub, NatsBackend, PostgresBackend

RECEIVER = "f" * 64
CODEC: EventCodec[str] = EventCodec(encode=str.encode, decode=bytes.decode)


def make_backend(
    kind: str, dsn: str, nats_url: str, channel: str
) -> PostgresBackend[str] | NatsBackend[str]:
    if kind == "postgres":
        return PostgresBackend(dsn, CODEC, channel=channel, max_pending=1_000_000)
    return NatsBackend([nats_url], CODEC, presence_dsn=dsn, subject=channel, max_pending=1_000_000)


# -- the receiving process ------------------------------------------------------------


async def receive(kind: str, dsn: str, nats_url: str, channel: str, expected: int) -> None:
    """Hold the receiver's connection and report arrival times as JSON on stdout."""
    backend = make_backend(kind, dsn, nats_url, channel)
    hub: Hub[str] = Hub(max_queue_size=expected + 10, backend=backend)
    async with backend:
        connection = hub.connect(RECEIVER, "bench")
        await backend.flush()
        print("ready", flush=True)
        latencies: dict[str, list[int]] = {"latency": [], "burst": []}
        last_arrival = 0
        for _ in range(expected):
            event = await connection.receive()
            arrived = time.monotonic_ns()
            phase, sent = event.split(":")
            latencies[phase].append(arrived - int(sent))
            last_arrival = arrived
        print(json.dumps({"latencies": latencies, "last_arrival": last_arrival}), flush=True)
        hub.close()


# -- the publishing process -----------------------------------------------------------


def percentile(values: list[int], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] / 1e6


async def publish(
    kind: str, dsn: str, nats_url: str, latency_events: int, rate: float, burst: int
) -> dict[str, float]:
    """Run a receiver child, publish both phases to it, and return the measurements."""
    channel = f"chatview_hub_bench_{os.getpid()}"
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--role=receive",
        f"--backend={kind}",
        f"--dsn={dsn}",
        f"--nats={nats_url}",
        f"--channel={channel}",
        f"--expected={latency_events + burst}",
        stdout=asyncio.subprocess.PIPE,
        # The report is one JSON line with every arrival time in it.
        limit=2**26,
    )
    assert child.stdout is not None
    backend = make_backend(kind, dsn, nats_url, channel)
    hub: Hub[str] = Hub(backend=backend)
    try:
        async with backend:
            assert (await asyncio.wait_for(child.stdout.readline(), 60)).startswith(b"ready")

            # 1. Latency at a steady rate.
            interval = 1 / rate
            for _ in range(latency_events):
                hub.publish(RECEIVER, f"latency:{time.monotonic_ns()}")
                await asyncio.sleep(interval)

            # 2. Throughput: publish in slices, yielding so the sender task can run.
            await asyncio.sleep(0.5)
            burst_started = time.monotonic_ns()
            for number in range(burst):
                hub.publish(RECEIVER, f"burst:{time.monotonic_ns()}")
                if number % 200 == 199:
                    await asyncio.sleep(0)
            report = json.loads(await asyncio.wait_for(child.stdout.readline(), 300))
            hub.close()
    finally:
        if child.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                child.kill()
        await child.wait()

    latencies = report["latencies"]["latency"]
    burst_seconds = (report["last_arrival"] - burst_started) / 1e9
    return {
        "p50_ms": percentile(latencies, 0.50),
        "p99_ms": percentile(latencies, 0.99),
        "max_ms": max(latencies) / 1e6,
        "mean_ms": statistics.fmean(latencies) / 1e6,
        "events_per_s": burst / burst_seconds,
        "burst_p50_ms": percentile(report["latencies"]["burst"], 0.50),
    }


@contextlib.contextmanager
def database(dsn: str | None) -> Iterator[str]:
    """Yield a DSN: the one given, or a fresh database on a temporary server."""
    if dsn:
        yield dsn
        return
    from chatview_store_pg.testing import TemporaryPostgres

    postgres = TemporaryPostgres.start()
    try:
        yield postgres.create_database()
    finally:
        postgres.close()


def nats_reachable(url: str) -> bool:
    host, _, port = url.rsplit("//", 1)[-1].partition(":")
    try:
        with socket.create_connection((host, int(port or 4222)), timeout=1.0):
            return True
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--role", choices=["publish", "receive"], default="publish")
    parser.add_argument("--backend", choices=["postgres", "nats", "both"], default="both")
    parser.add_argument("--dsn", default=os.environ.get("CHATVIEW_TEST_DSN"))
    parser.add_argument("--nats", default="nats://127.0.0.1:4222")
    parser.add_argument("--channel", default="chatview_hub_bench")
    parser.add_argument("--expected", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--latency-events", type=int, default=2_000)
    parser.add_argument("--rate", type=float, default=500.0, help="latency events per second")
    parser.add_argument("--burst", type=int, default=20_000)
    arguments = parser.parse_args()

    # Per-connection info logs would drown the result and slow both processes.
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )
    if arguments.role == "receive":
        asyncio.run(
            receive(
                arguments.backend,
                arguments.dsn,
                arguments.nats,
                arguments.channel,
                arguments.expected,
            )
        )
        return

    kinds = ["postgres", "nats"] if arguments.backend == "both" else [arguments.backend]
    with database(arguments.dsn) as dsn:
        print(
            f"{arguments.latency_events} events at {arguments.rate:.0f}/s for latency, "
            f"a burst of {arguments.burst} for throughput; one receiving connection"
        )
        print(f"{'backend':<9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'burst ev/s':>11}")
        for kind in kinds:
            if kind == "nats" and not nats_reachable(arguments.nats):
                print(f"{kind:<9} skipped: no NATS server at {arguments.nats}")
                continue
            result = asyncio.run(
                publish(
                    kind,
                    dsn,
                    arguments.nats,
                    arguments.latency_events,
                    arguments.rate,
                    arguments.burst,
                )
            )
            print(
                f"{kind:<9} {result['p50_ms']:>8.2f} {result['p99_ms']:>8.2f} "
                f"{result['max_ms']:>8.2f} {result['events_per_s']:>11,.0f}"
            )


if __name__ == "__main__":
    main()
