"""Configuration of several processes: the event backend, the NATS URLs and subject."""

from __future__ import annotations

import socket

import pytest

from chatview_server import ConfigError, ServerConfig, load_config
from chatview_server.testing import ServerProcess, ServerStartError


def _load(**values: object) -> ServerConfig:
    return load_config(yaml_values=values, environ={})


def _closed_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class TestEventBackendConfig:
    @pytest.mark.parametrize("name", ["local", "postgres", "nats", "NATS"])
    def test_backend_names(self, name: str) -> None:
        """The three backend names are accepted in upper or lower case."""
        assert name.lower() == _load(event_backend=name).event_backend

    def test_unknown_backend(self) -> None:
        """A broker the server does not speak is named in the error with the choices."""
        with pytest.raises(ConfigError, match=r"'redis'.*local, postgres, nats"):
            _load(event_backend="redis")

    def test_nats_defaults(self) -> None:
        """NATS defaults to the loopback server and the hub's subject."""
        config = _load()
        assert ("nats://127.0.0.1:4222", "chatview.hub") == (config.nats_url, config.nats_subject)

    def test_several_urls(self) -> None:
        """Comma-separated URLs are kept in order, spaces trimmed."""
        config = _load(nats_url=" nats://127.0.0.1:4222 , tls://[::1]:4443 ")
        assert "nats://127.0.0.1:4222,tls://[::1]:4443" == config.nats_url

    @pytest.mark.parametrize("url", ["", "127.0.0.1:4222", "http://127.0.0.1:4222", "nats://"])
    def test_bad_url(self, url: str) -> None:
        """A URL without the nats or tls scheme and a host is refused."""
        with pytest.raises(ConfigError, match="nats_url"):
            _load(nats_url=url)

    def test_url_credentials_hidden(self) -> None:
        """check-config shows neither a password nor a token of a NATS URL."""
        config = _load(nats_url="nats://user:pw1@127.0.0.1:4222,nats://tok3n@127.0.0.1:4223")
        shown = str(config.describe()["nats_url"])
        assert "nats://***@127.0.0.1:4222,nats://***@127.0.0.1:4223" == shown

    @pytest.mark.parametrize("subject", ["chatview.>", "chatview.*", "a..b", "", "a b"])
    def test_bad_subject(self, subject: str) -> None:
        """Wildcards and empty tokens would mix clusters, so they are refused."""
        with pytest.raises(ConfigError, match="nats_subject"):
            _load(nats_subject=subject)


class TestNatsUnreachable:
    def test_start_fails(self, module_dsn: str) -> None:
        """A server whose NATS does not answer fails to start and says which backend."""
        url = f"nats://127.0.0.1:{_closed_loopback_port()}"
        server = ServerProcess(dsn=module_dsn, config={"event_backend": "nats", "nats_url": url})
        with pytest.raises(ServerStartError) as failure, server:
            pass
        assert "cannot start the nats event backend" in str(failure.value)
