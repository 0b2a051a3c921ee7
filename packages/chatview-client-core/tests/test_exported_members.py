"""The package root re-exports its public API in a sorted, complete `__all__`."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import chatview_client


def _ruff_order(name: str) -> tuple[int, str]:
    # Constants first, then classes, then functions: ruff's "isort-style" order.
    if name.isupper():
        return (0, name)
    if name[0].isupper():
        return (1, name)
    return (2, name)


class TestExportedMembers:
    def test_all_sorted(self) -> None:
        """`__all__` is sorted, so each addition has one obvious place."""
        assert sorted(chatview_client.__all__, key=_ruff_order) == chatview_client.__all__

    def test_all_complete(self) -> None:
        """Every public name of every private module is re-exported."""
        exported = set(chatview_client.__all__)
        missing = set()
        for module_info in pkgutil.iter_modules(chatview_client.__path__):
            module = importlib.import_module(f"chatview_client.{module_info.name}")
            for name in getattr(module, "__all__", ()):
                # Internal modules list helpers for each other; only those the
                # package root imports are the public API.
                if hasattr(chatview_client, name) and name not in exported:
                    missing.add(name)
        assert set() == missing

    def test_all_resolvable(self) -> None:
        """Every listed name exists on the package."""
        assert all(hasattr(chatview_client, name) for name in chatview_client.__all__)

    def test_public_module_path(self) -> None:
        """Exported classes show the public path in reprs."""
        classes = [
            value
            for name in chatview_client.__all__
            if inspect.isclass(value := getattr(chatview_client, name))
        ]
        assert [] == [cls for cls in classes if cls.__module__ != "chatview_client"]
