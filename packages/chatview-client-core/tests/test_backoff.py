"""Backoff delays stay within their bounds and grow with failures."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chatview_client._backoff import Backoff

delays = st.floats(min_value=0.001, max_value=100.0)
backoffs = st.builds(
    lambda initial, extra, multiplier, jitter: Backoff(
        initial, initial + extra, multiplier, jitter
    ),
    delays,
    st.floats(min_value=0.0, max_value=1000.0),
    st.floats(min_value=1.0, max_value=10.0),
    st.floats(min_value=0.0, max_value=1.0),
)
randoms = st.floats(min_value=0.0, max_value=1.0, exclude_max=True)


class TestBackoff:
    @given(backoffs, st.integers(min_value=1, max_value=10_000), randoms)
    def test_bounds(self, backoff: Backoff, failures: int, random: float) -> None:
        """Every wait is between initial and maximum."""
        assert backoff.initial <= backoff.delay(failures, random) <= backoff.maximum

    @given(backoffs, st.integers(min_value=1, max_value=200))
    def test_monotone(self, backoff: Backoff, failures: int) -> None:
        """The base wait never shrinks as failures add up."""
        assert backoff.base(failures) <= backoff.base(failures + 1)

    def test_no_failures(self) -> None:
        """Zero failures means no wait."""
        assert 0.0 == Backoff().delay(0, 0.5)

    def test_doubles(self) -> None:
        """Without jitter the waits are 1, 2, 4, ... capped."""
        backoff = Backoff(1.0, 5.0, 2.0, 0.0)

        assert [1.0, 2.0, 4.0, 5.0, 5.0] == [backoff.delay(n, 0.9) for n in range(1, 6)]

    def test_huge_attempt(self) -> None:
        """A very large failure count gives the cap instead of overflowing."""
        assert 60.0 == Backoff().base(10**9)

    def test_rejects_inverted(self) -> None:
        """initial above maximum is refused."""
        with pytest.raises(ValueError, match=r"^backoff needs 0 < initial <= maximum"):
            Backoff(initial=5.0, maximum=1.0)
