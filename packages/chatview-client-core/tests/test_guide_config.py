"""The client guides list every configuration key."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from chatview_client import ClientConfig

DOCS = Path(__file__).parents[3] / "docs"


class TestGuideConfig:
    @pytest.mark.parametrize("name", ["client-guide.md", "client-guide.zh-CN.md"])
    def test_every_key(self, name: str) -> None:
        """Each field of ClientConfig has a row in the guide's configuration table."""
        rows = [
            line
            for line in (DOCS / name).read_text(encoding="utf-8").splitlines()
            if line.startswith("| `")
        ]
        missing = [
            field.name
            for field in attrs.fields(ClientConfig)
            if not any(f"`{field.name}`" in row.split(" | ")[0] for row in rows)
        ]

        assert [] == missing
