"""Errors raised by chatview_client.

Every error derives from `ChatViewError` and from the builtin that fits, split by who is
at fault: the caller or its configuration, the local cache, or the server's response::

    ChatViewError (Exception)
    ├── ConfigError (ValueError)                  a configuration value or file is unusable
    ├── InvalidMessageError (ValueError)          text the server would refuse; checked locally
    ├── ClientStateError (RuntimeError)           the client is not open, closed, or not admin
    ├── OutboxItemNotFoundError (LookupError)     no outbox item has that client_message_id
    ├── ConnectionFailedError (ConnectionError)   no session could be opened in time
    ├── SessionEndedError                         the server ended the session for good
    ├── ServerProtocolError                       the server broke the protocol
    ├── CacheError                                the local SQLite cache
    │   ├── CacheVersionError                     written by a newer chatview-client-core
    │   └── CacheCorruptedError                   not a readable cache file
    └── RpcError                                  a gRPC call failed; `code` names the status
        ├── CallCancelledError                    CANCELLED
        ├── UnknownServerError                    UNKNOWN
        ├── InvalidArgumentError (ValueError)     INVALID_ARGUMENT
        ├── DeadlineExceededError (TimeoutError)  DEADLINE_EXCEEDED
        ├── NotFoundError (LookupError)           NOT_FOUND
        ├── AlreadyExistsError                    ALREADY_EXISTS
        ├── PermissionDeniedError (PermissionError)  PERMISSION_DENIED
        ├── ResourceExhaustedError                RESOURCE_EXHAUSTED
        ├── FailedPreconditionError               FAILED_PRECONDITION
        ├── AbortedError                          ABORTED
        ├── OutOfRangeError (ValueError)          OUT_OF_RANGE
        ├── UnimplementedError (NotImplementedError)  UNIMPLEMENTED
        ├── InternalServerError                   INTERNAL
        ├── UnavailableError (ConnectionError)    UNAVAILABLE
        ├── DataLossError                         DATA_LOSS
        └── UnauthenticatedError (PermissionError)  UNAUTHENTICATED

`rpc_error_from` maps a `grpc.aio.AioRpcError` (or any `grpc.RpcError` with a status) to
the most specific class; the client raises it ``from`` the gRPC error. Errors about keys
and the key file come from `chatview_identity` unchanged. No message holds a private
key, a PIN, a session token or message text.
"""

from __future__ import annotations

from typing import Final

import grpc

__all__ = [
    "AbortedError",
    "AlreadyExistsError",
    "CacheCorruptedError",
    "CacheError",
    "CacheVersionError",
    "CallCancelledError",
    "ChatViewError",
    "ClientStateError",
    "ConfigError",
    "ConnectionFailedError",
    "DataLossError",
    "DeadlineExceededError",
    "FailedPreconditionError",
    "InternalServerError",
    "InvalidArgumentError",
    "InvalidMessageError",
    "NotFoundError",
    "OutOfRangeError",
    "OutboxItemNotFoundError",
    "PermissionDeniedError",
    "ResourceExhaustedError",
    "RpcError",
    "ServerProtocolError",
    "SessionEndedError",
    "UnauthenticatedError",
    "UnavailableError",
    "UnimplementedError",
    "UnknownServerError",
    "rpc_error_from",
]


class ChatViewError(Exception):
    """Base class of every error that chatview_client raises on purpose."""


class ConfigError(ChatViewError, ValueError):
    """A configuration value, environment variable or YAML file is unusable."""


class InvalidMessageError(ChatViewError, ValueError):
    """Message text the server would refuse: empty, blank, too long or not encodable.

    Raised before anything is queued, so such text never becomes an outbox item that
    cannot be sent.
    """


class ClientStateError(ChatViewError, RuntimeError):
    """The call does not fit the client's state: not opened, already closed, or an
    admin call from a session that is not an admin's."""


class OutboxItemNotFoundError(ChatViewError, LookupError):
    """No outbox item has the given client_message_id (it was sent or discarded)."""


class ConnectionFailedError(ChatViewError, ConnectionError):
    """No session with the server could be opened before the caller's time ran out.

    The last failure, if any, is the ``__cause__``.
    """


class SessionEndedError(ChatViewError):
    """The server ended the session for good: banned account, revoked key, refused login.

    The client does not reconnect after this; `reason` says why (for example
    ``"account_banned"``).
    """

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class ServerProtocolError(ChatViewError):
    """The server sent something the protocol does not allow, such as a login
    challenge without the ChatView prefix (which the client refuses to sign)."""


class CacheError(ChatViewError):
    """Base class of the errors about the local SQLite cache."""


class CacheVersionError(CacheError):
    """The cache file was written by a newer chatview-client-core with a newer schema."""


class CacheCorruptedError(CacheError):
    """The cache file cannot be read as a SQLite database of this library."""


