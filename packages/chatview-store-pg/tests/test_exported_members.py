"""The package exports exactly its public names, in order."""

from __future__ import annotations

import chatview_store_pg
import chatview_store_pg.testing


def _isort_key(name: str) -> tuple[int, str]:
    # The order ruff's RUF022 enforces: CONSTANTS, then Classes, then functions.
    if name.isupper():
        return (0, name)
    if name[:1].isupper():
        return (1, name)
    return (2, name)


class TestExportedMembers:
    def test_all_is_sorted(self) -> None:
        """__all__ is sorted so additions are easy to review."""
        names = chatview_store_pg.__all__

        assert names == sorted(names, key=_isort_key)

    def test_all_is_complete(self) -> None:
        """Every public attribute of the package is listed in __all__."""
        public = {
            name
            for name in dir(chatview_store_pg)
            if name[:1] not in {"_", "@"} and name != "testing"
        }

        assert set(chatview_store_pg.__all__) == public

    def test_exports_resolve(self) -> None:
        """Every name in __all__ exists."""
        missing = [
            name for name in chatview_store_pg.__all__ if not hasattr(chatview_store_pg, name)
        ]

        assert missing == []

    def test_testing_all_is_sorted_and_complete(self) -> None:
        """The testing module's __all__ is sorted and names all its public attributes."""
        module = chatview_store_pg.testing
        public = {name for name in dir(module) if name[:1] not in {"_", "@"}}
        public.discard("pytest_plugin")

        assert module.__all__ == sorted(module.__all__, key=_isort_key)
        assert set(module.__all__) == public
