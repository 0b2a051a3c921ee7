"""Token expiry or revocation during a long stream: a stream that goes on serving
after its session expired or was revoked.

A stream ends with UNAUTHENTICATED when its session expires (TTL scaled from 60 s to
2 s) and when the session is revoked (Logout, which is how a session is revoked),
and unary calls with that token fail. The case's 1 s bound is allowed 5 s.
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest

from chatview_server.testing import ProtocolClient, ServerProcess

from .conftest import Subscriber


@pytest.fixture(scope="module")
def short_server(module_dsn: str, relaxed_limits: dict[str, object]) -> Iterator[ServerProcess]:
    with ServerProcess(dsn=module_dsn, config={"session_ttl": "2s", **relaxed_limits}) as process:
        yield process


class TestRevokedSession:
    async def test_expired_session_ends_stream(
        self, short_server: ServerProcess, subscribe: Subscriber
    ) -> None:
        """A stream ends with UNAUTHENTICATED once its session expires."""
        async with grpc.aio.insecure_channel(short_server.address) as channel:
            expiring = await ProtocolClient(channel).login()
            stream = await subscribe(expiring, "a1")

            assert grpc.StatusCode.UNAUTHENTICATED == await stream.ended(within=6.0)

    async def test_revoked_session_ends_stream(
        self, server: ServerProcess, subscribe: Subscriber
    ) -> None:
        """A revoked session's stream ends at once and its token is refused; the same
        user's other session lives on."""
        async with grpc.aio.insecure_channel(server.address) as channel:
            revoked = await ProtocolClient(channel).login()
            other = await ProtocolClient(channel, revoked.keypair, client_id="a2").login()
            revoked_stream = await subscribe(revoked, "a1")
            other_stream = await subscribe(other, "a2")
            await revoked.logout()

            assert grpc.StatusCode.UNAUTHENTICATED == await revoked_stream.ended(within=5.0)
            with pytest.raises(grpc.aio.AioRpcError) as failure:
                await revoked.friends()
            assert grpc.StatusCode.UNAUTHENTICATED == failure.value.code()
            await other.friends()
            assert other_stream.error is None
