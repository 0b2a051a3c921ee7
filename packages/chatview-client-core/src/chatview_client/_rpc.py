"""The gRPC layer: one channel, the stubs, protobuf <-> typed values, status -> errors.

It only moves bytes. It decides nothing about retries, ordering or caching; every
failure leaves here as an `RpcError` subclass raised ``from`` the gRPC error.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, TypeAlias, TypeVar

import attrs
import grpc
import grpc.aio
import structlog

from chatview_proto import (
    admin_pb2,
    admin_pb2_grpc,
    auth_pb2,
    auth_pb2_grpc,
    chat_pb2,
    chat_pb2_grpc,
    events_pb2,
    events_pb2_grpc,
)
from chatview_proto.common import types_pb2

from ._config import ClientConfig
from ._errors import ConfigError, rpc_error_from
from ._events import AdminUpdated, BroadcastReceived, ForcedOffline, FriendStatusChanged
from ._sealing import SEALED_CAPABILITY, Sealer
from ._values import (
    AdminOverview,
    AdminStats,
    AdminUser,
    Friend,
    Message,
    MessageState,
    Role,
    SessionInfo,
)

__all__ = [
    "ChangesPage",
    "ConversationChange",
    "HistoryPage",
    "LiveMessage",
    "ReadCursorMoved",
    "Rpc",
    "SendResult",
    "StreamEvent",
    "message_from_pb",
    "parse_timestamp",
]

_log = structlog.get_logger(__name__)
_T = TypeVar("_T")
# Keepalive pings may go unanswered this long before the connection counts as dead.
_KEEPALIVE_TIMEOUT_MS: Final = 10_000


def parse_timestamp(text: str) -> datetime:
    """Parse the server's RFC 3339 text; the Unix epoch when empty or unreadable."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return datetime.fromtimestamp(0, UTC)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def message_from_pb(
    pb: types_pb2.ChatMessage, *, me: str, peer: str, sealer: Sealer | None = None
) -> Message:
    """Convert a stored message, seen by `me`, in the conversation with `peer`.

    A sealed message is opened with `sealer`; without one it keeps the server's
    placeholder text.
    """
    outgoing = pb.sender_public_key == me
    receiver = pb.receiver_public_key or (peer if outgoing else me)
    message = Message(
        peer=peer,
        sender=pb.sender_public_key,
        receiver=receiver,
        text=pb.text,
        timestamp=parse_timestamp(pb.timestamp),
        state=MessageState.SENT if outgoing else MessageState.INCOMING,
        server_seq=pb.server_seq,
        message_id=pb.id or None,
        client_message_id=pb.client_message_id or None,
    )
    if pb.sealed_body and sealer is not None:
        return sealer.open(message, bytes(pb.sealed_body))
    return message


@attrs.frozen
class SendResult:
    """SendMessage's answer."""

    message_id: str
    timestamp: datetime
    server_seq: int
    deduplicated: bool


@attrs.frozen
class HistoryPage:
    """One page of GetMessageHistory, oldest first."""

    messages: tuple[Message, ...]
    has_more: bool


@attrs.frozen
class ConversationChange:
    """One entry of ListChangedConversations."""

    peer: str
    last_server_seq: int
    last_read_server_seq: int
    unread: int


@attrs.frozen
class ChangesPage:
    """ListChangedConversations' answer."""

    changes: tuple[ConversationChange, ...]
    next_since: int
    has_more: bool


@attrs.frozen
class LiveMessage:
    """A new_message event: the conversation, and the message when the server sent it."""

    peer: str
    message: Message | None


@attrs.frozen
class ReadCursorMoved:
    """A conversation_read event: another device of this user read up to `seq`."""

    peer: str
    seq: int


StreamEvent: TypeAlias = (
    LiveMessage
    | FriendStatusChanged
    | BroadcastReceived
    | ForcedOffline
    | AdminUpdated
    | ReadCursorMoved
)


