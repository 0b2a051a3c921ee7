"""Server interceptors: request log and error mapping, then authentication.

A ``grpc.aio.ServerInterceptor`` receives only the method name and metadata, not the call
itself, so each interceptor here wraps the method's handler in a new one whose
behavior runs around the original. The wrappers run inside the call's own task,
which is what lets them set context variables and map exceptions. Order on the
server: `RequestLogInterceptor` outermost (it times, logs and maps every failure,
including authentication failures), then `AuthInterceptor`.

Only ChatView methods (``/chatview.*``) are wrapped. Health checking and reflection
pass through untouched and need no token.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar, Final, cast, final

import grpc
import structlog
from google.protobuf.message import DecodeError

from chatview_store_pg import Role, Store

from ._context import Caller, caller_var, request_id_var
from ._status import RpcError, status_for

__all__ = [
    "ADMIN_SERVICE_PREFIX",
    "PUBLIC_METHODS",
    "AuthInterceptor",
    "RequestLogInterceptor",
    "hash_token",
    "peer_host",
]

ADMIN_SERVICE_PREFIX: Final = "/chatview.admin.AdminService/"
PUBLIC_METHODS: Final = frozenset(
    {
        "/chatview.auth.AuthService/RequestChallenge",
        "/chatview.auth.AuthService/Login",
    }
)
_CHATVIEW_PREFIX: Final = "/chatview."
# Bearer tokens the server issues are 43 characters; anything far longer is garbage
# and is rejected before it is hashed.
_MAX_TOKEN_LENGTH: Final = 512

_log = structlog.get_logger("chatview_server.rpc")

UnaryBehavior = Callable[[Any, grpc.aio.ServicerContext[Any, Any]], Awaitable[Any]]
StreamBehavior = Callable[[Any, grpc.aio.ServicerContext[Any, Any]], AsyncIterator[Any]]


def hash_token(token: str) -> bytes:
    """Return the SHA-256 of a session token, the only form the database stores."""
    return hashlib.sha256(token.encode("utf-8")).digest()


def peer_host(peer: str) -> str:
    """Return the address part of a gRPC peer string such as ``ipv4:127.0.0.1:5123``."""
    kind, _, rest = peer.partition(":")
    if kind in ("ipv4", "ipv6"):
        host, _, _port = rest.rpartition(":")
        return host.strip("[]") or rest
    return peer


@final
class _UndecodableRequest:
    """Stands in for a request whose bytes are not a valid protobuf message."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    # grpc answers a deserializer's exception with a bare INTERNAL before any handler
    # runs; returning a marker lets the request interceptor answer INVALID_ARGUMENT.
    if deserializer is None:
        return None
    decode = deserializer

    def deserialize(data: bytes) -> Any:
        try:
            return decode(data)
        except DecodeError as exc:
            return _UndecodableRequest(str(exc) or "malformed message")

    return deserialize


def _reject_undecodable(request: Any) -> None:
    if isinstance(request, _UndecodableRequest):
        msg = (
            "invalid request: not a valid protobuf message for this method "
            f"({request.reason}); string fields must be UTF-8"
        )
        raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, msg)


def _wrap_handler(
    handler: grpc.RpcMethodHandler[Any, Any],
    wrap_unary: Callable[[UnaryBehavior], UnaryBehavior],
    wrap_stream: Callable[[StreamBehavior], StreamBehavior],
    *,
    tolerant_decoding: bool = False,
) -> grpc.RpcMethodHandler[Any, Any]:
    # The stubs type handler behaviors as synchronous; on a grpc.aio server they are
    # coroutine functions and async generator functions.
    deserializer = handler.request_deserializer
    if tolerant_decoding:
        deserializer = _tolerant(deserializer)
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(
            wrap_unary(cast("UnaryBehavior", handler.unary_unary)),
            request_deserializer=deserializer,
            response_serializer=handler.response_serializer,
        )
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(
            wrap_stream(cast("StreamBehavior", handler.unary_stream)),
            request_deserializer=deserializer,
            response_serializer=handler.response_serializer,
        )
    # ChatView has no client-streaming methods; leave any other kind untouched.
    return handler


