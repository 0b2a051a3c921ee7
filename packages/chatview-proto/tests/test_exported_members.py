"""The package root lists its generated modules in a sorted, complete `__all__`."""

from __future__ import annotations

import importlib
from pathlib import Path

import chatview_proto

SOURCE_DIR = Path(chatview_proto.__file__).parent


class TestExportedMembers:
    def test_all_sorted(self) -> None:
        """`__all__` is sorted so additions land in one obvious place."""
        assert sorted(chatview_proto.__all__) == chatview_proto.__all__

    def test_all_complete(self) -> None:
        """Every top-level generated module and subpackage is listed."""
        modules = {path.stem for path in SOURCE_DIR.glob("*_pb2*.py")}
        packages = {path.parent.name for path in SOURCE_DIR.glob("*/__init__.py")}

        assert modules | packages == set(chatview_proto.__all__)

    def test_all_importable(self) -> None:
        """Every listed name imports as a module of the package."""
        for name in chatview_proto.__all__:
            assert importlib.import_module(f"chatview_proto.{name}") is not None
