"""The status code of every kind of bad call, against real server processes.

Three processes share the module's database: the main server (relaxed limits), one
whose sessions last a second (expired tokens, stream expiry) and one with low rate
limits, a small event queue and a small maximum gRPC message size.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import grpc
import pytest

from chatview_identity import KeyPair
from chatview_proto import admin_pb2, auth_pb2, chat_pb2, events_pb2
from chatview_proto.common import types_pb2
from chatview_server.testing import ProtocolClient, ServerProcess

ClientFactory = Callable[..., Awaitable[ProtocolClient]]
Call = Callable[[ProtocolClient, Any], Awaitable[Any]]
PeerCall = Callable[[ProtocolClient, Any, str], Awaitable[Any]]

SHORT_TTL_SECONDS = 1.0


async def expect_status(call: Awaitable[Any], code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    """Await `call` and return its error, failing unless the status is `code`."""
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await call
    assert code == failure.value.code(), failure.value.details()
    return failure.value


def _some_key() -> str:
    return KeyPair.generate().public_key.hex


async def _subscribe_and_read(client: ProtocolClient, metadata: Any) -> Any:
    call = client.events.Subscribe(events_pb2.SubscribeReq(client_id="x"), metadata=metadata)
    return await call.read()


# Every method that needs a session, called with a valid body and the given metadata.
AUTHENTICATED_CALLS: dict[str, Call] = {
    "Logout": lambda c, md: c.auth.Logout(auth_pb2.LogoutReq(), metadata=md),
    "ListFriends": lambda c, md: c.chat.ListFriends(chat_pb2.ListFriendsReq(), metadata=md),
    "AddFriend": lambda c, md: c.chat.AddFriend(
        chat_pb2.AddFriendReq(target_public_key=_some_key()), metadata=md
    ),
    "SendMessage": lambda c, md: c.chat.SendMessage(
        chat_pb2.SendMessageReq(receiver_public_key=_some_key(), text="hi", client_message_id="1"),
        metadata=md,
    ),
    "GetMessageHistory": lambda c, md: c.chat.GetMessageHistory(
        chat_pb2.GetMessageHistoryReq(peer_public_key=_some_key()), metadata=md
    ),
    "MarkConversationRead": lambda c, md: c.chat.MarkConversationRead(
        chat_pb2.MarkConversationReadReq(peer_public_key=_some_key()), metadata=md
    ),
    "ListChangedConversations": lambda c, md: c.chat.ListChangedConversations(
        chat_pb2.ListChangedConversationsReq(), metadata=md
    ),
    "Subscribe": _subscribe_and_read,
    "SetUserStatus": lambda c, md: c.admin.SetUserStatus(
        admin_pb2.SetUserStatusReq(
            target_public_key=_some_key(), status=types_pb2.USER_STATUS_BANNED
        ),
        metadata=md,
    ),
    "Broadcast": lambda c, md: c.admin.Broadcast(admin_pb2.BroadcastReq(text="hi"), metadata=md),
    "PollAdminEvents": lambda c, md: c.admin.PollAdminEvents(
        admin_pb2.PollAdminEventsReq(), metadata=md
    ),
}
ADMIN_CALLS = ("SetUserStatus", "Broadcast", "PollAdminEvents")


@pytest.fixture(scope="module")
def short_ttl_server(module_dsn: str, admin_keypair: KeyPair) -> Iterator[ServerProcess]:
    """A second process on the module's database whose sessions last one second."""
    config: dict[str, object] = {
        "session_ttl": f"{int(SHORT_TTL_SECONDS * 1000)}ms",
        "admin_pub_key": admin_keypair.public_key.hex,
        "skip_migrations": True,
        "login_rate_per_minute": 1_000_000,
    }
    with ServerProcess(dsn=module_dsn, config=config) as process:
        yield process


@pytest.fixture(scope="module")
def limited_server(
    module_dsn: str, admin_keypair: KeyPair, server: ServerProcess
) -> Iterator[ServerProcess]:
    """A third process with low rate limits, a tiny event queue and 64 KiB messages."""
    config: dict[str, object] = {
        "admin_pub_key": admin_keypair.public_key.hex,
        "skip_migrations": True,
        "login_rate_per_minute": 5,
        "send_rate_per_second": 0.2,
        "send_burst": 2,
        "event_queue_size": 2,
        "max_grpc_message_bytes": "64KiB",
    }
    with ServerProcess(dsn=module_dsn, config=config) as process:
        yield process


@pytest.fixture
async def short_channel(short_ttl_server: ServerProcess) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(short_ttl_server.address) as opened:
        yield opened


@pytest.fixture
async def limited_channel(limited_server: ServerProcess) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(limited_server.address) as opened:
        yield opened


