"""UUIDv7 message and session ids."""

from __future__ import annotations

import time
import uuid

from hypothesis import given
from hypothesis import strategies as st

from chatview_store_pg._ids import uuid7


class TestUuid7:
    def test_version_and_variant(self) -> None:
        """Ids are RFC 9562 version 7 UUIDs."""
        value = uuid.UUID(uuid7())

        assert value.version == 7
        assert value.variant == uuid.RFC_4122

    def test_timestamp_is_now(self) -> None:
        """The first 48 bits are the current Unix time in milliseconds."""
        before = time.time_ns() // 1_000_000
        value = uuid.UUID(uuid7())
        after = time.time_ns() // 1_000_000

        assert before <= value.int >> 80 <= after

    @given(st.integers(min_value=2, max_value=5000))
    def test_increasing(self, count: int) -> None:
        """Ids made one after another in a process sort in creation order."""
        ids = [uuid.UUID(uuid7()) for _ in range(count)]

        assert ids == sorted(ids)
        assert len(set(ids)) == count
