"""The package's public surface: `__all__` is sorted, complete and points at itself."""

from __future__ import annotations

import re

import chatview_identity


def _isort_key(name: str) -> tuple[int, str]:
    # The order ruff's RUF022 enforces: CONSTANTS, then CamelCase, then the rest.
    if re.fullmatch(r"[A-Z0-9_]+", name):
        return (0, name)
    if name[:1].isupper():
        return (1, name)
    return (2, name)


class TestAll:
    def test_sorted(self) -> None:
        """`__all__` lists names in isort order."""
        exported = chatview_identity.__all__

        assert sorted(exported, key=_isort_key) == exported

    def test_complete(self) -> None:
        """Every public name in the package namespace is in `__all__`, and nothing else."""
        public = {name for name in vars(chatview_identity) if not name.startswith("_")}

        assert set(chatview_identity.__all__) == public

    def test_no_duplicates(self) -> None:
        """No name is listed twice."""
        exported = chatview_identity.__all__

        assert len(set(exported)) == len(exported)

    def test_public_module_path(self) -> None:
        """Classes and functions show the public module, not the private one they live in."""
        for name in chatview_identity.__all__:
            value = getattr(chatview_identity, name)
            if isinstance(value, type) or callable(value):
                assert value.__module__ == "chatview_identity", name