class RpcError(ChatViewError):
    """A gRPC call failed with a status other than OK.

    Attributes:
        code: the status code's name, such as ``"UNAVAILABLE"``.
        details: the server's explanation, as sent.
        method: the short method name, such as ``"SendMessage"``, when known.
    """

    code: str = "UNKNOWN"

    def __init__(self, details: str, *, method: str = "") -> None:
        self.details = details
        self.method = method
        where = f"{method} failed" if method else "call failed"
        super().__init__(f"{where} with {self.code}: {details or 'no details'}")


class CallCancelledError(RpcError):
    """CANCELLED: the call was cancelled, usually because the channel closed."""

    code = "CANCELLED"


class UnknownServerError(RpcError):
    """UNKNOWN: the server failed without saying why."""

    code = "UNKNOWN"


class InvalidArgumentError(RpcError, ValueError):
    """INVALID_ARGUMENT: the server refused a value, such as a malformed key or text."""

    code = "INVALID_ARGUMENT"


class DeadlineExceededError(RpcError, TimeoutError):
    """DEADLINE_EXCEEDED: no answer within `grpc_timeout`; the call may still have worked."""

    code = "DEADLINE_EXCEEDED"


class NotFoundError(RpcError, LookupError):
    """NOT_FOUND: an unknown user (a key that never logged in)."""

    code = "NOT_FOUND"


class AlreadyExistsError(RpcError):
    """ALREADY_EXISTS: a client_message_id was reused for a different message."""

    code = "ALREADY_EXISTS"


class PermissionDeniedError(RpcError, PermissionError):
    """PERMISSION_DENIED: a banned account, or a non-admin calling an admin method."""

    code = "PERMISSION_DENIED"


class ResourceExhaustedError(RpcError):
    """RESOURCE_EXHAUSTED: a rate or size limit; the event stream ends with it when the
    client reads too slowly."""

    code = "RESOURCE_EXHAUSTED"


class FailedPreconditionError(RpcError):
    """FAILED_PRECONDITION: the request is valid but not now, such as an admin banning
    themselves."""

    code = "FAILED_PRECONDITION"


class AbortedError(RpcError):
    """ABORTED: a conflict the server gave up on; retrying may work."""

    code = "ABORTED"


class OutOfRangeError(RpcError, ValueError):
    """OUT_OF_RANGE: a value past a valid range, such as a cursor."""

    code = "OUT_OF_RANGE"


class UnimplementedError(RpcError, NotImplementedError):
    """UNIMPLEMENTED: the server does not offer the method (an older server)."""

    code = "UNIMPLEMENTED"


class InternalServerError(RpcError):
    """INTERNAL: the server failed; its logs say more."""

    code = "INTERNAL"


class UnavailableError(RpcError, ConnectionError):
    """UNAVAILABLE: the server cannot be reached or is shutting down; retrying may work."""

    code = "UNAVAILABLE"


class DataLossError(RpcError):
    """DATA_LOSS: the server reports unrecoverable data loss."""

    code = "DATA_LOSS"


class UnauthenticatedError(RpcError, PermissionError):
    """UNAUTHENTICATED: a missing, expired or revoked session, or a refused login
    signature. While the key is unlocked the client logs in again by itself."""

    code = "UNAUTHENTICATED"


_BY_CODE: Final[dict[grpc.StatusCode, type[RpcError]]] = {
    grpc.StatusCode.CANCELLED: CallCancelledError,
    grpc.StatusCode.UNKNOWN: UnknownServerError,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExistsError,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDeniedError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhaustedError,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPreconditionError,
    grpc.StatusCode.ABORTED: AbortedError,
    grpc.StatusCode.OUT_OF_RANGE: OutOfRangeError,
    grpc.StatusCode.UNIMPLEMENTED: UnimplementedError,
    grpc.StatusCode.INTERNAL: InternalServerError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.DATA_LOSS: DataLossError,
    grpc.StatusCode.UNAUTHENTICATED: UnauthenticatedError,
}


def rpc_error_from(exc: grpc.RpcError, *, method: str = "") -> RpcError:
    """Return the typed error for a failed gRPC call.

    The caller raises the result ``from exc`` so the original stays attached.

    Args:
        exc: the gRPC error; `grpc.aio.AioRpcError` and `grpc.Call` errors carry a code.
        method: the short method name, for the message.

    Returns:
        An instance of the `RpcError` subclass for the status; `UnknownServerError` when
        the error carries no code (or OK, which a failed call should not have).
    """
    code_of = getattr(exc, "code", None)
    details_of = getattr(exc, "details", None)
    code = code_of() if callable(code_of) else None
    details = details_of() if callable(details_of) else None
    error_class = _BY_CODE.get(code, UnknownServerError) if code is not None else None
    if error_class is None:
        error_class = UnknownServerError
    return error_class(str(details or ""), method=method)
