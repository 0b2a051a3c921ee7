"""Shared test setup: keep Kivy from reading pytest's arguments or writing to ~/.kivy."""

from __future__ import annotations

import os
import tempfile

# Set before any test module imports Kivy (the GUI driver runs in its own process).
os.environ.setdefault("KIVY_NO_ARGS", "1")
os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")
os.environ.setdefault("KIVY_HOME", tempfile.mkdtemp(prefix="chatview-kivy-home-"))