def _channel_options(config: ClientConfig) -> list[tuple[str, Any]]:
    options: list[tuple[str, Any]] = [
        ("grpc.keepalive_time_ms", int(config.keepalive_time * 1000)),
        ("grpc.keepalive_timeout_ms", _KEEPALIVE_TIMEOUT_MS),
        # Keep pinging an idle event stream, so a dead link is noticed; pings happen
        # only while a call is open, which the server's ping policy allows.
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.keepalive_permit_without_calls", 0),
        # gRPC's own reconnect backoff would otherwise grow to two minutes and keep
        # failing calls fast long after the server is back.
        ("grpc.initial_reconnect_backoff_ms", int(config.retry_initial_delay * 1000)),
        ("grpc.max_reconnect_backoff_ms", int(config.reconnect_max_delay * 1000)),
    ]
    if config.grpc_ssl_target_name_override:
        options.append(("grpc.ssl_target_name_override", config.grpc_ssl_target_name_override))
    return options


def _open_channel(config: ClientConfig) -> grpc.aio.Channel:
    options = _channel_options(config)
    if not config.use_tls:
        return grpc.aio.insecure_channel(config.grpc_target, options=options)
    root_certificates = None
    if config.grpc_ca_path is not None:
        try:
            root_certificates = Path(config.grpc_ca_path).read_bytes()
        except OSError as exc:
            msg = f"cannot read grpc_ca_path {str(config.grpc_ca_path)!r}: {exc.strerror or exc}"
            raise ConfigError(msg) from exc
    credentials = grpc.ssl_channel_credentials(root_certificates=root_certificates)
    return grpc.aio.secure_channel(config.grpc_target, credentials, options=options)


