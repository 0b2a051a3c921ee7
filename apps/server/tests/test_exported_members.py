"""The public API: every package's __all__ is sorted and complete."""

from __future__ import annotations

import types

import pytest

import chatview_server
import chatview_server.testing


def _ruff_order(name: str) -> tuple[int, str]:
    # The order ruff's RUF022 keeps: CONSTANTS, then Classes, then functions.
    if name.isupper():
        return (0, name)
    if name[:1].isupper():
        return (1, name)
    return (2, name)


@pytest.mark.parametrize("module", [chatview_server, chatview_server.testing])
class TestExportedMembers:
    def test_sorted(self, module: types.ModuleType) -> None:
        """__all__ is sorted, so additions land in one obvious place."""
        assert sorted(module.__all__, key=_ruff_order) == list(module.__all__)

    def test_complete(self, module: types.ModuleType) -> None:
        """Every public name defined in the package is in __all__, and every entry exists."""
        # dir() includes the names the package imports on first use.
        public = {
            name
            for name in dir(module)
            if not name.startswith("_") and not isinstance(getattr(module, name), types.ModuleType)
        }
        assert public == set(module.__all__)
        for name in module.__all__:
            assert hasattr(module, name)
