"""The shipped deployment files: the production configuration and the systemd unit."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from chatview_server._config import parse_duration
from chatview_server.testing import make_test_certificates

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
PRODUCTION = DEPLOY / "production.yaml"
UNIT = DEPLOY / "chatview-server.service"


def _unit_settings() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in UNIT.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def _check_config(env_overrides: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("CHATVIEW_")}
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "-m", "chatview_server", "check-config", "--config", str(PRODUCTION)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


class TestProductionConfig:
    def test_check_config(self, tmp_path: Path) -> None:
        """With its certificate files present, check-config accepts the file."""
        certificates = make_test_certificates(tmp_path)

        result = _check_config(
            {
                "CHATVIEW_TLS_CERT": str(certificates.cert_chain),
                "CHATVIEW_TLS_KEY": str(certificates.key),
                "CHATVIEW_DB_DSN": "postgresql://chatview:hunter2@db.internal:5432/chatview",
            }
        )
        shown = yaml.safe_load(result.stdout)

        assert result.returncode == 0, result.stderr
        assert shown["metrics_addr"] == "127.0.0.1:9464"
        assert shown["db_dsn"] == "postgresql://chatview:***@db.internal:5432/chatview"
        assert shown["log_format"] == "json"

    def test_needs_certificates(self) -> None:
        """Without the certificate files the configuration is refused, exit status 2."""
        result = _check_config({})

        assert result.returncode == 2
        assert "tls_cert" in result.stderr


class TestSystemdUnit:
    def test_hardening(self) -> None:
        """The unit runs as its own user with the hardening options set."""
        settings = _unit_settings()

        expected = {
            "User": ["chatview"],
            "NoNewPrivileges": ["yes"],
            "ProtectSystem": ["strict"],
            "ReadWritePaths": ["/var/lib/chatview-server"],
            "Restart": ["on-failure"],
            "KillSignal": ["SIGTERM"],
        }

        assert {key: settings.get(key) for key in expected} == expected

    def test_stop_timeout_above_grace(self) -> None:
        """systemd waits longer than the server's shutdown grace before SIGKILL."""
        timeout = parse_duration(_unit_settings()["TimeoutStopSec"][0])
        grace = parse_duration(
            yaml.safe_load(PRODUCTION.read_text(encoding="utf-8"))["shutdown_grace"]
        )

        assert timeout > grace

    @pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
    def test_systemd_accepts(self, tmp_path: Path) -> None:
        """systemd-analyze verify reports nothing (ExecStart pointed at a program that exists)."""
        text = UNIT.read_text(encoding="utf-8")
        lines = [
            "ExecStart=/bin/true" if line.startswith("ExecStart=") else line
            for line in text.splitlines()
        ]
        copy = tmp_path / UNIT.name
        copy.write_text("\n".join(lines) + "\n", encoding="utf-8")

        result = subprocess.run(
            ["systemd-analyze", "verify", str(copy)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

        assert (result.returncode, result.stderr.strip()) == (0, "")