class Rpc:
    """The channel and every call of the ChatView protocol, typed.

    `token` is the session token sent as ``authorization: Bearer`` metadata; the
    session layer sets it after `login`.
    """

    def __init__(self, config: ClientConfig, *, me: str) -> None:
        self._channel = _open_channel(config)
        self._timeout = config.grpc_timeout
        self._me = me
        self._auth = auth_pb2_grpc.AuthServiceStub(self._channel)
        self._chat = chat_pb2_grpc.ChatServiceStub(self._channel)
        self._events = events_pb2_grpc.EventServiceStub(self._channel)
        self._admin = admin_pb2_grpc.AdminServiceStub(self._channel)
        self.token: str | None = None
        self.sealer: Sealer | None = None
        """Opens sealed messages and, when set, announces the capability at login."""

    async def close(self) -> None:
        """Close the channel, cancelling calls still open."""
        await self._channel.close()

    def _metadata(self) -> tuple[tuple[str, str], ...]:
        return () if self.token is None else (("authorization", f"Bearer {self.token}"),)

    async def _call(self, method: str, call: Callable[[], Awaitable[_T]]) -> _T:
        try:
            return await call()
        except grpc.aio.AioRpcError as exc:
            error = rpc_error_from(exc, method=method)
            _log.debug("rpc.call.failed", method=method, code=error.code)
            raise error from exc

    # --- auth ------------------------------------------------------------------------

    async def request_challenge(self) -> bytes:
        """Ask for a login challenge for this key."""
        response = await self._call(
            "RequestChallenge",
            lambda: self._auth.RequestChallenge(
                auth_pb2.RequestChallengeReq(public_key=self._me), timeout=self._timeout
            ),
        )
        return response.challenge

    async def login(self, signature: bytes, client_id: str) -> tuple[str, SessionInfo]:
        """Log in with a challenge signature; returns the token and the session."""
        response = await self._call(
            "Login",
            lambda: self._auth.Login(
                auth_pb2.LoginReq(
                    public_key=self._me,
                    challenge_signature=signature,
                    client_id=client_id,
                    capabilities=[SEALED_CAPABILITY] if self.sealer is not None else [],
                ),
                timeout=self._timeout,
            ),
        )
        expires_at = (
            datetime.fromtimestamp(response.expires_at, UTC) if response.expires_at > 0 else None
        )
        role = Role.ADMIN if response.role == Role.ADMIN else Role.USER
        info = SessionInfo(
            public_key=response.public_key or self._me, role=role, expires_at=expires_at
        )
        return response.session_token, info

    async def logout(self) -> None:
        """Revoke this session's token."""
        await self._call(
            "Logout",
            lambda: self._auth.Logout(
                auth_pb2.LogoutReq(), timeout=self._timeout, metadata=self._metadata()
            ),
        )

    # --- chat ------------------------------------------------------------------------

    async def list_friends(self) -> list[Friend]:
        """ListFriends, converted."""
        response = await self._call(
            "ListFriends",
            lambda: self._chat.ListFriends(
                chat_pb2.ListFriendsReq(), timeout=self._timeout, metadata=self._metadata()
            ),
        )
        return [
            Friend(
                public_key=info.public_key,
                alias=info.alias,
                added=info.added,
                is_online=info.is_online,
                unread=info.unread,
                last_server_seq=info.last_server_seq,
                last_read_server_seq=info.last_read_server_seq,
                supports_sealed=info.supports_sealed,
                last_message=(
                    message_from_pb(
                        info.last_message, me=self._me, peer=info.public_key, sealer=self.sealer
                    )
                    if info.HasField("last_message")
                    else None
                ),
            )
            for info in response.friends
        ]

    async def add_friend(self, peer: str, alias: str) -> None:
        """AddFriend."""
        await self._call(
            "AddFriend",
            lambda: self._chat.AddFriend(
                chat_pb2.AddFriendReq(target_public_key=peer, alias=alias),
                timeout=self._timeout,
                metadata=self._metadata(),
            ),
        )

    async def send_message(
        self, peer: str, text: str, client_message_id: str, sealed_body: bytes | None = None
    ) -> SendResult:
        """SendMessage with an idempotency key; with `sealed_body` the text stays home."""
        request = chat_pb2.SendMessageReq(
            receiver_public_key=peer, text=text, client_message_id=client_message_id
        )
        if sealed_body is not None:
            request.text = ""
            request.sealed_body = sealed_body
        response = await self._call(
            "SendMessage",
            lambda: self._chat.SendMessage(
                request,
                timeout=self._timeout,
                metadata=self._metadata(),
            ),
        )
        return SendResult(
            message_id=response.message_id,
            timestamp=parse_timestamp(response.timestamp),
            server_seq=response.server_seq,
            deduplicated=response.deduplicated,
        )

    async def history(
        self, peer: str, *, cursor: int | None, limit: int, direction: str
    ) -> HistoryPage:
        """GetMessageHistory: `direction` is "older" or "newer"; cursor None = an end."""
        response = await self._call(
            "GetMessageHistory",
            lambda: self._chat.GetMessageHistory(
                chat_pb2.GetMessageHistoryReq(
                    peer_public_key=peer,
                    cursor="" if cursor is None else str(cursor),
                    limit=limit,
                    direction=direction,
                ),
                timeout=self._timeout,
                metadata=self._metadata(),
            ),
        )
        page = response.page
        return HistoryPage(
            messages=tuple(
                message_from_pb(pb, me=self._me, peer=peer, sealer=self.sealer)
                for pb in page.messages
            ),
            has_more=page.has_more,
        )

    async def mark_read(self, peer: str, seq: int) -> None:
        """MarkConversationRead."""
        await self._call(
            "MarkConversationRead",
            lambda: self._chat.MarkConversationRead(
                chat_pb2.MarkConversationReadReq(peer_public_key=peer, last_read_server_seq=seq),
                timeout=self._timeout,
                metadata=self._metadata(),
            ),
        )

    async def changed_conversations(self, since: int, limit: int) -> ChangesPage:
        """ListChangedConversations."""
        response = await self._call(
            "ListChangedConversations",
            lambda: self._chat.ListChangedConversations(
                chat_pb2.ListChangedConversationsReq(since=since, limit=limit),
                timeout=self._timeout,
                metadata=self._metadata(),
            ),
        )
        return ChangesPage(
            changes=tuple(
                ConversationChange(
                    peer=change.peer_public_key,
                    last_server_seq=change.last_server_seq,
                    last_read_server_seq=change.last_read_server_seq,
                    unread=change.unread,
                )
                for change in response.changes
            ),
            next_since=response.next_since,
            has_more=response.has_more,
        )

    # --- events ----------------------------------------------------------------------

    def subscribe(
        self, client_id: str, *, broadcasts_after: int | None = None
    ) -> grpc.aio.UnaryStreamCall[Any, Any]:
        """Open the event stream; read it with `read_events`.

        Args:
            client_id: the device name.
            broadcasts_after: the newest broadcast id seen; the server first sends the
                unexpired broadcasts above it. None asks for live broadcasts only.
        """
        request = events_pb2.SubscribeReq(client_id=client_id)
        if broadcasts_after is not None:
            request.broadcasts_after = broadcasts_after
        return self._events.Subscribe(request, metadata=self._metadata())

    async def read_events(
        self, call: grpc.aio.UnaryStreamCall[Any, Any]
    ) -> AsyncIterator[StreamEvent]:
        """Yield the stream's events, converted; ends when the server ends the stream.

        Raises:
            RpcError: the stream failed.
        """
        try:
            async for event in call:
                converted = self._convert_event(event)
                if converted is not None:
                    yield converted
        except grpc.aio.AioRpcError as exc:
            raise rpc_error_from(exc, method="Subscribe") from exc

    def _convert_event(self, event: events_pb2.ServerEvent) -> StreamEvent | None:
        kind = event.WhichOneof("event")
        if kind == "new_message":
            new = event.new_message
            peer = new.peer_public_key or new.from_public_key
            message = (
                message_from_pb(new.message, me=self._me, peer=peer, sealer=self.sealer)
                if new.HasField("message")
                else None
            )
            return LiveMessage(peer=peer, message=message)
        if kind == "friend_status":
            status = event.friend_status
            return FriendStatusChanged(
                public_key=status.public_key, alias=status.alias, is_online=status.is_online
            )
        if kind == "system_broadcast":
            broadcast = event.system_broadcast
            return BroadcastReceived(
                text=broadcast.text,
                from_admin=broadcast.from_admin,
                broadcast_id=broadcast.id,
                sent_at=parse_timestamp(broadcast.sent_at) if broadcast.sent_at else None,
                expires_at=parse_timestamp(broadcast.expires_at) if broadcast.expires_at else None,
            )
        if kind == "conversation_read":
            read = event.conversation_read
            return ReadCursorMoved(peer=read.peer_public_key, seq=read.last_read_server_seq)
        if kind == "force_offline":
            return ForcedOffline(reason=event.force_offline.reason)
        if kind == "admin_update":
            return AdminUpdated()
        # An event kind added after this library: old clients ignore what they do not know.
        _log.debug("rpc.event.unknown", kind=kind)
        return None

    # --- admin -----------------------------------------------------------------------

    async def set_user_status(self, peer: str, *, banned: bool) -> None:
        """SetUserStatus: ban or unban."""
        status = types_pb2.USER_STATUS_BANNED if banned else types_pb2.USER_STATUS_ACTIVE
        await self._call(
            "SetUserStatus",
            lambda: self._admin.SetUserStatus(
                admin_pb2.SetUserStatusReq(target_public_key=peer, status=status),
                timeout=self._timeout,
                metadata=self._metadata(),
            ),
        )

    async def broadcast(self, text: str, *, expires_in_seconds: int = 0) -> int:
        """Broadcast; returns how many users got it (0 from servers that do not report it)."""
        request = admin_pb2.BroadcastReq(text=text, expires_in_seconds=expires_in_seconds)
        response = await self._call(
            "Broadcast",
            lambda: self._admin.Broadcast(
                request, timeout=self._timeout, metadata=self._metadata()
            ),
        )
        return response.recipients

    async def admin_overview(self) -> AdminOverview:
        """PollAdminEvents, converted."""
        response = await self._call(
            "PollAdminEvents",
            lambda: self._admin.PollAdminEvents(
                admin_pb2.PollAdminEventsReq(), timeout=self._timeout, metadata=self._metadata()
            ),
        )
        update = response.update
        return AdminOverview(
            users=tuple(
                AdminUser(
                    public_key=user.public_key,
                    is_online=user.is_online,
                    is_banned=user.is_banned,
                    role=Role.ADMIN if user.role == Role.ADMIN else Role.USER,
                    created_at=parse_timestamp(user.created_at) if user.created_at else None,
                )
                for user in update.users
            ),
            stats=AdminStats(
                online_users=update.stats.online_users,
                total_users=update.stats.total_users,
                banned_users=update.stats.banned_users,
            ),
        )