@pytest.fixture
async def expired_token(short_channel: grpc.aio.Channel) -> str:
    """A token whose session has expired."""
    client = await ProtocolClient(short_channel).login()
    await asyncio.sleep(SHORT_TTL_SECONDS + 0.2)
    return client.token


@pytest.fixture
async def logged_out_token(connect: ClientFactory) -> str:
    """A token whose session was logged out."""
    client = await connect()
    await client.logout()
    return client.token


class TestUnauthenticated:
    @pytest.mark.parametrize("method", sorted(AUTHENTICATED_CALLS))
    async def test_without_token(self, channel: grpc.aio.Channel, method: str) -> None:
        """No authorization metadata is UNAUTHENTICATED."""
        await expect_status(
            AUTHENTICATED_CALLS[method](ProtocolClient(channel), ()),
            grpc.StatusCode.UNAUTHENTICATED,
        )

    @pytest.mark.parametrize("method", sorted(AUTHENTICATED_CALLS))
    @pytest.mark.parametrize(
        "header", ["Bearer garbage", "Bearer ", "Basic dXNlcjpwdw==", "Bearer " + "x" * 600]
    )
    async def test_garbage_token(self, channel: grpc.aio.Channel, method: str, header: str) -> None:
        """A token the server never issued, or a malformed header, is UNAUTHENTICATED."""
        await expect_status(
            AUTHENTICATED_CALLS[method](ProtocolClient(channel), (("authorization", header),)),
            grpc.StatusCode.UNAUTHENTICATED,
        )

    @pytest.mark.parametrize("method", sorted(AUTHENTICATED_CALLS))
    async def test_expired_token(
        self, channel: grpc.aio.Channel, expired_token: str, method: str
    ) -> None:
        """A token whose session expired is UNAUTHENTICATED (on any server process)."""
        metadata = (("authorization", f"Bearer {expired_token}"),)
        await expect_status(
            AUTHENTICATED_CALLS[method](ProtocolClient(channel), metadata),
            grpc.StatusCode.UNAUTHENTICATED,
        )

    @pytest.mark.parametrize("method", sorted(AUTHENTICATED_CALLS))
    async def test_logged_out_token(
        self, channel: grpc.aio.Channel, logged_out_token: str, method: str
    ) -> None:
        """A token whose session was logged out is UNAUTHENTICATED."""
        metadata = (("authorization", f"Bearer {logged_out_token}"),)
        await expect_status(
            AUTHENTICATED_CALLS[method](ProtocolClient(channel), metadata),
            grpc.StatusCode.UNAUTHENTICATED,
        )

    async def test_stream_ends_at_expiry(self, short_channel: grpc.aio.Channel) -> None:
        """A stream ends with UNAUTHENTICATED when its session expires, promptly."""
        client = await ProtocolClient(short_channel).login()
        stream = await client.subscribe()
        started = time.monotonic()

        await expect_status(stream.read(), grpc.StatusCode.UNAUTHENTICATED)

        assert time.monotonic() - started < SHORT_TTL_SECONDS + 1.5


class TestPermissionDenied:
    @pytest.mark.parametrize("method", ADMIN_CALLS)
    async def test_user_on_admin_service(self, connect: ClientFactory, method: str) -> None:
        """An ordinary user calling AdminService is PERMISSION_DENIED."""
        user = await connect()
        await expect_status(
            AUTHENTICATED_CALLS[method](user, user.metadata), grpc.StatusCode.PERMISSION_DENIED
        )


def _send(receiver: str = "", text: str = "hello", cmid: str = "cm-1") -> PeerCall:
    def call(c: ProtocolClient, md: Any, peer: str) -> Awaitable[Any]:
        return c.chat.SendMessage(
            chat_pb2.SendMessageReq(
                receiver_public_key=receiver or peer, text=text, client_message_id=cmid
            ),
            metadata=md,
        )

    return call


def _history(**fields: Any) -> PeerCall:
    def call(c: ProtocolClient, md: Any, peer: str) -> Awaitable[Any]:
        request = chat_pb2.GetMessageHistoryReq(peer_public_key=peer)
        request.MergeFrom(chat_pb2.GetMessageHistoryReq(**fields))
        return c.chat.GetMessageHistory(request, metadata=md)

    return call


MALFORMED_KEYS = {
    "short hex": "ab" * 31,
    "long hex": "ab" * 33,
    "non-hex": "g" * 64,
    "empty": "",
    "31-byte base64": "A" * 42,
}


def _challenge(key: str) -> PeerCall:
    def call(c: ProtocolClient, md: Any, peer: str) -> Awaitable[Any]:
        return c.auth.RequestChallenge(auth_pb2.RequestChallengeReq(public_key=key))

    return call


