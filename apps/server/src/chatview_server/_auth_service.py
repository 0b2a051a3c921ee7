"""AuthService: challenge, login and logout."""

from __future__ import annotations

import secrets
from typing import Any, final

import grpc
import structlog

from chatview_identity import (
    InvalidChallengeError,
    InvalidSignatureError,
    new_challenge,
    parse_public_key,
    verify_challenge_signature,
)
from chatview_proto import auth_pb2, auth_pb2_grpc, events_pb2

from ._context import current_caller
from ._interceptors import hash_token, peer_host
from ._runtime import Runtime
from ._sealed import SEALED_CAPABILITY
from ._status import RpcError, parse_key_field
from ._validation import check_client_id

__all__ = ["AuthService"]

_log = structlog.get_logger("chatview_server.auth")

Context = grpc.aio.ServicerContext[Any, Any]


@final
class AuthService(auth_pb2_grpc.AuthServiceServicer):
    """Turns a signature over a server challenge into a session token."""

    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime

    def _limit_login_rate(self, context: Context) -> None:
        host = peer_host(context.peer())
        if not self._rt.login_limiter.try_acquire(host):
            wait = self._rt.login_limiter.retry_after(host)
            raise RpcError(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"too many login attempts from {host}; retry in {wait:.0f} s",
            )

    async def RequestChallenge(  # noqa: N802 - gRPC method name
        self, request: auth_pb2.RequestChallengeReq, context: Context
    ) -> auth_pb2.RequestChallengeResp:
        self._limit_login_rate(context)
        key = parse_key_field("public_key", request.public_key)

        user = await self._rt.store.get_user(key)
        if user is not None and user.is_banned:
            raise RpcError(grpc.StatusCode.PERMISSION_DENIED, "account is banned")

        challenge = new_challenge()
        expires_at = self._rt.clock() + self._rt.config.challenge_ttl
        await self._rt.store.put_challenge(key, challenge, expires_at)
        return auth_pb2.RequestChallengeResp(
            challenge=challenge, expires_at=int(expires_at.timestamp())
        )

    async def Login(self, request: auth_pb2.LoginReq, context: Context) -> auth_pb2.LoginResp:  # noqa: N802
        self._limit_login_rate(context)
        key = parse_key_field("public_key", request.public_key)
        check_client_id(request.client_id)

        # 1. Consume the challenge first, so it cannot be used twice whatever happens next.
        challenge = await self._rt.store.consume_challenge(key, self._rt.clock())
        if challenge is None:
            raise RpcError(
                grpc.StatusCode.UNAUTHENTICATED,
                "no live challenge for this public key (never requested, already used or "
                "expired); call RequestChallenge again",
            )

        # 2. The signature must be over exactly those bytes, by this key.
        try:
            verify_challenge_signature(
                parse_public_key(key), challenge, bytes(request.challenge_signature)
            )
        except (InvalidSignatureError, InvalidChallengeError):
            _log.info("auth.login.rejected", user=key[:8], reason="bad_signature")
            raise RpcError(
                grpc.StatusCode.UNAUTHENTICATED,
                "challenge_signature does not verify for this public key; request a new "
                "challenge and sign it with the key being logged in",
            ) from None

        # 3. The first login creates the user; a banned one gets no session.
        existing = await self._rt.store.get_user(key)
        user = existing if existing is not None else await self._rt.store.ensure_user(key)
        if user.is_banned:
            raise RpcError(grpc.StatusCode.PERMISSION_DENIED, "account is banned")
        if SEALED_CAPABILITY in request.capabilities:
            # Contacts learn from ListFriends that they may seal messages to this user.
            await self._rt.store.set_supports_sealed(key)

        # 4. The token goes to the client only; the database keeps its hash.
        token = secrets.token_urlsafe(32)
        expires_at = self._rt.clock() + self._rt.config.session_ttl
        await self._rt.store.create_session(hash_token(token), key, request.client_id, expires_at)

        if existing is None:
            self._rt.hub.publish_admins(
                events_pb2.ServerEvent(admin_update=events_pb2.AdminUpdateEvent())
            )
        _log.info("auth.login.succeeded", user=key[:8], new_user=existing is None)
        return auth_pb2.LoginResp(
            session_token=token,
            role=user.role.wire_value,
            public_key=key,
            expires_at=int(expires_at.timestamp()),
        )

    async def Logout(self, request: auth_pb2.LogoutReq, context: Context) -> auth_pb2.LogoutResp:  # noqa: N802
        caller = current_caller()
        await self._rt.store.revoke_session(caller.token_hash)
        ended = self._rt.hub.close_session(caller.session_id, reason="session_revoked")
        _log.info("auth.logout", user=caller.short_key, streams_ended=ended)
        return auth_pb2.LogoutResp()
