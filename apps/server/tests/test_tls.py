"""TLS with a private CA: the client library and the CLI log in, plaintext is refused."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest

from chatview_identity import KeyPair
from chatview_proto import auth_pb2, auth_pb2_grpc
from chatview_server.testing import (
    ProtocolClient,
    ServerProcess,
    TestCertificates,
    make_test_certificates,
)

ServerFactory = Callable[..., ServerProcess]


@pytest.fixture
def certificates(tmp_path: Path) -> TestCertificates:
    """A new CA and a server certificate it signed, for 127.0.0.1 and localhost."""
    return make_test_certificates(tmp_path)


@pytest.fixture
def tls_server(
    chatview_server_factory: ServerFactory, certificates: TestCertificates
) -> ServerProcess:
    """A server with tls_cert and tls_key set."""
    return chatview_server_factory(
        config={"tls_cert": certificates.cert_chain, "tls_key": certificates.key}
    )


class TestTls:
    async def test_raw_stubs(
        self, tls_server: ServerProcess, certificates: TestCertificates
    ) -> None:
        """A channel trusting only the CA logs in."""
        credentials = grpc.ssl_channel_credentials(certificates.ca_cert.read_bytes())

        async with grpc.aio.secure_channel(tls_server.address, credentials) as channel:
            client = await ProtocolClient(channel).login()

        assert client.token

    async def test_plaintext_refused(self, tls_server: ServerProcess) -> None:
        """A plaintext client's call fails."""
        async with grpc.aio.insecure_channel(tls_server.address) as channel:
            stub = auth_pb2_grpc.AuthServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as failure:
                await stub.RequestChallenge(
                    auth_pb2.RequestChallengeReq(public_key=KeyPair.generate().public_key.hex),
                    timeout=5,
                )

        assert failure.value.code() in (
            grpc.StatusCode.UNAVAILABLE,
            grpc.StatusCode.DEADLINE_EXCEEDED,
        )

    async def test_untrusted_refused(self, tls_server: ServerProcess, tmp_path: Path) -> None:
        """A client trusting another CA does not connect."""
        other_dir = tmp_path / "other"
        other_dir.mkdir()
        other = make_test_certificates(other_dir)
        credentials = grpc.ssl_channel_credentials(other.ca_cert.read_bytes())

        async with grpc.aio.secure_channel(tls_server.address, credentials) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as failure:
                await ProtocolClient(channel).login()

        assert failure.value.code() == grpc.StatusCode.UNAVAILABLE

    async def test_client_library(
        self, tls_server: ServerProcess, certificates: TestCertificates, tmp_path: Path
    ) -> None:
        """ChatClient with grpc_tls and grpc_ca_path logs in."""
        client_module = pytest.importorskip("chatview_client")
        config = client_module.ClientConfig(
            data_dir=tmp_path / "client",
            grpc_target=tls_server.address,
            grpc_tls=True,
            grpc_ca_path=certificates.ca_cert,
        )
        keypair = KeyPair.generate()

        async with client_module.ChatClient(config, keypair) as client:
            await client.wait_online(timeout=30)
            session = client.session

        assert session is not None
        assert session.public_key == keypair.public_key.hex

    def test_cli(
        self, tls_server: ServerProcess, certificates: TestCertificates, tmp_path: Path
    ) -> None:
        """``chatview --tls --ca FILE login`` logs in."""
        pytest.importorskip("chatview_cli")
        data_dir = tmp_path / "cli"
        env = {**os.environ, "CHATVIEW_PIN": "2468", "CHATVIEW_CONFIG": ""}
        common = [sys.executable, "-m", "chatview_cli", "--data-dir", str(data_dir)]
        subprocess.run(
            [*common, "id", "create"], env=env, check=True, capture_output=True, timeout=120
        )

        login = subprocess.run(
            [
                *common,
                *("--server", tls_server.address, "--tls", "--ca", str(certificates.ca_cert)),
                "login",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

        assert login.returncode == 0, login.stderr
        assert "logged in" in login.stdout