INVALID_ARGUMENT_CALLS: dict[str, PeerCall] = {
    **{f"RequestChallenge {name}": _challenge(key) for name, key in MALFORMED_KEYS.items()},
    **{
        f"SendMessage receiver {name}": _send(receiver=key or " ")
        for name, key in MALFORMED_KEYS.items()
    },
    "Login malformed key": lambda c, md, peer: c.auth.Login(
        auth_pb2.LoginReq(public_key="xyz", challenge_signature=b"\0" * 64)
    ),
    "AddFriend malformed key": lambda c, md, peer: c.chat.AddFriend(
        chat_pb2.AddFriendReq(target_public_key="nope"), metadata=md
    ),
    "AddFriend self": lambda c, md, peer: c.chat.AddFriend(
        chat_pb2.AddFriendReq(target_public_key=c.key), metadata=md
    ),
    "AddFriend long alias": lambda c, md, peer: c.chat.AddFriend(
        chat_pb2.AddFriendReq(target_public_key=peer, alias="a" * 65), metadata=md
    ),
    "SendMessage empty text": _send(text=""),
    "SendMessage whitespace text": _send(text=" \t\n\u3000"),
    "SendMessage oversize text": _send(text="a" * 4001),
    "SendMessage oversize CJK text": _send(text="中" * 4001),
    "SendMessage NUL in text": _send(text="a\x00b"),
    "SendMessage empty client_message_id": _send(cmid=""),
    "SendMessage long client_message_id": _send(cmid="c" * 65),
    "SendMessage to self": lambda c, md, peer: _send(receiver=c.key)(c, md, peer),
    "GetMessageHistory bad cursor": _history(cursor="abc"),
    "GetMessageHistory negative cursor": _history(cursor="-1"),
    "GetMessageHistory limit 101": _history(limit=101),
    "GetMessageHistory bad direction": _history(direction="sideways"),
    "GetMessageHistory malformed peer": _history(peer_public_key="0x12"),
    "MarkConversationRead malformed peer": lambda c, md, peer: c.chat.MarkConversationRead(
        chat_pb2.MarkConversationReadReq(peer_public_key="12"), metadata=md
    ),
    "ListChangedConversations negative since": lambda c, md, peer: c.chat.ListChangedConversations(
        chat_pb2.ListChangedConversationsReq(since=-1), metadata=md
    ),
    "ListChangedConversations limit 501": lambda c, md, peer: c.chat.ListChangedConversations(
        chat_pb2.ListChangedConversationsReq(limit=501), metadata=md
    ),
    "Subscribe long client_id": lambda c, md, peer: c.events.Subscribe(
        events_pb2.SubscribeReq(client_id="d" * 201), metadata=md
    ).read(),
}


class TestInvalidArgument:
    @pytest.mark.parametrize("case", sorted(INVALID_ARGUMENT_CALLS))
    async def test_malformed_request(self, connect: ClientFactory, case: str) -> None:
        """Malformed keys, texts, ids, cursors, limits and directions are INVALID_ARGUMENT."""
        client, peer = await connect(), await connect()

        error = await expect_status(
            INVALID_ARGUMENT_CALLS[case](client, client.metadata, peer.key),
            grpc.StatusCode.INVALID_ARGUMENT,
        )

        assert error.details()
        assert "Traceback" not in (error.details() or "")

    async def test_message_names_field_and_value(self, connect: ClientFactory) -> None:
        """The message names the field and quotes the bad value."""
        client, peer = await connect(), await connect()

        error = await expect_status(
            client.history(peer.key, direction="sideways"), grpc.StatusCode.INVALID_ARGUMENT
        )

        assert "direction" in (error.details() or "")
        assert "'sideways'" in (error.details() or "")

    async def test_empty_broadcast(self, admin: ProtocolClient) -> None:
        """A blank broadcast is INVALID_ARGUMENT."""
        await expect_status(
            admin.admin.Broadcast(admin_pb2.BroadcastReq(text="  "), metadata=admin.metadata),
            grpc.StatusCode.INVALID_ARGUMENT,
        )

    @pytest.mark.parametrize("text", ["中" * 4000, "😀" * 4000, "第x行\n" * 1000])
    async def test_longest_texts_accepted(self, connect: ClientFactory, text: str) -> None:
        """The limit counts code points: 4000 of any kind are accepted and come back intact."""
        alice, bob = await connect(), await connect()

        await alice.send(bob.key, text)

        assert text == (await bob.history(alice.key)).page.messages[0].text


class TestNotFound:
    @pytest.mark.parametrize(
        "call",
        [
            lambda c, key: c.send(key, "hello?"),
            lambda c, key: c.add_friend(key),
            lambda c, key: c.history(key),
        ],
        ids=["SendMessage", "AddFriend", "GetMessageHistory"],
    )
    async def test_unknown_user(self, connect: ClientFactory, call: Call) -> None:
        """A well-formed key that never logged in is NOT_FOUND."""
        client = await connect()
        await expect_status(call(client, _some_key()), grpc.StatusCode.NOT_FOUND)


