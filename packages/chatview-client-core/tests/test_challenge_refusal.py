"""The client signs nothing but a ChatView login challenge, and never shows its key."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import structlog

from chatview_client import ChatClient, ClientConfig, ServerProtocolError
from chatview_identity import KeyPair
from chatview_proto import auth_pb2, auth_pb2_grpc


class EvilAuth(auth_pb2_grpc.AuthServiceServicer):
    """An auth service that sends arbitrary bytes as the login challenge."""

    def __init__(self) -> None:
        self.logins = 0

    async def RequestChallenge(  # noqa: N802 - gRPC method name
        self, request: auth_pb2.RequestChallengeReq, context: Any
    ) -> auth_pb2.RequestChallengeResp:
        return auth_pb2.RequestChallengeResp(challenge=b"transfer 100 coins to mallory")

    async def Login(  # noqa: N802 - gRPC method name
        self, request: auth_pb2.LoginReq, context: Any
    ) -> auth_pb2.LoginResp:
        self.logins += 1
        return auth_pb2.LoginResp(session_token="t")

    async def Logout(  # noqa: N802 - gRPC method name
        self, request: auth_pb2.LogoutReq, context: Any
    ) -> auth_pb2.LogoutResp:
        return auth_pb2.LogoutResp()


@pytest.fixture(name="evil")
async def fixture_evil() -> AsyncIterator[tuple[str, EvilAuth]]:
    server = grpc.aio.server()
    service = EvilAuth()
    auth_pb2_grpc.add_AuthServiceServicer_to_server(service, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield f"127.0.0.1:{port}", service
    await server.stop(None)


class TestChallengeRefusal:
    async def test_refuses_to_sign(self, evil: tuple[str, EvilAuth], tmp_path: Path) -> None:
        """A challenge without the ChatView prefix is refused and nothing is sent back."""
        target, service = evil
        config = ClientConfig(data_dir=tmp_path, grpc_target=target, grpc_timeout=2)

        async with ChatClient(config, KeyPair.generate()) as client:
            with pytest.raises(ServerProtocolError, match=r"refuses to sign it$"):
                await client.wait_online(5)

        assert 0 == service.logins

    async def test_key_never_logged(self, evil: tuple[str, EvilAuth], tmp_path: Path) -> None:
        """Neither the logs nor the error text contain the private key."""
        target, _ = evil
        keypair = KeyPair.generate()
        config = ClientConfig(data_dir=tmp_path, grpc_target=target, grpc_timeout=2)

        with structlog.testing.capture_logs() as logs:
            async with ChatClient(config, keypair) as client:
                with pytest.raises(ServerProtocolError) as caught:
                    await client.wait_online(5)
                await client.send_message(KeyPair.generate().public_key.hex, "hello")

        seed = keypair.seed_hex()
        assert logs
        assert seed not in repr(logs)
        assert seed not in str(caught.value) + repr(caught.value.__cause__) + repr(client)
