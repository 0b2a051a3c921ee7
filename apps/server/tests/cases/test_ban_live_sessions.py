"""A ban that leaves live sessions working: streams that stay open, tokens still
accepted, and a banned user who still looks online.

Banning revokes every session and ends every stream with ``force_offline`` (reason
``account_banned``) followed by PERMISSION_DENIED. The ban reason text of the case
(``发布广告 spam``) has no field on the wire: the reason code is fixed. Alice's
message to Mallory after the ban is stored for later and not delivered live. The
case's 1 s bounds are allowed 5 s against a loaded machine.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import grpc
import pytest

from chatview_identity import KeyPair
from chatview_proto import admin_pb2
from chatview_proto.common import types_pb2
from chatview_server.testing import ProtocolClient

from .conftest import Subscriber

ClientFactory = Callable[..., Awaitable[ProtocolClient]]


async def set_status(admin: ProtocolClient, key: str, status: int) -> None:
    await admin.admin.SetUserStatus(
        admin_pb2.SetUserStatusReq(target_public_key=key, status=status),  # type: ignore[arg-type]
        metadata=admin.metadata,
    )


async def refused(call: Awaitable[object]) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await call
    return failure.value.code()


class TestBanLiveSessions:
    async def test_ban_ends_streams_and_tokens(
        self, connect: ClientFactory, admin: ProtocolClient, subscribe: Subscriber
    ) -> None:
        """Both streams get force_offline then end; old tokens and logins are refused."""
        mallory_key = KeyPair.generate()
        m1 = await connect(mallory_key, client_id="m1")
        m2 = await connect(mallory_key, client_id="m2")
        alice = await connect(client_id="a1")
        await alice.add_friend(m1.key, "mallory")
        await m1.add_friend(alice.key, "alice")
        m1_stream, m2_stream = await subscribe(m1, "m1"), await subscribe(m2, "m2")
        alice_stream = await subscribe(alice, "a1")
        await alice_stream.events("friend_status", quiet=0.3)

        await set_status(admin, m1.key, types_pb2.USER_STATUS_BANNED)
        await alice.send(m1.key, "test after ban")

        for stream in (m1_stream, m2_stream):
            forced = await stream.next("force_offline", within=5.0)
            assert "account_banned" == forced.force_offline.reason
            assert grpc.StatusCode.PERMISSION_DENIED == await stream.ended(within=5.0)
        status = await alice_stream.next("friend_status", within=5.0)
        assert (m1.key, False) == (status.friend_status.public_key, status.friend_status.is_online)
        assert grpc.StatusCode.UNAUTHENTICATED == await refused(m1.send(alice.key, "spam"))
        assert grpc.StatusCode.UNAUTHENTICATED == await refused(m2.friends())
        login = ProtocolClient(m1.channel, mallory_key).login()
        assert grpc.StatusCode.PERMISSION_DENIED == await refused(login)

        await set_status(admin, m1.key, types_pb2.USER_STATUS_ACTIVE)
        again = await connect(mallory_key, client_id="m1")
        history = (await again.history(alice.key)).page.messages
        assert ["test after ban"] == [m.text for m in history]
        assert grpc.StatusCode.UNAUTHENTICATED == await refused(m1.friends())
