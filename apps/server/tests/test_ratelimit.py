"""Token buckets of the rate limits."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chatview_server._ratelimit import RateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TestRateLimiter:
    def test_burst_then_refused(self) -> None:
        """A full bucket allows `burst` calls at once, then refuses."""
        limiter = RateLimiter(1.0, 3, clock=FakeClock())

        assert [True, True, True, False] == [limiter.try_acquire("k") for _ in range(4)]

    def test_refills_at_rate(self) -> None:
        """After 1/rate seconds one more call is allowed."""
        clock = FakeClock()
        limiter = RateLimiter(2.0, 1, clock=clock)
        assert limiter.try_acquire("k")
        assert not limiter.try_acquire("k")

        clock.now += 0.5

        assert limiter.try_acquire("k")

    def test_keys_independent(self) -> None:
        """Each key has its own bucket."""
        limiter = RateLimiter(1.0, 1, clock=FakeClock())
        assert limiter.try_acquire("a")
        assert limiter.try_acquire("b")
        assert not limiter.try_acquire("a")

    def test_retry_after(self) -> None:
        """retry_after returns the seconds until the next whole token."""
        limiter = RateLimiter(4.0, 1, clock=FakeClock())
        limiter.try_acquire("k")
        assert 0.25 == pytest.approx(limiter.retry_after("k"))

    def test_prune_forgets_full_buckets(self) -> None:
        """Refilled buckets are dropped; draining ones are kept."""
        clock = FakeClock()
        limiter = RateLimiter(1.0, 2, clock=clock)
        limiter.try_acquire("old")
        clock.now += 5
        limiter.try_acquire("new")

        assert 1 == limiter.prune()
        assert 1 == len(limiter)

    @pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (1, 0)])
    def test_invalid_settings(self, rate: float, burst: float) -> None:
        """A rate that is not positive or a burst below one is rejected."""
        with pytest.raises(ValueError, match="invalid"):
            RateLimiter(rate, burst)

    @given(
        rate=st.floats(min_value=0.01, max_value=100),
        burst=st.integers(min_value=1, max_value=50),
        steps=st.lists(st.floats(min_value=0, max_value=10), max_size=60),
    )
    def test_never_above_budget(self, rate: float, burst: int, steps: list[float]) -> None:
        """Allowed calls never exceed burst + rate * elapsed time, pruning or not."""
        clock = FakeClock()
        limiter = RateLimiter(rate, burst, clock=clock)
        start = clock.now
        allowed = 0
        for index, step in enumerate(steps):
            clock.now += step
            if index % 7 == 0:
                limiter.prune()
            allowed += limiter.try_acquire("k")

        assert allowed <= burst + rate * (clock.now - start) + 1e-9
