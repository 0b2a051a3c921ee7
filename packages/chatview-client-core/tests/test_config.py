"""Configuration: defaults, YAML, environment and explicit values."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatview_client import ClientConfig, ConfigError, is_loopback_target, load_config


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


class TestDefaults:
    def test_target(self) -> None:
        """The default server is the local one on port 50051."""
        assert "127.0.0.1:50051" == ClientConfig().grpc_target

    def test_timeout(self) -> None:
        """Calls have a 10 s deadline by default."""
        assert 10.0 == ClientConfig().grpc_timeout

    def test_tls_off_loopback(self) -> None:
        """TLS is off by default for a loopback target."""
        assert not ClientConfig(grpc_target="localhost:50051").use_tls

    def test_tls_on_remote(self) -> None:
        """TLS is on by default for any other host."""
        assert ClientConfig(grpc_target="chat.example.org:443").use_tls

    def test_tls_explicit(self) -> None:
        """An explicit grpc_tls wins over the target."""
        assert ClientConfig(grpc_target="127.0.0.1:1", grpc_tls=True).use_tls

    def test_cache_per_identity(self, tmp_path: Path) -> None:
        """Each identity has its own cache file in data_dir."""
        config = ClientConfig(data_dir=tmp_path)

        assert tmp_path / "cache" / ("ab" * 32 + ".sqlite3") == config.cache_path("ab" * 32)

    def test_rejects_zero_timeout(self) -> None:
        """A deadline of zero is refused."""
        with pytest.raises(ConfigError, match=r"^grpc_timeout must be greater than 0, got 0"):
            ClientConfig(grpc_timeout=0)


class TestLoopback:
    @pytest.mark.parametrize(
        "target",
        [
            "127.0.0.1:50051",
            "localhost:1",
            "[::1]:50051",
            "dns:///localhost:5",
            "127.8.9.1:1",
            "unix:/tmp/socket",
            "ipv4:127.0.0.1:1",
        ],
    )
    def test_loopback(self, target: str) -> None:
        """Loopback addresses, localhost and unix sockets count as local."""
        assert is_loopback_target(target)

    @pytest.mark.parametrize("target", ["example.org:443", "10.0.0.1:50051", "[2001:db8::1]:1"])
    def test_remote(self, target: str) -> None:
        """Everything else is remote."""
        assert not is_loopback_target(target)


class TestLoadConfig:
    def test_yaml(self, tmp_path: Path) -> None:
        """Keys come from the YAML file."""
        path = write(tmp_path / "c.yaml", "grpc_target: example.org:443\ngrpc_timeout: 2s\n")

        config = load_config(path, env={})

        assert ("example.org:443", 2.0) == (config.grpc_target, config.grpc_timeout)

    def test_env_over_yaml(self, tmp_path: Path) -> None:
        """The environment wins over the file."""
        path = write(tmp_path / "c.yaml", "grpc_target: a:1\n")

        config = load_config(path, env={"CHATVIEW_GRPC_TARGET": "b:2"})

        assert "b:2" == config.grpc_target

    def test_args_over_env(self) -> None:
        """Explicit values win over the environment; None means not given."""
        config = load_config(
            env={"CHATVIEW_GRPC_TARGET": "b:2", "CHATVIEW_GRPC_TIMEOUT": "3"},
            grpc_target="c:3",
            grpc_timeout=None,
        )

        assert ("c:3", 3.0) == (config.grpc_target, config.grpc_timeout)

    def test_config_env_path(self, tmp_path: Path) -> None:
        """CHATVIEW_CONFIG names the file when no path is given."""
        path = write(tmp_path / "c.yaml", "grpc_target: d:4\n")

        assert "d:4" == load_config(env={"CHATVIEW_CONFIG": str(path)}).grpc_target

    @pytest.mark.parametrize(
        ("text", "seconds"), [("250ms", 0.25), ("10s", 10.0), ("2m", 120.0), ("1.5", 1.5)]
    )
    def test_durations(self, text: str, seconds: float) -> None:
        """Durations take ms, s, m and h units, or plain seconds."""
        assert seconds == load_config(env={"CHATVIEW_GRPC_TIMEOUT": text}).grpc_timeout

    @pytest.mark.parametrize(("text", "value"), [("true", True), ("0", False), ("auto", None)])
    def test_tls_values(self, text: str, value: bool | None) -> None:
        """grpc_tls takes true, false or auto."""
        assert value == load_config(env={"CHATVIEW_GRPC_TLS": text}).grpc_tls

    def test_unknown_key(self, tmp_path: Path) -> None:
        """A misspelled key in the file is an error, not ignored."""
        path = write(tmp_path / "c.yaml", "grpc_targt: x:1\n")

        with pytest.raises(ConfigError, match=r"^unknown configuration key 'grpc_targt'"):
            load_config(path, env={})

    def test_bad_duration(self) -> None:
        """A duration that cannot be read names the variable and the value."""
        with pytest.raises(
            ConfigError, match=r"^grpc_timeout from environment variable CHATVIEW_GRPC_TIMEOUT"
        ):
            load_config(env={"CHATVIEW_GRPC_TIMEOUT": "soon"})

    def test_missing_file(self, tmp_path: Path) -> None:
        """A named file that does not exist is an error."""
        with pytest.raises(ConfigError, match=r"^cannot read configuration file"):
            load_config(tmp_path / "none.yaml", env={})

    def test_not_mapping(self, tmp_path: Path) -> None:
        """A YAML file that is not a mapping is refused."""
        path = write(tmp_path / "c.yaml", "- a\n- b\n")

        with pytest.raises(ConfigError, match=r"must hold a mapping of keys to values, not a list"):
            load_config(path, env={})

    def test_data_dir_expanded(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """A ~ in data_dir is the home folder."""
        monkeypatch.setenv("HOME", str(tmp_path))

        assert tmp_path / "cv" == load_config(env={"CHATVIEW_DATA_DIR": "~/cv"}).data_dir
