"""A soak of mixed load: does the server's memory, file or thread count creep up?

Client-library users chat, read history and mark conversations read, while raw
protocol users keep logging in, subscribing, dropping their stream and logging out.
The server's figures are sampled all along; the first stretch is warm-up (caches,
pools, imports) and is left out of the comparison.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import statistics
import tempfile
import time
from pathlib import Path

import attrs
import grpc

from chatview_client import ChatClient, ChatViewError, ClientConfig
from chatview_identity import KeyPair
from chatview_server.testing import ProtocolClient, ServerProcess

from ._common import ProcessFigures, Report, ResourceSampler
from ._postgres import RestartablePostgres

__all__ = ["SoakPlan", "run_soak"]


@attrs.frozen(kw_only=True)
class SoakPlan:
    """Length and mix of the soak."""

    seconds: float = 600.0
    chat_clients: int = 6
    churners: int = 3
    warmup_fraction: float = 0.15


async def _chatter(
    client: ChatClient, peers: list[str], stop: asyncio.Event, counts: dict[str, int]
) -> None:
    rng = random.Random(client.public_key)  # noqa: S311 - load, not secrets
    while not stop.is_set():
        peer = rng.choice(peers)
        action = rng.random()
        with contextlib.suppress(ChatViewError, ValueError):
            if action < 0.6:
                await client.send_message(
                    peer, f"soak {counts['sent']} {'x' * rng.randrange(1, 400)}"
                )
                counts["sent"] += 1
            elif action < 0.85:
                await client.history(peer, limit=rng.randrange(1, 100))
                counts["history"] += 1
            else:
                await client.mark_read(peer)
                counts["mark_read"] += 1
        await asyncio.sleep(rng.uniform(0.05, 0.3))


async def _churner(address: str, stop: asyncio.Event, counts: dict[str, int]) -> None:
    rng = random.Random()  # noqa: S311 - load, not secrets
    while not stop.is_set():
        with contextlib.suppress(grpc.aio.AioRpcError, TimeoutError):
            async with grpc.aio.insecure_channel(address) as channel:
                user = await ProtocolClient(channel).login()
                stream = await user.subscribe(f"churn-{rng.randrange(1000)}")
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(rng.uniform(0.1, 1.0)):
                        await stream.read()
                stream.cancel()
                await user.friends()
                await user.logout()
                counts["sessions"] += 1
        await asyncio.sleep(rng.uniform(0.05, 0.5))


def _median(samples: list[ProcessFigures], field: str) -> float:
    return float(statistics.median(getattr(sample, field) for sample in samples))


async def run_soak(postgres: RestartablePostgres, plan: SoakPlan) -> Report:
    """Run the soak and return its report."""
    report = Report(f"soak ({plan.seconds:.0f} s of mixed load)")
    started = time.monotonic()
    dsn = await postgres.create_database()
    config = {"login_rate_per_minute": 100_000, "send_rate_per_second": 1000, "send_burst": 1000}
    counts = {"sent": 0, "history": 0, "mark_read": 0, "sessions": 0}
    with tempfile.TemporaryDirectory(prefix="chatview-reliability-soak-") as folder:
        async with ServerProcess(dsn=dsn, config=config, startup_timeout=120) as server:
            sampler = ResourceSampler(lambda: server.pid, interval=2.0)
            sampler.start()
            clients = [
                ChatClient(
                    ClientConfig(
                        data_dir=Path(folder) / f"c{index}",
                        grpc_target=server.address,
                        grpc_tls=False,
                    ),
                    KeyPair.generate(),
                )
                for index in range(plan.chat_clients)
            ]
            stop = asyncio.Event()
            try:
                for client in clients:
                    await client.open()
                await asyncio.gather(*(client.wait_online(timeout=60) for client in clients))
                keys = [client.public_key for client in clients]
                tasks = [
                    asyncio.create_task(
                        _chatter(c, [k for k in keys if k != c.public_key], stop, counts)
                    )
                    for c in clients
                ] + [
                    asyncio.create_task(_churner(server.address, stop, counts))
                    for _ in range(plan.churners)
                ]
                await asyncio.sleep(plan.seconds)
                stop.set()
                await asyncio.gather(*tasks)
            finally:
                for client in clients:
                    await client.close()
                await sampler.stop()

    samples = [figures for _, figures in sampler.samples]
    steady = samples[int(len(samples) * plan.warmup_fraction) :]
    if len(steady) < 8:
        report.fail(f"only {len(steady)} samples after warm-up; run the soak longer")
        report.seconds = time.monotonic() - started
        return report
    quarter = max(2, len(steady) // 4)
    head, tail = steady[:quarter], steady[-quarter:]
    report.figures.update(
        {
            "load": ", ".join(f"{name}={value}" for name, value in counts.items()),
            "start (after warm-up)": steady[0].describe(),
            "end": steady[-1].describe(),
            "samples": len(samples),
        }
    )
    rss_head, rss_tail = _median(head, "rss_bytes"), _median(tail, "rss_bytes")
    growth_mib = (rss_tail - rss_head) / 2**20
    report.figures["rss median first/last quarter"] = (
        f"{rss_head / 2**20:.1f} / {rss_tail / 2**20:.1f} MiB ({growth_mib:+.1f})"
    )
    for field, slack in (("open_files", 8), ("threads", 4)):
        first, last = _median(head, field), _median(tail, field)
        report.figures[f"{field} median first/last quarter"] = f"{first:.0f} / {last:.0f}"
        if last > first + slack:
            report.fail(f"{field} grew from {first:.0f} to {last:.0f} during the soak")
    # XXX: RSS of a Python process settles slowly (allocator arenas); growth under 20%
    # and 32 MiB between the first and last quarter is treated as steady.
    if growth_mib > 32 and rss_tail > rss_head * 1.2:
        report.fail(f"server RSS grew {growth_mib:.0f} MiB between the first and last quarter")
    report.seconds = time.monotonic() - started
    return report
