"""Token-bucket rate limits kept in memory, per process.

Each key (a client address, a user) has a bucket of ``burst`` tokens that refills at
``rate`` tokens per second; a call takes one token or is rejected. Limits are per
server process: with several processes behind a load balancer a client may get up
to the limit once per process.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import final

import attrs

__all__ = ["RateLimiter"]


@attrs.define
class _Bucket:
    tokens: float
    updated: float


@final
class RateLimiter:
    """Per-key token buckets.

    Args:
        rate: tokens added per second.
        burst: bucket size, the calls allowed at once after a quiet period.
        clock: monotonic seconds; `time.monotonic` by default.

    Raises:
        ValueError: ``rate`` is not above 0 or ``burst`` is below 1.
    """

    def __init__(
        self, rate: float, burst: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if not rate > 0:
            msg = f"invalid rate {rate!r}: expected tokens per second above 0"
            raise ValueError(msg)
        if not burst >= 1:
            msg = f"invalid burst {burst!r}: expected at least 1 token"
            raise ValueError(msg)
        self.rate = rate
        self.burst = float(burst)
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def try_acquire(self, key: str) -> bool:
        """Take one token from the key's bucket; return False when it is empty."""
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(tokens=self.burst, updated=now)
        else:
            elapsed = max(0.0, now - bucket.updated)
            bucket.tokens = min(self.burst, bucket.tokens + elapsed * self.rate)
            bucket.updated = now

        if bucket.tokens < 1:
            return False
        bucket.tokens -= 1
        return True

    def retry_after(self, key: str) -> float:
        """Return the seconds until the key's bucket holds a whole token again."""
        bucket = self._buckets.get(key)
        if bucket is None:
            return 0.0
        return max(0.0, (1 - bucket.tokens) / self.rate)

    def prune(self) -> int:
        """Forget buckets that have refilled completely; return how many.

        A forgotten bucket starts full again, exactly as a refilled one would be, so
        pruning never changes a decision; it only bounds memory.
        """
        now = self._clock()
        full = [
            key
            for key, bucket in self._buckets.items()
            if bucket.tokens + (now - bucket.updated) * self.rate >= self.burst
        ]
        for key in full:
            del self._buckets[key]
        return len(full)

    def __len__(self) -> int:
        return len(self._buckets)
