"""The app's own settings: language, server and TLS, kept as JSON in the data folder.

The client library's configuration (YAML file, ``CHATVIEW_*`` variables) gives
the defaults; what the person picks in the settings screen is stored here and
wins over them. A missing or damaged file gives the defaults back, so a bad
write can never keep the app from starting.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import attrs
import structlog

from ._i18n import LANGUAGES

__all__ = ["SETTINGS_FILE", "AppSettings", "load_settings", "save_settings"]

_log = structlog.get_logger("chatview_kivy.settings")

SETTINGS_FILE = "kivy-settings.json"


def _check_language(_instance: object, _attribute: object, value: str | None) -> None:
    if value is not None and value not in LANGUAGES:
        msg = f"language must be one of {sorted(LANGUAGES)} or None, got {value!r}"
        raise ValueError(msg)


@attrs.frozen(kw_only=True)
class AppSettings:
    """What the settings screen changes.

    Attributes:
        language: ``"en"`` or ``"zh_CN"``; None follows the system locale.
        grpc_target: the server as ``host:port``; None keeps the client default.
        grpc_tls: use TLS; None lets the client decide (off for loopback only).
    """

    language: str | None = attrs.field(default=None, validator=_check_language)
    grpc_target: str | None = None
    grpc_tls: bool | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the settings as a JSON-ready mapping."""
        return attrs.asdict(self)


def load_settings(data_dir: Path) -> AppSettings:
    """Read the settings stored in ``data_dir``; defaults when absent or unreadable."""
    path = data_dir / SETTINGS_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return AppSettings()
    except (OSError, ValueError) as exc:
        _log.warning("settings.load.failed", path=str(path), error=str(exc))
        return AppSettings()
    if not isinstance(raw, dict):
        _log.warning("settings.load.failed", path=str(path), error="not a JSON object")
        return AppSettings()

    known = {field.name for field in attrs.fields(AppSettings)}
    values = {key: value for key, value in raw.items() if key in known}
    try:
        return AppSettings(**values)
    except (TypeError, ValueError) as exc:
        _log.warning("settings.load.failed", path=str(path), error=str(exc))
        return AppSettings()


def save_settings(data_dir: Path, settings: AppSettings) -> None:
    """Write the settings atomically (a temporary file renamed over the old one)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / SETTINGS_FILE
    fd, tmp = tempfile.mkstemp(prefix=".settings-", dir=data_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(settings.to_json(), handle, ensure_ascii=False, indent=2)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _log.info("settings.saved", path=str(path))
