"""Benchmark message delivery through one server process and through three.

Usage::

    uv run python tools/bench_cluster.py [--messages 2000] [--concurrency 16] [--pairs 32]
                                         [--backends local,postgres,nats]

Each backend gets a fresh database and its own server processes on loopback ports:
``local`` is one process, ``postgres`` and ``nats`` are three processes sharing the
database. The load is the same for all of them: ``--pairs`` receivers each hold one
event stream, each with a sender of its own; ``--concurrency`` tasks, each with pairs
of its own, send
``--messages`` messages in total, as fast as the servers answer. With three processes
every receiver streams from a process other than its sender's, so every message
crosses processes. Printed per backend:

* delivery latency p50/p99: from the start of ``SendMessage`` to the ``new_message``
  event read from the receiver's stream (so it includes the send itself);
* throughput: messages delivered per second over the run;
* retries: sends answered UNAVAILABLE (database busy) and sent again with the same
  idempotency key, as a client does.

The load generator runs in this one process, on the same machine as the servers and
PostgreSQL, so on a small machine the figures are bounded by CPU, not by the backend.
``nats`` is skipped when no NATS server accepts connections at ``--nats-url``.
PostgreSQL is embedded in a temporary directory unless ``CHATVIEW_BENCH_DSN`` names a
server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import socket
import statistics
import sys
import time
import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import attrs
import grpc

from chatview_server.testing import ProtocolClient, ServerProcess
from chatview_store_pg.testing import TEST_DSN_VARIABLE, TemporaryPostgres

BENCH_DSN_VARIABLE = "CHATVIEW_BENCH_DSN"
WARM_UP = 100
SERVER_CONFIG: dict[str, object] = {
    "login_rate_per_minute": 1_000_000,
    "send_rate_per_second": 1_000_000,
    "send_burst": 10_000,
    "event_queue_size": 100_000,
    # Per-call logs would cost every backend the same, and hide what differs.
    "log_level": "warning",
}


@attrs.frozen
class Result:
    """The figures of one backend."""

    backend: str
    processes: int
    messages: int
    seconds: float
    p50_ms: float
    p99_ms: float
    retried: int

    @property
    def per_second(self) -> float:
        return self.messages / self.seconds


def _nats_reachable(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 4222), 1.0):
            return True
    except OSError:
        return False


def _percentile(sorted_values: Sequence[float], fraction: float) -> float:
    index = min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))
    return sorted_values[index]


@attrs.define
class Arrivals:
    """When each message reached its receiver; `done` is set once `target` arrived."""

    target: int
    times: dict[str, float] = attrs.field(factory=dict)
    done: asyncio.Event = attrs.field(factory=asyncio.Event)

    async def read(self, stream: Any) -> None:
        """Record the arrival of every message read from `stream` until it ends."""
        with contextlib.suppress(grpc.aio.AioRpcError, asyncio.CancelledError):
            while (event := await stream.read()) is not grpc.aio.EOF:
                if event.WhichOneof("event") == "new_message":
                    self.times[event.new_message.message.text] = time.perf_counter()
                    if len(self.times) >= self.target:
                        self.done.set()


async def _measure(
    addresses: list[str], arguments: argparse.Namespace
) -> tuple[float, list[float], int]:
    channels = [grpc.aio.insecure_channel(address) for address in addresses]
    count = len(channels)
    try:
        pairs: list[tuple[ProtocolClient, ProtocolClient]] = []
        for n in range(arguments.pairs):
            # With several processes the receiver is on another process than its sender.
            receiver = await ProtocolClient(channels[n % count]).login()
            sender = await ProtocolClient(channels[(n + 1) % count]).login()
            pairs.append((sender, receiver))
        total = WARM_UP + arguments.messages
        arrived = Arrivals(total)
        streams = [await receiver.subscribe("bench") for _, receiver in pairs]
        readers = [asyncio.create_task(arrived.read(stream)) for stream in streams]

        started: dict[str, float] = {}
        numbers = itertools.count()
        run_started = 0.0
        retried = 0

        async def send_loop(task: int) -> None:
            nonlocal run_started, retried
            # Each task has pairs of its own, so no two sends wait on one conversation.
            own = pairs[task :: arguments.concurrency]
            while (number := next(numbers)) < total:
                if number == WARM_UP:
                    run_started = time.perf_counter()
                sender, receiver = own[number % len(own)]
                text = f"m{number}-{uuid.uuid4().hex[:8]}"
                started[text] = time.perf_counter()
                key = str(uuid.uuid4())
                # A busy database answers UNAVAILABLE; a client retries with the same key.
                while True:
                    try:
                        await sender.send(receiver.key, text, client_message_id=key)
                        break
                    except grpc.aio.AioRpcError as exc:
                        if exc.code() is not grpc.StatusCode.UNAVAILABLE:
                            raise
                        retried += 1
                        await asyncio.sleep(0.05)

        await asyncio.gather(*(send_loop(task) for task in range(arguments.concurrency)))
        async with asyncio.timeout(60):
            await arrived.done.wait()
        for stream in streams:
            stream.cancel()
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)

        measured = [text for text in started if int(text[1:].split("-")[0]) >= WARM_UP]
        latencies = sorted((arrived.times[text] - started[text]) * 1000 for text in measured)
        seconds = max(arrived.times[text] for text in measured) - run_started
        return seconds, latencies, retried
    finally:
        for channel in channels:
            await channel.close()


def _run_backend(
    postgres: TemporaryPostgres, backend: str, arguments: argparse.Namespace
) -> Result:
    dsn = postgres.create_database()
    try:
        config: dict[str, object] = {**SERVER_CONFIG, "event_backend": backend}
        if backend == "nats":
            config |= {"nats_url": arguments.nats_url, "nats_subject": f"bench.{uuid.uuid4().hex}"}
        processes = 1 if backend == "local" else 3
        with contextlib.ExitStack() as stack:
            servers = [stack.enter_context(ServerProcess(dsn=dsn, config=config))]
            for _ in range(processes - 1):
                extra = {**config, "skip_migrations": True}
                servers.append(stack.enter_context(ServerProcess(dsn=dsn, config=extra)))
            seconds, latencies, retried = asyncio.run(
                _measure([s.address for s in servers], arguments)
            )
        return Result(
            backend=backend,
            processes=processes,
            messages=len(latencies),
            seconds=seconds,
            p50_ms=statistics.median(latencies),
            p99_ms=_percentile(latencies, 0.99),
            retried=retried,
        )
    finally:
        postgres.drop_database(dsn)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000, help="measured messages")
    parser.add_argument("--concurrency", type=int, default=16, help="sending tasks")
    parser.add_argument("--pairs", type=int, default=32, help="sender-receiver pairs")
    parser.add_argument("--backends", default="local,postgres,nats", help="comma-separated")
    parser.add_argument(
        "--nats-url",
        default=os.environ.get("CHATVIEW_TEST_NATS_URL", "nats://127.0.0.1:4222"),
        help="NATS server for the nats backend",
    )
    arguments = parser.parse_args(argv)

    external = os.environ.get(BENCH_DSN_VARIABLE, "")
    postgres = TemporaryPostgres.start(environ={TEST_DSN_VARIABLE: external} if external else {})
    print(f"PostgreSQL: {'external server' if external else 'embedded (temporary directory)'}")
    print(
        f"load: {arguments.messages} messages (+{WARM_UP} warm-up), "
        f"{arguments.concurrency} sending tasks, {arguments.pairs} sender-receiver pairs, "
        f"{os.cpu_count()} CPUs"
    )
    print(
        f"{'backend':<10}{'processes':>10}{'messages':>10}{'msg/s':>10}"
        f"{'p50 ms':>10}{'p99 ms':>10}{'retries':>10}",
        flush=True,
    )
    try:
        for backend in arguments.backends.split(","):
            if backend == "nats" and not _nats_reachable(arguments.nats_url):
                print(f"nats: skipped, no NATS server accepts connections at {arguments.nats_url}")
                continue
            result = _run_backend(postgres, backend, arguments)
            # Each row as soon as it is measured: a whole run takes minutes.
            print(
                f"{result.backend:<10}{result.processes:>10}{result.messages:>10}"
                f"{result.per_second:>10.0f}{result.p50_ms:>10.2f}{result.p99_ms:>10.2f}"
                f"{result.retried:>10}",
                flush=True,
            )
    finally:
        postgres.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
