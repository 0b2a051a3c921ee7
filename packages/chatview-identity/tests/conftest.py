"""Fixtures shared by the chatview_identity tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatview_identity import KdfLimits, KeyFile

# The documented test-only Argon2id limits: microseconds instead of about 0.1 s.
FAST_LIMITS = KdfLimits.insecure_minimum()


@pytest.fixture(name="key_file")
def fixture_key_file(tmp_path: Path) -> KeyFile:
    """A key file path in a fresh directory; the file itself does not exist yet."""
    return KeyFile(tmp_path / "identity" / "chatview.key")
