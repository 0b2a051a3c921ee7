"""Errors that become gRPC statuses, and the mapping of library errors to them.

Handlers raise `RpcError` (or let a store, identity or hub error through); the
request interceptor calls `status_for` and aborts the call with the result. What a
client reads is a sentence naming the field and the bad value; a stack trace never
leaves the server.
"""

from __future__ import annotations

import grpc

import chatview_store_pg as store_errors
from chatview_hub import HubClosedError
from chatview_identity import InvalidPublicKeyError, parse_public_key

from ._config import quote_value

__all__ = [
    "RpcError",
    "invalid_argument",
    "parse_key_field",
    "status_for",
]


class RpcError(Exception):
    """A failure with the gRPC status code and the message the client gets."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def invalid_argument(field: str, value: object, reason: str) -> RpcError:
    """Return an INVALID_ARGUMENT error naming the field, the value (shortened) and why."""
    return RpcError(
        grpc.StatusCode.INVALID_ARGUMENT, f"invalid {field} {quote_value(value)}: {reason}"
    )


def parse_key_field(field: str, text: str) -> str:
    """Parse a public key from a request field and return its canonical hex form.

    Raises:
        RpcError: INVALID_ARGUMENT naming the field and what is wrong with the key.
    """
    try:
        return parse_public_key(text).hex
    except InvalidPublicKeyError as exc:
        raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, f"{field}: {exc}") from None


def status_for(exc: BaseException) -> tuple[grpc.StatusCode, str] | None:
    """Return the status and message for an expected error, or None for anything else.

    None means a bug or an unforeseen failure: the caller returns INTERNAL with a
    request id and logs the traceback.
    """
    if isinstance(exc, RpcError):
        return exc.code, exc.message
    if isinstance(exc, store_errors.InvalidValueError | InvalidPublicKeyError):
        return grpc.StatusCode.INVALID_ARGUMENT, str(exc)
    if isinstance(exc, store_errors.UserNotFoundError):
        return grpc.StatusCode.NOT_FOUND, str(exc)
    if isinstance(exc, store_errors.IdempotencyConflictError):
        return grpc.StatusCode.ALREADY_EXISTS, str(exc)
    if isinstance(exc, store_errors.StoreUnavailableError | store_errors.RetriesExhaustedError):
        return (
            grpc.StatusCode.UNAVAILABLE,
            "the database is unavailable or busy; retry the call later",
        )
    if isinstance(exc, HubClosedError):
        return grpc.StatusCode.UNAVAILABLE, "the server is shutting down; reconnect later"
    return None
