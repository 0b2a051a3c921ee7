"""The package root re-exports its public API in a sorted, complete `__all__`."""

from __future__ import annotations

import chatview_cli


class TestExportedMembers:
    def test_all_sorted(self) -> None:
        """`__all__` is sorted, classes before functions."""
        key = lambda name: (not name[0].isupper(), name)  # noqa: E731
        assert sorted(chatview_cli.__all__, key=key) == chatview_cli.__all__

    def test_all_resolvable(self) -> None:
        """Every listed name exists on the package."""
        assert all(hasattr(chatview_cli, name) for name in chatview_cli.__all__)
