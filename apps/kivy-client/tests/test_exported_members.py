"""The package's public names are all exported, once, in ruff's sorted order."""

from __future__ import annotations

import chatview_kivy


def _ruff_order(name: str) -> tuple[int, str]:
    # Constants, then classes, then functions: ruff's isort-style order.
    if name.isupper():
        return (0, name)
    if name[0].isupper():
        return (1, name)
    return (2, name)


class TestAll:
    def test_sorted(self) -> None:
        """__all__ is sorted, so additions land in one obvious place."""
        assert sorted(chatview_kivy.__all__, key=_ruff_order) == chatview_kivy.__all__

    def test_complete(self) -> None:
        """Every public name of the package is in __all__, and every entry exists."""
        public = {
            name
            for name, value in vars(chatview_kivy).items()
            if not name.startswith("_") and not isinstance(value, type(chatview_kivy))
        }
        assert public == set(chatview_kivy.__all__)
