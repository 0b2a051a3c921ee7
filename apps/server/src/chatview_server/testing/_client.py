"""A thin raw-protocol client for tests: one key, one session, the generated stubs."""

from __future__ import annotations

import asyncio
import uuid
from typing import Self, final

import grpc

from chatview_identity import KeyPair, sign_challenge
from chatview_proto import (
    admin_pb2_grpc,
    auth_pb2,
    auth_pb2_grpc,
    chat_pb2,
    chat_pb2_grpc,
    events_pb2,
    events_pb2_grpc,
)

__all__ = ["ProtocolClient", "wait_for_event"]

Metadata = tuple[tuple[str, str], ...]
EventStream = grpc.aio.UnaryStreamCall[events_pb2.SubscribeReq, events_pb2.ServerEvent]


async def wait_for_event(
    stream: EventStream,
    kind: str,
    *,
    timeout: float = 10.0,  # noqa: ASYNC109 - a plain deadline reads best in tests
) -> events_pb2.ServerEvent:
    """Read events from `stream` until one of `kind` (e.g. ``"new_message"``) arrives.

    Events of other kinds are skipped.

    Raises:
        TimeoutError: none arrived within `timeout` seconds.
        EOFError: the stream ended with OK first.
        grpc.aio.AioRpcError: the stream ended with an error status first.
    """
    async with asyncio.timeout(timeout):
        while True:
            event = await stream.read()
            if event is grpc.aio.EOF:
                msg = f"the event stream ended before a {kind} event"
                raise EOFError(msg)
            assert isinstance(event, events_pb2.ServerEvent)
            if event.WhichOneof("event") == kind:
                return event


@final
class ProtocolClient:
    """A user talking to a server through the generated stubs, with no client logic.

    It is what a test needs to act as "another user" or to check the wire directly:
    it logs in by challenge signature and adds the bearer token to calls through
    `metadata`. Nothing is retried or cached.

    Args:
        channel: a ``grpc.aio`` channel to the server.
        keypair: the user's key; a new random one when None.
        client_id: the device name sent at login.
    """

    def __init__(
        self,
        channel: grpc.aio.Channel,
        keypair: KeyPair | None = None,
        *,
        client_id: str = "test-device",
    ) -> None:
        self.channel = channel
        self.keypair = keypair if keypair is not None else KeyPair.generate()
        self.client_id = client_id
        self.token = ""
        self.role = 0
        self.auth = auth_pb2_grpc.AuthServiceStub(channel)
        self.chat = chat_pb2_grpc.ChatServiceStub(channel)
        self.events = events_pb2_grpc.EventServiceStub(channel)
        self.admin = admin_pb2_grpc.AdminServiceStub(channel)

    @property
    def key(self) -> str:
        """The public key, 64 lowercase hex characters."""
        return self.keypair.public_key.hex

    @property
    def metadata(self) -> Metadata:
        """``authorization: Bearer <token>`` for the current session."""
        return (("authorization", f"Bearer {self.token}"),)

    async def login(self) -> Self:
        """Request a challenge, sign it and log in; keep the session token.

        Raises:
            grpc.aio.AioRpcError: the server refused the challenge or the login.
        """
        challenge = await self.auth.RequestChallenge(
            auth_pb2.RequestChallengeReq(public_key=self.key)
        )
        reply = await self.auth.Login(
            auth_pb2.LoginReq(
                public_key=self.key,
                challenge_signature=sign_challenge(self.keypair, challenge.challenge),
                client_id=self.client_id,
            )
        )
        self.token = reply.session_token
        self.role = reply.role
        return self

    async def logout(self) -> None:
        """Revoke the current session."""
        await self.auth.Logout(auth_pb2.LogoutReq(), metadata=self.metadata)

    async def subscribe(self, client_id: str = "stream") -> EventStream:
        """Open an event stream and wait until the server has registered it.

        The server sends its headers once the stream is in its hub, so after this
        returns, every event published for the user reaches the stream.
        """
        call = self.events.Subscribe(
            events_pb2.SubscribeReq(client_id=client_id), metadata=self.metadata
        )
        await call.initial_metadata()
        return call

    async def add_friend(self, other: str, alias: str = "") -> None:
        """Add `other` (a key in any accepted form) to the contacts."""
        await self.chat.AddFriend(
            chat_pb2.AddFriendReq(target_public_key=other, alias=alias), metadata=self.metadata
        )

    async def send(
        self, receiver: str, text: str, client_message_id: str | None = None
    ) -> chat_pb2.SendMessageResp:
        """Send `text` to `receiver`; a new UUID is the idempotency key unless given."""
        return await self.chat.SendMessage(
            chat_pb2.SendMessageReq(
                receiver_public_key=receiver,
                text=text,
                client_message_id=client_message_id or str(uuid.uuid4()),
            ),
            metadata=self.metadata,
        )

    async def history(
        self, peer: str, *, cursor: str = "", limit: int = 0, direction: str = ""
    ) -> chat_pb2.GetMessageHistoryResp:
        """Read one page of the conversation with `peer`."""
        return await self.chat.GetMessageHistory(
            chat_pb2.GetMessageHistoryReq(
                peer_public_key=peer, cursor=cursor, limit=limit, direction=direction
            ),
            metadata=self.metadata,
        )

    async def friends(self) -> chat_pb2.ListFriendsResp:
        """List the contacts."""
        return await self.chat.ListFriends(chat_pb2.ListFriendsReq(), metadata=self.metadata)
