"""Load shapes shared by every measure: a closed loop, a paced open loop, arrival records."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

import attrs
from bench_cluster import _percentile


@attrs.frozen
class Latency:
    """Median and 99th percentile of some timings, in milliseconds."""

    p50: float
    p99: float
    count: int

    @classmethod
    def of(cls, milliseconds: Sequence[float]) -> Latency:
        """Summarize timings in milliseconds; NaN figures when there are none."""
        if not milliseconds:
            return cls(float("nan"), float("nan"), 0)
        ordered = sorted(milliseconds)
        return cls(_percentile(ordered, 0.5), _percentile(ordered, 0.99), len(ordered))


async def closed_loop(
    call: Callable[[int], Awaitable[None]],
    *,
    in_flight: int,
    duration: float,
    warm_up: float,
) -> float:
    """Keep `in_flight` calls running for `warm_up` + `duration` seconds.

    Worker ``i`` awaits ``call(i)`` again and again, so each worker's calls never
    overlap. Calls that end during the warm-up are not counted.

    Returns:
        Calls completed per second after the warm-up.
    """
    start = time.perf_counter()
    measured_from = start + warm_up
    end = measured_from + duration
    completed = 0

    async def worker(index: int) -> None:
        nonlocal completed
        while time.perf_counter() < end:
            await call(index)
            if time.perf_counter() >= measured_from:
                completed += 1

    await asyncio.gather(*(worker(index) for index in range(in_flight)))
    # The last calls may end after `end`; they are counted over the time they took.
    return completed / max(duration, time.perf_counter() - measured_from)


async def paced(
    call: Callable[[int], Coroutine[Any, Any, None]], *, rate: float, duration: float
) -> int:
    """Start ``call(n)`` every ``1 / rate`` seconds for `duration` seconds, whatever is open.

    An open loop: a slow call does not delay the next start, so latencies measured
    inside `call` include queueing at this rate. Waits for every call to end.

    Returns:
        How many calls were started.
    """
    interval = 1.0 / rate
    started = 0
    tasks: set[asyncio.Task[None]] = set()
    begin = time.perf_counter()
    while (now := time.perf_counter()) < begin + duration:
        due = begin + started * interval
        if due > now:
            await asyncio.sleep(due - now)
        task = asyncio.create_task(call(started))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        started += 1
    if tasks:
        await asyncio.gather(*tasks)
    return started


@attrs.define
class Arrivals:
    """When each tagged message reached a receiver; a tag seen twice is a duplicate."""

    times: dict[str, list[float]] = attrs.field(factory=dict)

    def record(self, tag: str) -> None:
        """Note that `tag` arrived now."""
        self.times.setdefault(tag, []).append(time.perf_counter())

    def first(self, tag: str) -> float | None:
        """Return when `tag` first arrived, or None."""
        seen = self.times.get(tag)
        return seen[0] if seen else None

    async def wait_for(self, tags: set[str], timeout: float) -> None:  # noqa: ASYNC109
        """Return once every tag in `tags` arrived, or after `timeout` seconds."""
        deadline = time.perf_counter() + timeout
        # Polling keeps the readers' hot path to one dict update per event.
        while time.perf_counter() < deadline and not tags <= self.times.keys():  # noqa: ASYNC110
            await asyncio.sleep(0.05)

    def duplicated(self) -> int:
        """Return how many tags arrived more than once."""
        return sum(1 for seen in self.times.values() if len(seen) > 1)