class MethodInterceptor(grpc.aio.ServerInterceptor):
    """Base of the interceptors that wrap the behaviour of every ChatView method.

    Subclasses implement `_wrap_unary` and `_wrap_stream`; other services (health,
    reflection) pass through untouched.
    """

    # Whether requests that fail to decode reach the wrapper as a marker instead of
    # failing inside grpc; set by the interceptor that maps errors to statuses.
    _tolerant_decoding: ClassVar[bool] = False

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method
        if handler is None or not method.startswith(_CHATVIEW_PREFIX):
            return handler
        return _wrap_handler(
            handler,
            lambda behavior: self._wrap_unary(method, behavior),
            lambda behavior: self._wrap_stream(method, behavior),
            tolerant_decoding=self._tolerant_decoding,
        )

    def _wrap_unary(self, method: str, behavior: UnaryBehavior) -> UnaryBehavior:
        raise NotImplementedError

    def _wrap_stream(self, method: str, behavior: StreamBehavior) -> StreamBehavior:
        raise NotImplementedError


@final
class RequestLogInterceptor(MethodInterceptor):
    """Give each call a request id, map its failure to a status, and log ``rpc.completed``.

    Expected failures (`RpcError`, store, identity and hub errors) become their status
    with a readable message. Anything else becomes INTERNAL with the message
    ``internal error (request id …)``, and the same id is logged with the traceback.
    """

    _tolerant_decoding = True

    def _wrap_unary(self, method: str, behavior: UnaryBehavior) -> UnaryBehavior:
        async def logged(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            call = _CallLog(method, context)
            try:
                _reject_undecodable(request)
                response = await behavior(request, context)
            except BaseException as exc:
                await call.fail(exc)
                raise  # unreachable for mapped errors: fail() aborts the call
            call.finish(grpc.StatusCode.OK)
            return response

        return logged

    def _wrap_stream(self, method: str, behavior: StreamBehavior) -> StreamBehavior:
        async def logged(
            request: Any, context: grpc.aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[Any]:
            call = _CallLog(method, context)
            _log.debug("rpc.started", method=method, request_id=call.request_id)
            try:
                _reject_undecodable(request)
                async for response in behavior(request, context):
                    yield response
            except BaseException as exc:
                await call.fail(exc)
                raise
            call.finish(grpc.StatusCode.OK)

        return logged


@final
class _CallLog:
    """Timing and logging of one call; created inside the call's task."""

    def __init__(self, method: str, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        self.method = method
        self.context = context
        # Read now: once grpc has finished a call (a stream closed under its
        # generator), peer() on its context dereferences freed memory and crashes
        # the process (seen with grpcio 1.85).
        self.peer = context.peer()
        self.request_id = secrets.token_hex(6)
        self.started = time.perf_counter()
        request_id_var.set(self.request_id)
        # Library log lines written during the call carry the same id.
        structlog.contextvars.bind_contextvars(request_id=self.request_id)

    async def fail(self, exc: BaseException) -> None:
        """Log the failure and abort the call with its status; re-raise what is not ours."""
        if isinstance(exc, asyncio.CancelledError):
            self.finish(grpc.StatusCode.CANCELLED)
            return
        if isinstance(exc, grpc.aio.AbortError):
            # The handler called context.abort() itself, so the context has the code.
            code = cast("grpc.StatusCode | None", self.context.code())
            self.finish(code if code is not None else grpc.StatusCode.UNKNOWN)
            return
        if not isinstance(exc, Exception):
            self.finish(grpc.StatusCode.CANCELLED)
            return

        mapped = status_for(exc)
        if mapped is None:
            code = grpc.StatusCode.INTERNAL
            message = f"internal error (request id {self.request_id})"
            self.finish(code, exc_info=exc)
        else:
            code, message = mapped
            self.finish(code, error=None if isinstance(exc, RpcError) else type(exc).__name__)
        await self.context.abort(code, message)

    def finish(
        self,
        code: grpc.StatusCode,
        *,
        error: str | None = None,
        exc_info: BaseException | None = None,
    ) -> None:
        caller = caller_var.get()
        fields: dict[str, Any] = {
            "method": self.method,
            "peer": self.peer,
            "user": caller.short_key if caller is not None else None,
            "code": code.name,
            "duration_ms": round((time.perf_counter() - self.started) * 1000, 1),
            "request_id": self.request_id,
        }
        if error is not None:
            fields["error"] = error
        if exc_info is not None:
            _log.error("rpc.completed", **fields, exc_info=exc_info)
        elif code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNKNOWN):
            _log.warning("rpc.completed", **fields)
        else:
            _log.info("rpc.completed", **fields)


@final
class AuthInterceptor(grpc.aio.ServerInterceptor):
    """Turn ``authorization: Bearer <token>`` into a `Caller` in the request context.

    Every ChatView method except RequestChallenge and Login needs a live session:
    a missing, malformed, unknown, expired or revoked token is UNAUTHENTICATED, a
    banned account PERMISSION_DENIED, and a non-admin on AdminService PERMISSION_DENIED.
    The session is read from the database on every call, so a revoked token stops
    working at once.
    """

    def __init__(self, store: Store, *, clock: Callable[[], datetime] | None = None) -> None:
        self._store = store
        self._clock = clock or (lambda: datetime.now(UTC))

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method
        if handler is None or not method.startswith(_CHATVIEW_PREFIX):
            return handler
        if method in PUBLIC_METHODS:
            return handler
        admin_only = method.startswith(ADMIN_SERVICE_PREFIX)
        metadata = handler_call_details.invocation_metadata or ()
        return _wrap_handler(
            handler,
            lambda behavior: self._wrap_unary(metadata, admin_only, behavior),
            lambda behavior: self._wrap_stream(metadata, admin_only, behavior),
        )

    def _wrap_unary(
        self, metadata: Sequence[tuple[str, Any]], admin_only: bool, behavior: UnaryBehavior
    ) -> UnaryBehavior:
        async def authenticated(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            caller_var.set(await self._authenticate(metadata, admin_only))
            return await behavior(request, context)

        return authenticated

    def _wrap_stream(
        self, metadata: Sequence[tuple[str, Any]], admin_only: bool, behavior: StreamBehavior
    ) -> StreamBehavior:
        async def authenticated(
            request: Any, context: grpc.aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[Any]:
            caller_var.set(await self._authenticate(metadata, admin_only))
            async for response in behavior(request, context):
                yield response

        return authenticated

    async def _authenticate(self, metadata: Sequence[tuple[str, Any]], admin_only: bool) -> Caller:
        token = _bearer_token(metadata)
        token_hash = hash_token(token)
        found = await self._store.get_session_user(token_hash, self._clock())
        if found is None:
            raise RpcError(
                grpc.StatusCode.UNAUTHENTICATED,
                "session token is unknown, expired or logged out; log in again",
            )

        session, user = found.session, found.user
        if user.is_banned:
            raise RpcError(grpc.StatusCode.PERMISSION_DENIED, "account is banned")
        if admin_only and user.role is not Role.ADMIN:
            raise RpcError(grpc.StatusCode.PERMISSION_DENIED, "AdminService needs an admin account")
        return Caller(
            public_key=user.public_key,
            role=user.role,
            session_id=session.id,
            token_hash=token_hash,
            client_id=session.client_id,
            expires_at=session.expires_at,
        )


def _bearer_token(metadata: Sequence[tuple[str, Any]]) -> str:
    values = [value for key, value in metadata if key == "authorization"]
    if not values:
        raise RpcError(
            grpc.StatusCode.UNAUTHENTICATED,
            "missing authorization metadata; send 'authorization: Bearer <session_token>'",
        )
    value = values[0]
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    scheme, _, token = str(value).strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise RpcError(
            grpc.StatusCode.UNAUTHENTICATED,
            "authorization metadata must be 'Bearer <session_token>'",
        )
    if len(token) > _MAX_TOKEN_LENGTH:
        raise RpcError(
            grpc.StatusCode.UNAUTHENTICATED,
            "session token is unknown, expired or logged out; log in again",
        )
    return token
