"""UUIDv7 client_message_ids."""

from __future__ import annotations

import time

from chatview_client._uuid7 import uuid7


class TestUuid7:
    def test_version(self) -> None:
        """The id is version 7 with the RFC variant."""
        value = uuid7()

        assert (7, "specified in RFC 4122") == (value.version, value.variant)

    def test_timestamp(self) -> None:
        """The first 48 bits are the Unix time in milliseconds."""
        before = time.time_ns() // 1_000_000
        value = uuid7()
        after = time.time_ns() // 1_000_000

        assert before <= value.int >> 80 <= after

    def test_sorted(self) -> None:
        """Ids made one after another sort in that order, within one millisecond too."""
        values = [uuid7(now_ms=1_700_000_000_000) for _ in range(500)]

        assert sorted(values) == values
        assert 500 == len(set(values))

    def test_clock_going_back(self) -> None:
        """An earlier clock reading still gives a later id."""
        first = uuid7(now_ms=2_000_000_000_000)
        second = uuid7(now_ms=1_000_000_000_000)

        assert first < second
