"""Fixtures shared by the hub tests: a small-queue hub of string events and its presence log."""

from __future__ import annotations

import pytest

from chatview_hub import Hub, PresenceChange

SMALL_QUEUE = 4


@pytest.fixture(name="presence")
def fixture_presence() -> list[PresenceChange]:
    """The presence changes the ``hub`` fixture reported, in order."""
    return []


@pytest.fixture(name="hub")
def fixture_hub(presence: list[PresenceChange]) -> Hub[str]:
    """A hub whose connections hold at most four events."""
    return Hub(max_queue_size=SMALL_QUEUE, on_presence=presence.append)
