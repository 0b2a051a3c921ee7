"""A subscriber that stops reading while many events are produced.

The subscriber's connection goes through a `FaultProxy` that holds every chunk from
the server for `BackpressurePlan.stall_seconds`, so the subscriber stops reading at the
TCP level: a grpc client reads ahead into its own buffers, so merely not calling
``read()`` never makes the server wait. The server must not buffer without bound for
the stalled stream: it ends the stream with RESOURCE_EXHAUSTED once the stream's
queue is full, its memory stays bounded, and the subscriber finds every message when
it comes back (a new stream, then history from ``server_seq`` 0, which is what a
client's catch-up does).
"""

from __future__ import annotations

import asyncio
import time

import attrs
import grpc

from chatview_server.testing import ProtocolClient, ServerProcess, wait_for_event

from ._common import Report, ResourceSampler, load_fault_proxy, process_figures
from ._postgres import RestartablePostgres

__all__ = ["BackpressurePlan", "run_backpressure"]


@attrs.frozen(kw_only=True)
class BackpressurePlan:
    """Size of the scenario; the defaults are the full-size run (``--long``)."""

    events: int = 100_000
    producers: int = 12
    stall_seconds: float = 20.0
    # Large events fill the loopback socket buffers (several MiB) within the flood.
    text_chars: int = 3_900
    # Growth of the server's RSS above its idle figure that counts as unbounded.
    rss_limit_mib: float = 256.0


async def _produce(
    producers: list[ProtocolClient], target: str, count: int, text_chars: int
) -> tuple[set[str], int]:
    texts: set[str] = set()
    errors = 0
    numbers = iter(range(count))
    padding = "x" * text_chars

    # One worker per producer: concurrent sends into one conversation only contend
    # for its next server_seq.
    async def worker(producer: ProtocolClient) -> None:
        nonlocal errors
        for number in numbers:
            text = f"backpressure {number} {padding}"
            try:
                await producer.send(target, text)
            except grpc.aio.AioRpcError:
                errors += 1
                continue
            texts.add(text)

    await asyncio.gather(*(worker(producer) for producer in producers))
    return texts, errors


async def _history_texts(reader: ProtocolClient, peer: str) -> list[str]:
    texts: list[str] = []
    cursor = "0"
    while True:
        reply = await reader.history(peer, cursor=cursor, limit=100, direction="newer")
        page = reply.page
        texts.extend(message.text for message in page.messages)
        if not page.has_more or not page.messages:
            return texts
        cursor = str(max(message.server_seq for message in page.messages))


async def run_backpressure(postgres: RestartablePostgres, plan: BackpressurePlan) -> Report:
    """Run the stalled-subscriber scenario and return its report."""
    report = Report(f"stalled subscriber ({plan.events} events)")
    started = time.monotonic()
    dsn = await postgres.create_database()
    config = {
        # The point is the event flood, not the per-user send limit.
        "send_rate_per_second": 1_000_000,
        "send_burst": 10_000,
        "login_rate_per_minute": 10_000,
        # The stalled subscriber cannot answer keepalive pings in time, and grpc also
        # sets TCP_USER_TIMEOUT to the keepalive timeout, which makes Linux drop a
        # connection whose receive window stays zero that long. Either close would
        # hide the overflow handling this scenario is about.
        "keepalive_time": "1h",
        "keepalive_timeout": "1h",
    }
    FaultProxy = load_fault_proxy()  # noqa: N806 - a class
    async with ServerProcess(dsn=dsn, config=config, startup_timeout=120) as server:
        assert server.pid is not None
        proxy = await FaultProxy.start(server.address)
        async with (
            grpc.aio.insecure_channel(proxy.address) as subscriber_channel,
            grpc.aio.insecure_channel(server.address) as producer_channel,
        ):
            subscriber = await ProtocolClient(subscriber_channel).login()
            producers = [
                await ProtocolClient(producer_channel).login() for _ in range(plan.producers)
            ]
            stalled = await subscriber.subscribe("stalled")
            proxy.delay_replies(plan.stall_seconds)
            await asyncio.sleep(1)
            idle = process_figures(server.pid)
            sampler = ResourceSampler(lambda: server.pid, interval=0.25)
            sampler.start()

            # 1. The flood, while the subscriber reads nothing.
            produce_started = time.monotonic()
            texts, errors = await _produce(producers, subscriber.key, plan.events, plan.text_chars)
            produce_seconds = time.monotonic() - produce_started
            await sampler.stop()
            after = process_figures(server.pid)

            # 2. The subscriber reads again; the server must have ended its stream.
            proxy.delay_replies(0)
            buffered = 0
            ending = "still open"
            ending_details = ""
            try:
                async with asyncio.timeout(plan.stall_seconds + 60):
                    while (event := await stalled.read()) is not grpc.aio.EOF:
                        buffered += 1
                        del event
                    ending = "OK (ended without error)"
            except grpc.aio.AioRpcError as exc:
                ending = exc.code().name
                ending_details = exc.details() or ""
            except TimeoutError:
                stalled.cancel()

            # 3. Back again: live events flow, and history has every message.
            fresh = await subscriber.subscribe("back")
            await producers[0].send(subscriber.key, "backpressure after reconnect")
            live = "yes"
            try:
                await wait_for_event(fresh, "new_message", timeout=30)
            except (TimeoutError, EOFError, grpc.aio.AioRpcError) as exc:
                live = f"no ({type(exc).__name__})"
            fresh.cancel()
            held: list[str] = []
            for producer in producers:
                held.extend(await _history_texts(subscriber, producer.key))
        await proxy.close()

    held_set = set(held)
    missing = len(texts - held_set)
    repeated = len(held) - len(held_set)
    growth = (sampler.peak_rss - idle.rss_bytes) / 2**20
    report.figures.update(
        {
            "events produced (SendMessage OK)": len(texts),
            "send errors": errors,
            "production time": f"{produce_seconds:.1f} s ({len(texts) / produce_seconds:.0f}/s)",
            "server idle": idle.describe(),
            "server after flood": after.describe(),
            "server rss growth (peak - idle)": f"{growth:.1f} MiB",
            "stalled stream ended with": f"{ending} {ending_details!r}",
            "events it had received before the end": buffered,
            "live events after reconnect": live,
            "history after reconnect: missing / repeated": f"{missing} / {repeated}",
        }
    )
    if ending != "RESOURCE_EXHAUSTED":
        report.fail(f"the stalled stream ended with {ending}, expected RESOURCE_EXHAUSTED")
    if growth > plan.rss_limit_mib:
        report.fail(f"server RSS grew {growth:.0f} MiB (> {plan.rss_limit_mib:.0f} MiB)")
    if live != "yes":
        report.fail(f"no live event on the new stream: {live}")
    if missing or repeated:
        report.fail(f"history after reconnect: {missing} missing, {repeated} repeated")
    if errors:
        report.fail(f"{errors} SendMessage calls failed during the flood")
    report.seconds = time.monotonic() - started
    return report
