"""Helpers shared by the store tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

UserFactory = Callable[[int], Awaitable[list[str]]]
"""Type of the ``make_users`` fixture: create n users, return their keys."""


def key_of(number: int) -> str:
    """Return a canonical-looking public key made from `number` (not a real Ed25519 key)."""
    return f"{number:064x}"
