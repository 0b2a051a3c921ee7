"""Configuration: parsing, precedence, errors, and the command line's exit statuses."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from chatview_server import CONFIG_KEYS, ConfigError, load_config
from chatview_server._config import format_duration, hide_dsn_password, parse_duration

KEY_HEX = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m chatview_server`` with a clean CHATVIEW_ environment."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CHATVIEW_")}
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "chatview_server", *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


class TestDurations:
    @pytest.mark.parametrize(
        ("text", "seconds"),
        [("30s", 30), ("5m", 300), ("24h", 86400), ("1h30m", 5400), ("250ms", 0.25), ("1.5s", 1.5)],
    )
    def test_parse(self, text: str, seconds: float) -> None:
        """Durations combine number-unit pairs."""
        assert timedelta(seconds=seconds) == parse_duration(text)

    @pytest.mark.parametrize("text", ["", "5", "5x", "m5", "1h 30m", "-5s", "5s5"])
    def test_reject(self, text: str) -> None:
        """Anything but number-unit pairs is rejected."""
        with pytest.raises(ValueError, match="duration"):
            parse_duration(text)

    @given(st.integers(min_value=0, max_value=10**9))
    def test_round_trip(self, milliseconds: int) -> None:
        """format_duration writes what parse_duration reads back to the millisecond."""
        value = timedelta(milliseconds=milliseconds)
        assert value == parse_duration(format_duration(value))


class TestPrecedence:
    def test_defaults(self) -> None:
        """With no source, the documented defaults apply."""
        config = load_config(environ={})

        assert ":50051" == config.listen_addr
        assert "" == config.db_dsn
        assert timedelta(hours=24) == config.session_ttl
        assert timedelta(minutes=5) == config.challenge_ttl
        assert timedelta(minutes=10) == config.cleanup_interval
        assert timedelta(minutes=5) == config.presence_heal_interval
        assert 4000 == config.max_message_chars
        assert 1024 * 1024 == config.max_grpc_message_bytes
        assert timedelta(seconds=10) == config.shutdown_grace
        assert not config.skip_migrations
        assert "chatview-server" == config.data_dir.name

    def test_layers(self) -> None:
        """Defaults < YAML < environment < flags, key by key."""
        config = load_config(
            yaml_values={"session_ttl": "1h", "challenge_ttl": "1m", "cleanup_interval": "1m"},
            environ={"CHATVIEW_CHALLENGE_TTL": "2m", "CHATVIEW_CLEANUP_INTERVAL": "2m"},
            flags={"cleanup_interval": "3m", "session_ttl": None},
        )

        assert timedelta(hours=1) == config.session_ttl
        assert timedelta(minutes=2) == config.challenge_ttl
        assert timedelta(minutes=3) == config.cleanup_interval
        assert timedelta(minutes=5) == config.presence_heal_interval

    def test_env_booleans_and_numbers(self) -> None:
        """Environment values are text and parse like YAML values."""
        config = load_config(
            environ={"CHATVIEW_SKIP_MIGRATIONS": "yes", "CHATVIEW_SEND_BURST": "7"}
        )
        assert config.skip_migrations
        assert 7 == config.send_burst

    def test_unrelated_env_ignored(self) -> None:
        """CHATVIEW_ variables that name no key (CHATVIEW_TEST_DSN) are ignored."""
        config = load_config(environ={"CHATVIEW_TEST_DSN": "postgresql://x/y"})
        assert "" == config.db_dsn

    def test_admin_key_canonical(self) -> None:
        """admin_pub_key is stored in canonical hex whatever the spelling."""
        config = load_config(environ={"CHATVIEW_ADMIN_PUB_KEY": "0x" + KEY_HEX.upper()})
        assert KEY_HEX == config.admin_pub_key


class TestErrors:
    def test_unknown_yaml_key(self) -> None:
        """An unknown YAML key is named."""
        with pytest.raises(ConfigError, match=r"^unknown config key 'listen_adr' in ") as caught:
            load_config(yaml_values={"listen_adr": ":1"}, environ={})
        assert "listen_adr" == caught.value.key

    @pytest.mark.parametrize(
        ("key", "value"),
        [
            ("session_ttl", "5x"),
            ("session_ttl", 30),
            ("session_ttl", "0s"),
            ("listen_addr", "50051"),
            ("listen_addr", "host:70000"),
            ("max_message_chars", "4001"),
            ("max_grpc_message_bytes", "1 GB"),
            ("log_format", "xml"),
            ("skip_migrations", "maybe"),
            ("admin_pub_key", "abc"),
            ("event_queue_size", "0"),
            ("send_rate_per_second", "-1"),
        ],
    )
    def test_bad_value(self, key: str, value: object) -> None:
        """A bad value names the key, the value and the source."""
        with pytest.raises(ConfigError) as caught:
            load_config(yaml_values={key: value}, environ={})

        message = str(caught.value)
        assert key == caught.value.key
        assert f"config key {key} (from config file)" in message
        assert repr(str(value)) in message
        assert "\n" not in message

    def test_secret_value_hidden(self) -> None:
        """A bad db_dsn is not echoed, because it may hold a password."""
        with pytest.raises(ConfigError) as caught:
            load_config(yaml_values={"db_dsn": ["postgresql://u:pw@h/db"]}, environ={})
        assert "pw" not in str(caught.value)

    def test_tls_needs_both(self, tmp_path: Path) -> None:
        """tls_cert without tls_key is an error naming the missing key."""
        cert = tmp_path / "cert.pem"
        cert.write_text("-----BEGIN CERTIFICATE-----\n")
        with pytest.raises(ConfigError, match="tls_key"):
            load_config(yaml_values={"tls_cert": str(cert)}, environ={})

    def test_unreadable_cert(self, tmp_path: Path) -> None:
        """A certificate that cannot be read is named with the reason."""
        with pytest.raises(ConfigError, match=r"cannot read tls_cert file .*missing\.pem"):
            load_config(
                yaml_values={"tls_cert": str(tmp_path / "missing.pem"), "tls_key": __file__},
                environ={},
            )

    def test_hide_dsn_password(self) -> None:
        """Passwords in the user part and in the query are hidden."""
        shown = hide_dsn_password("postgresql://app:s3cret@db:5432/chat?password=x&sslmode=require")
        assert "s3cret" not in shown
        assert "password=***" in shown
        assert "app:***@db:5432" in shown


class TestCommandLine:
    def test_check_config_precedence(self, tmp_path: Path) -> None:
        """check-config prints the layered result: flag over env over file over default."""
        config_file = tmp_path / "server.yaml"
        config_file.write_text(
            "session_ttl: 1h\nchallenge_ttl: 1m\ndb_dsn: postgresql://u:pw@h/d\n"
        )

        result = run_cli(
            "check-config",
            "--config",
            str(config_file),
            "--challenge-ttl",
            "3m",
            env={"CHATVIEW_CHALLENGE_TTL": "2m", "CHATVIEW_SEND_BURST": "9"},
        )

        assert 0 == result.returncode, result.stderr
        shown = yaml.safe_load(result.stdout)
        assert "1h" == shown["session_ttl"]
        assert "3m" == shown["challenge_ttl"]
        assert 9 == shown["send_burst"]
        assert "postgresql://u:***@h/d" == shown["db_dsn"]
        assert {key.name for key in CONFIG_KEYS} == set(shown)

    @pytest.mark.parametrize(
        ("args", "fragment"),
        [
            (["--session-ttl", "5x"], "session_ttl"),
            (["--listen-addr", "nowhere"], "listen_addr"),
            (
                ["--tls-cert", "/nonexistent/cert.pem", "--tls-key", "/nonexistent/key.pem"],
                "tls_cert",
            ),
            (["--no-such-flag"], "unrecognized arguments: --no-such-flag"),
        ],
    )
    def test_bad_flag_exits_2(self, tmp_path: Path, args: list[str], fragment: str) -> None:
        """A bad flag is one line on stderr, exit status 2, and nothing is started."""
        data_dir = tmp_path / "data"
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]

        started = time.monotonic()
        result = run_cli("--data-dir", str(data_dir), "--listen-addr", f"127.0.0.1:{port}", *args)

        assert 2 == result.returncode
        assert 1 == len(result.stderr.strip().splitlines()), result.stderr
        assert result.stderr.startswith("chatview-server: error: ")
        assert fragment in result.stderr
        assert not data_dir.exists()
        assert time.monotonic() - started < 30

    def test_unknown_yaml_key_exits_2(self, tmp_path: Path) -> None:
        """An unknown key in the file is one line naming key and file, exit status 2."""
        config_file = tmp_path / "server.yaml"
        config_file.write_text("listen_addr: ':0'\nsesion_ttl: 1h\n")

        result = run_cli("check-config", "--config", str(config_file))

        assert 2 == result.returncode
        assert 1 == len(result.stderr.strip().splitlines())
        assert "'sesion_ttl'" in result.stderr
        assert str(config_file) in result.stderr

    def test_bad_env_exits_2(self, tmp_path: Path) -> None:
        """A bad environment value names the variable."""
        result = run_cli(
            "--data-dir", str(tmp_path / "data"), env={"CHATVIEW_CLEANUP_INTERVAL": "often"}
        )

        assert 2 == result.returncode
        assert "CHATVIEW_CLEANUP_INTERVAL" in result.stderr
        assert "'often'" in result.stderr
        assert not (tmp_path / "data").exists()

    def test_unreadable_config_file(self, tmp_path: Path) -> None:
        """A missing config file is exit status 2 naming the file."""
        result = run_cli("check-config", "--config", str(tmp_path / "absent.yaml"))

        assert 2 == result.returncode
        assert "absent.yaml" in result.stderr

    def test_example_config_is_valid(self) -> None:
        """config.example.yaml names every key and loads as it is."""
        example = Path(__file__).parents[1] / "config.example.yaml"
        text = example.read_text(encoding="utf-8")

        result = run_cli("check-config", "--config", str(example))

        assert 0 == result.returncode, result.stderr
        for key in CONFIG_KEYS:
            assert f"{key.name}:" in text
