"""Many idle event streams on one server, held by worker processes, and a probe through them.

One client process could not open ten thousand streams and still time a message
fairly, so the idle streams are opened by worker processes (``spawn``), each over
channels of its own, while this process holds a few probe receivers and times
messages sent to them.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import queue
import random
import resource
import time
from typing import Any

import attrs
import grpc
import psutil

from chatview_server.testing import ProtocolClient, ServerProcess

from ._loadgen import Arrivals, Latency

# Streams multiplexed on one channel (one TCP connection) by the workers.
STREAMS_PER_CHANNEL = 100
# Logins and subscriptions a worker keeps open at once while it sets up.
SETUP_IN_FLIGHT = 32


def raise_open_files_limit() -> int:
    """Raise this process's soft limit of open files to its hard limit; return it.

    Children (the server, the workers) inherit the raised limit.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def hold_streams(address: str, users: int, devices: int, reports: Any, stop: Any) -> None:
    """Worker process: log `users` in, open `devices` idle streams each, hold them until `stop`.

    Reports ``("ready", streams)`` once all are open, then ``("ended", count)`` with
    the number of streams the server ended before `stop` was set, or
    ``("error", text)``.
    """
    try:
        asyncio.run(_hold(address, users, devices, reports, stop))
    except Exception as exc:
        reports.put(("error", repr(exc)))


async def _hold(address: str, users: int, devices: int, reports: Any, stop: Any) -> None:
    users_per_channel = max(1, STREAMS_PER_CHANNEL // devices)
    channels = [grpc.aio.insecure_channel(address) for _ in range(-(-users // users_per_channel))]
    gate = asyncio.Semaphore(SETUP_IN_FLIGHT)
    streams: list[Any] = []

    async def open_user(index: int) -> None:
        async with gate:
            user = await ProtocolClient(channels[index // users_per_channel]).login()
            for device in range(devices):
                streams.append(await user.subscribe(f"device-{device}"))

    try:
        await asyncio.gather(*(open_user(index) for index in range(users)))
        reports.put(("ready", len(streams)))
        await asyncio.to_thread(stop.wait)
        # An idle stream that is done already was ended by the server.
        reports.put(("ended", sum(1 for stream in streams if stream.done())))
    finally:
        for stream in streams:
            stream.cancel()
        for channel in channels:
            await channel.close()


@attrs.frozen
class StreamFigures:
    """Server memory with the streams open, and a probe message's latency through them."""

    streams: int
    rss_before: int
    rss_after: int
    latency: Latency
    ended: int
    """Idle streams the server ended while they were held (should be 0)."""
    lost: int
    """Probe messages that did not arrive within 5 seconds (should be 0)."""


async def _read_probe(stream: Any, arrivals: Arrivals) -> None:
    with contextlib.suppress(grpc.aio.AioRpcError, asyncio.CancelledError):
        while (event := await stream.read()) is not grpc.aio.EOF:
            if event.WhichOneof("event") == "new_message":
                arrivals.record(event.new_message.message.text)


def _collect(reports: Any, kind: str, count: int, timeout: float) -> list[int]:
    values: list[int] = []
    deadline = time.monotonic() + timeout
    while len(values) < count:
        try:
            got, value = reports.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            msg = f"only {len(values)} of {count} stream workers reported {kind!r} in time"
            raise RuntimeError(msg) from None
        if got == "error":
            msg = f"a stream worker failed: {value}"
            raise RuntimeError(msg)
        values.append(int(value))
    return values


async def measure_streams(
    server: ServerProcess,
    *,
    streams: int,
    devices: int,
    processes: int,
    probes: int,
    samples: int,
) -> StreamFigures:
    """Open `streams` event streams on `server` and time `samples` messages to probes.

    Worker processes hold ``streams - probes`` idle streams (`devices` per user);
    this process holds `probes` more, one per user, and sends to them one at a time.
    """
    assert server.pid is not None
    server_process = psutil.Process(server.pid)
    rss_before = server_process.memory_info().rss

    idle_users = -(-(streams - probes) // devices)
    shares = [idle_users // processes + (n < idle_users % processes) for n in range(processes)]
    context = multiprocessing.get_context("spawn")
    reports = context.Queue()
    stop = context.Event()
    workers = [
        context.Process(
            target=hold_streams,
            args=(server.address, share, devices, reports, stop),
            daemon=True,
        )
        for share in shares
        if share
    ]
    for worker in workers:
        worker.start()
    try:
        held = await asyncio.to_thread(_collect, reports, "ready", len(workers), 900)

        async with grpc.aio.insecure_channel(server.address) as channel:
            sender = await ProtocolClient(channel).login()
            receivers = [await ProtocolClient(channel).login() for _ in range(probes)]
            arrivals = Arrivals()
            probe_streams = [await receiver.subscribe("probe") for receiver in receivers]
            readers = [asyncio.create_task(_read_probe(s, arrivals)) for s in probe_streams]
            # Let the server settle (presence, garbage) before reading its memory.
            await asyncio.sleep(2)
            rss_after = server_process.memory_info().rss

            timings = []
            for number in range(samples):
                text = f"probe{number:09d}-".ljust(32, "x")
                receiver = random.choice(receivers)  # noqa: S311
                start = time.perf_counter()
                await sender.send(receiver.key, text)
                await arrivals.wait_for({text}, 5.0)
                if (first := arrivals.first(text)) is not None:
                    timings.append((first - start) * 1000)
                await asyncio.sleep(0.01)
            for stream in probe_streams:
                stream.cancel()
            await asyncio.gather(*readers, return_exceptions=True)

        stop.set()
        ended = await asyncio.to_thread(_collect, reports, "ended", len(workers), 60)
        return StreamFigures(
            streams=sum(held) + probes,
            rss_before=rss_before,
            rss_after=rss_after,
            latency=Latency.of(timings),
            ended=sum(ended),
            lost=samples - len(timings),
        )
    finally:
        stop.set()
        for worker in workers:
            worker.join(30)
            if worker.is_alive():
                worker.kill()
                worker.join()