class TestResourceExhausted:
    async def test_login_rate(self, limited_channel: grpc.aio.Channel) -> None:
        """More challenge requests per minute than allowed from one address are refused."""
        auth = ProtocolClient(limited_channel).auth
        request = auth_pb2.RequestChallengeReq(public_key=_some_key())
        for _ in range(5):
            await auth.RequestChallenge(request)

        error = await expect_status(
            auth.RequestChallenge(request), grpc.StatusCode.RESOURCE_EXHAUSTED
        )
        assert "retry in" in (error.details() or "")

    async def test_send_rate(
        self, channel: grpc.aio.Channel, limited_server: ServerProcess
    ) -> None:
        """Sends above the per-user burst are refused until the bucket refills."""
        # Users log in on the main server: the limited one allows few logins.
        alice = await ProtocolClient(channel).login()
        bob = await ProtocolClient(channel).login()
        async with grpc.aio.insecure_channel(limited_server.address) as limited:
            limited_alice = ProtocolClient(limited, alice.keypair)
            limited_alice.token = alice.token
            await limited_alice.send(bob.key, "one")
            await limited_alice.send(bob.key, "two")

            await expect_status(
                limited_alice.send(bob.key, "three"), grpc.StatusCode.RESOURCE_EXHAUSTED
            )

    async def test_oversize_grpc_message(
        self, channel: grpc.aio.Channel, limited_server: ServerProcess
    ) -> None:
        """A request above max_grpc_message_bytes is RESOURCE_EXHAUSTED; nothing is stored."""
        alice = await ProtocolClient(channel).login()
        bob = await ProtocolClient(channel).login()
        async with grpc.aio.insecure_channel(limited_server.address) as limited:
            limited_alice = ProtocolClient(limited, alice.keypair)
            limited_alice.token = alice.token
            await expect_status(
                limited_alice.send(bob.key, "x" * 100_000), grpc.StatusCode.RESOURCE_EXHAUSTED
            )
        assert [] == list((await bob.history(alice.key)).page.messages)

    async def test_slow_consumer(
        self, channel: grpc.aio.Channel, limited_server: ServerProcess, admin_keypair: KeyPair
    ) -> None:
        """A stream that is not read while events pile up ends with RESOURCE_EXHAUSTED."""
        reader = await ProtocolClient(channel).login()
        admin = await ProtocolClient(channel, admin_keypair).login()
        # Without BDP probing the flow-control window stays at 64 KiB, so a reader that
        # stops reading holds up the server after a few large events.
        options = [("grpc.http2.bdp_probe", 0)]
        async with (
            grpc.aio.insecure_channel(limited_server.address, options=options) as limited,
            grpc.aio.insecure_channel(limited_server.address) as admin_channel,
        ):
            slow = ProtocolClient(limited, reader.keypair)
            slow.token = reader.token
            limited_admin = ProtocolClient(admin_channel, admin_keypair)
            limited_admin.token = admin.token
            stream = await slow.subscribe()

            # Large events fill the HTTP/2 window first, then the queue of two.
            for number in range(100):
                await limited_admin.admin.Broadcast(
                    admin_pb2.BroadcastReq(text=f"{number} " + "载" * 3900),
                    metadata=limited_admin.metadata,
                )

            with pytest.raises(grpc.aio.AioRpcError) as failure:
                await _read_until_error(stream)
            assert grpc.StatusCode.RESOURCE_EXHAUSTED == failure.value.code()


async def _read_until_error(stream: Any) -> None:
    async with asyncio.timeout(30):
        while await stream.read() is not grpc.aio.EOF:
            pass


class TestMalformedWire:
    async def test_invalid_utf8_text(
        self, connect: ClientFactory, channel: grpc.aio.Channel
    ) -> None:
        """Invalid UTF-8 in a string field gets an error status and the server keeps serving."""
        alice, bob = await connect(), await connect()
        receiver = bob.key.encode()
        # Field 1 (receiver), field 2 (text) with invalid UTF-8, field 3 (client_message_id).
        body = (
            b"\x0a" + bytes([len(receiver)]) + receiver
            + b"\x12\x02\xff\xfe"
            + b"\x1a\x02id"
        )  # fmt: skip
        raw = channel.unary_unary(
            "/chatview.chat.ChatService/SendMessage",
            request_serializer=lambda data: data,
            response_deserializer=lambda data: data,
        )

        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await raw(body, metadata=alice.metadata)

        assert grpc.StatusCode.OK != failure.value.code()
        assert [] == list((await bob.history(alice.key)).page.messages)
        await alice.send(bob.key, "still serving")
