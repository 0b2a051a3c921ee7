"""Fixtures shared by the chatview_store_pg tests.

Each test that needs the database gets a fresh one with the store schema (the
``store_dsn`` fixture from chatview_store_pg.testing), so tests never see each other's
rows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from chatview_store_pg import Store, open_store

from .support import UserFactory, key_of


@pytest.fixture(name="store")
async def fixture_store(store_dsn: str) -> AsyncIterator[Store]:
    """An open Store on a fresh database with the schema."""
    store = await open_store(store_dsn)
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture(name="make_users")
def fixture_make_users(store: Store) -> UserFactory:
    """Create `count` users (keys 1, 2, 3, ...) and return their keys."""

    async def make(count: int) -> list[str]:
        keys = [key_of(number) for number in range(1, count + 1)]
        for key in keys:
            await store.ensure_user(key)
        return keys

    return make
