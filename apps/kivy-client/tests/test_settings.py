"""Settings survive a restart and never stop the app from starting."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chatview_kivy._settings import SETTINGS_FILE, AppSettings, load_settings, save_settings


class TestSettings:
    def test_round_trip(self, tmp_path: Path) -> None:
        """What is saved is loaded back."""
        settings = AppSettings(language="zh_CN", grpc_target="127.0.0.1:6000", grpc_tls=False)
        save_settings(tmp_path, settings)
        assert settings == load_settings(tmp_path)

    def test_missing_file_defaults(self, tmp_path: Path) -> None:
        """No file means the defaults: follow the system, client configuration."""
        assert AppSettings() == load_settings(tmp_path)

    @pytest.mark.parametrize("content", ["{broken", "[1, 2]", '{"language": "xx"}'])
    def test_damaged_file_defaults(self, tmp_path: Path, content: str) -> None:
        """A damaged or invalid file gives the defaults instead of a crash."""
        (tmp_path / SETTINGS_FILE).write_text(content, encoding="utf-8")
        assert AppSettings() == load_settings(tmp_path)

    def test_unknown_keys_ignored(self, tmp_path: Path) -> None:
        """Keys from a newer version are skipped, known ones kept."""
        data = {"language": "en", "future": 1}
        (tmp_path / SETTINGS_FILE).write_text(json.dumps(data), encoding="utf-8")
        assert AppSettings(language="en") == load_settings(tmp_path)

    def test_bad_language_refused(self) -> None:
        """An unshipped language is refused by name."""
        with pytest.raises(ValueError, match=r"^language must be one of"):
            AppSettings(language="fr")
