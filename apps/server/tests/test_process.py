"""The server as a process: embedded PostgreSQL, kill and restart, signals, health, TLS."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from chatview_proto import auth_pb2, auth_pb2_grpc, chat_pb2
from chatview_server import SERVICE_NAMES, migrations
from chatview_server.testing import ProtocolClient, ServerProcess
from chatview_store_pg.testing import TemporaryPostgres

ServerFactory = Callable[..., ServerProcess]


def _wait_for_file(path: Path, process: subprocess.Popen[bytes], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, f"server exited with {process.returncode}"
        assert time.monotonic() < deadline, f"no {path.name} within {timeout} s"
        time.sleep(0.05)
    return path.read_text().strip()


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    """An empty folder standing in for the user's data folder (XDG_DATA_HOME)."""
    folder = tmp_path / "xdg-data"
    folder.mkdir()
    # The embedded PostgreSQL runs as another user when the tests run as root.
    for parent in (tmp_path, folder):
        parent.chmod(0o755)
    yield folder
    pgdata = folder / "chatview-server" / "postgres"
    if (pgdata / "postmaster.pid").exists():
        from chatview_server._embedded import stop_cluster

        stop_cluster(pgdata)


def _start_without_config(home: Path, port_file: Path, listen: str) -> subprocess.Popen[bytes]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CHATVIEW_")}
    environ["XDG_DATA_HOME"] = str(home)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chatview_server",
            "--listen-addr",
            listen,
            "--port-file",
            str(port_file),
        ],
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


class TestEmbeddedDatabase:
    async def test_data_survives_kill(self, home: Path, tmp_path: Path) -> None:
        """No configuration: embedded PostgreSQL in the user data folder; SIGKILL keeps the data."""
        port_file = tmp_path / "port"
        first = _start_without_config(home, port_file, "127.0.0.1:0")
        try:
            address = _wait_for_file(port_file, first, 120)
            async with grpc.aio.insecure_channel(address) as channel:
                alice = await ProtocolClient(channel).login()
                bob = await ProtocolClient(channel).login()
                await alice.send(bob.key, "kept across a kill")
        finally:
            first.kill()
            first.wait()
        assert (home / "chatview-server" / "postgres" / "PG_VERSION").exists()

        port_file.unlink()
        second = _start_without_config(home, port_file, address)
        try:
            assert address == _wait_for_file(port_file, second, 120)
            async with grpc.aio.insecure_channel(address) as channel:
                bob_again = await ProtocolClient(channel, bob.keypair).login()
                page = (await bob_again.history(alice.key)).page
            assert ["kept across a kill"] == [m.text for m in page.messages]
        finally:
            second.send_signal(signal.SIGTERM)
            _, stderr = second.communicate(timeout=60)
        assert 0 == second.returncode, stderr.decode(errors="replace")[-2000:]
        assert b"server.listening" in stderr
        assert not (home / "chatview-server" / "postgres" / "postmaster.pid").exists()


class TestSignals:
    @pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
    async def test_clean_exit(self, chatview_server_factory: ServerFactory, signum: int) -> None:
        """SIGTERM or SIGINT ends open streams with UNAVAILABLE and exits 0 within the grace."""
        server = chatview_server_factory(config={"shutdown_grace": "2s"})
        async with grpc.aio.insecure_channel(server.address) as channel:
            user = await ProtocolClient(channel).login()
            stream = await user.subscribe()
            started = time.monotonic()

            server.send_signal(signum)
            with pytest.raises(grpc.aio.AioRpcError) as failure:
                await stream.read()
            status = server.wait(timeout=10)

        assert grpc.StatusCode.UNAVAILABLE == failure.value.code()
        assert 0 == status
        # The grace period is 2 s; the margin covers stopping PostgreSQL on a busy machine.
        assert time.monotonic() - started < 2 + 10
        assert "server.stopped" in server.log_text()
        assert not server.port_file.exists()

    async def test_restart_same_port(self, chatview_server_factory: ServerFactory) -> None:
        """A restarted server serves on the same address with the same data."""
        server = chatview_server_factory()
        async with grpc.aio.insecure_channel(server.address) as channel:
            alice = await ProtocolClient(channel).login()
            address = server.address

            assert -signal.SIGKILL == server.kill()
            server.restart()

            assert address == server.address
            await alice.friends()


class TestDiscovery:
    def test_health_serving(self, server: ServerProcess) -> None:
        """The standard health check reports SERVING for the server and each service."""
        with grpc.insecure_channel(server.address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            for name in ("", *SERVICE_NAMES):
                reply = stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
                assert health_pb2.HealthCheckResponse.SERVING == reply.status

    def test_reflection_lists_services(self, server: ServerProcess) -> None:
        """Server reflection lists the four ChatView services, health and reflection."""
        with grpc.insecure_channel(server.address) as channel:
            services = set(ProtoReflectionDescriptorDatabase(channel).get_services())

        assert set(SERVICE_NAMES) <= services
        assert "grpc.health.v1.Health" in services
        assert {
            "chatview.auth.AuthService",
            "chatview.chat.ChatService",
            "chatview.events.EventService",
            "chatview.admin.AdminService",
        } == set(SERVICE_NAMES)


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, made by openssl."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
class TestTls:
    async def test_tls_login(
        self, chatview_server_factory: ServerFactory, certificate: tuple[Path, Path]
    ) -> None:
        """With tls_cert and tls_key the server speaks TLS only."""
        cert, key = certificate
        server = chatview_server_factory(config={"tls_cert": cert, "tls_key": key})
        credentials = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())

        async with grpc.aio.secure_channel(server.address, credentials) as channel:
            client = await ProtocolClient(channel).login()
            reply = await client.chat.ListFriends(
                chat_pb2.ListFriendsReq(), metadata=client.metadata
            )
        async with grpc.aio.insecure_channel(server.address) as plain:
            with pytest.raises(grpc.aio.AioRpcError) as failure:
                await auth_pb2_grpc.AuthServiceStub(plain).RequestChallenge(
                    auth_pb2.RequestChallengeReq(public_key=client.key), timeout=5
                )

        assert [] == list(reply.friends)
        assert grpc.StatusCode.UNAVAILABLE == failure.value.code()


class TestDbCommands:
    def test_downgrade_upgrade_current(self, chatview_postgres: TemporaryPostgres) -> None:
        """db upgrade, current and downgrade run the migrations against db_dsn."""
        dsn = chatview_postgres.create_database()
        environ = {k: v for k, v in os.environ.items() if not k.startswith("CHATVIEW_")}
        environ["CHATVIEW_DB_DSN"] = dsn

        def db(*args: str) -> str:
            result = subprocess.run(
                [sys.executable, "-m", "chatview_server", "db", *args],
                env=environ,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert 0 == result.returncode, result.stderr
            return result.stdout.strip()

        try:
            assert db("current").startswith("none")
            assert migrations.HEAD == db("upgrade")
            assert migrations.HEAD == db("current")
            assert db("downgrade", "base").startswith("none")
        finally:
            chatview_postgres.drop_database(dsn)
