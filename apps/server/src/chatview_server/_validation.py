"""Checks of request fields that the wire contract defines and the store does not.

Each check raises `RpcError` with INVALID_ARGUMENT, naming the field and the value
(shortened), so a client developer can see what to change.
"""

from __future__ import annotations

from typing import Final

import grpc

from chatview_store_pg import MAX_PAGE_LIMIT

from ._status import RpcError, invalid_argument

__all__ = [
    "MAX_ALIAS_CHARS",
    "MAX_CHANGES_LIMIT",
    "MAX_CLIENT_ID_CHARS",
    "MAX_CLIENT_MESSAGE_ID_CHARS",
    "check_alias",
    "check_changes_limit",
    "check_client_id",
    "check_client_message_id",
    "check_history_cursor",
    "check_history_direction",
    "check_history_limit",
    "check_text",
]

MAX_CLIENT_MESSAGE_ID_CHARS: Final = 64
"""A UUID in text form is 36 characters; 64 leaves room for other schemes."""
MAX_ALIAS_CHARS: Final = 64
MAX_CLIENT_ID_CHARS: Final = 200
MAX_CHANGES_LIMIT: Final = 500
DEFAULT_CHANGES_LIMIT: Final = 100


def check_text(field: str, text: str, max_chars: int) -> None:
    """Check a message or broadcast body: not blank, at most `max_chars` code points, no NUL."""
    if not text.strip():
        what = "empty" if not text else "only whitespace"
        raise RpcError(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"invalid {field}: it is {what}; write at least one visible character",
        )
    if len(text) > max_chars:
        raise RpcError(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"invalid {field}: it is {len(text)} characters long; the maximum is "
            f"{max_chars} characters (Unicode code points)",
        )
    if "\x00" in text:
        raise RpcError(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"invalid {field}: it contains a NUL character (U+0000), which cannot be stored",
        )


def check_client_message_id(value: str) -> None:
    """Check the idempotency key: 1 to 64 characters, no surrounding whitespace."""
    if not value:
        raise RpcError(
            grpc.StatusCode.INVALID_ARGUMENT,
            "invalid client_message_id: it is empty; send a fresh UUIDv7 per message and "
            "the same value on every retry",
        )
    if len(value) > MAX_CLIENT_MESSAGE_ID_CHARS:
        raise invalid_argument(
            "client_message_id",
            value,
            f"it is {len(value)} characters; the maximum is {MAX_CLIENT_MESSAGE_ID_CHARS}",
        )
    if value != value.strip() or "\x00" in value:
        raise invalid_argument(
            "client_message_id", value, "it has surrounding whitespace or a NUL character"
        )


def check_alias(value: str) -> None:
    """Check a contact alias: at most 64 characters, no NUL."""
    if len(value) > MAX_ALIAS_CHARS:
        raise invalid_argument(
            "alias", value, f"it is {len(value)} characters; the maximum is {MAX_ALIAS_CHARS}"
        )
    if "\x00" in value:
        raise invalid_argument("alias", value, "it contains a NUL character")


def check_client_id(value: str) -> None:
    """Check a device name: at most 200 characters, no NUL."""
    if len(value) > MAX_CLIENT_ID_CHARS:
        raise invalid_argument(
            "client_id",
            value,
            f"it is {len(value)} characters; the maximum is {MAX_CLIENT_ID_CHARS}",
        )
    if "\x00" in value:
        raise invalid_argument("client_id", value, "it contains a NUL character")


def check_history_limit(limit: int) -> int:
    """Return the store's page size for a request limit: 0 or less means the default."""
    if limit > MAX_PAGE_LIMIT:
        raise invalid_argument("limit", limit, f"the maximum page size is {MAX_PAGE_LIMIT}")
    return max(limit, 0)


def check_history_cursor(cursor: str) -> None:
    """Check a history cursor: empty, or a server_seq in decimal."""
    if cursor and not (cursor.isascii() and cursor.isdigit()):
        raise invalid_argument(
            "cursor", cursor, "expected a server_seq in decimal digits, or empty for the start"
        )


def check_history_direction(direction: str) -> None:
    """Check a history direction: "older", "newer" or empty."""
    if direction not in ("", "older", "newer"):
        raise invalid_argument("direction", direction, "expected 'older' or 'newer'")


def check_changes_limit(limit: int) -> int:
    """Return the page size for ListChangedConversations: 0 or less means 100."""
    if limit > MAX_CHANGES_LIMIT:
        raise invalid_argument(
            "limit", limit, f"the maximum for ListChangedConversations is {MAX_CHANGES_LIMIT}"
        )
    return limit if limit > 0 else DEFAULT_CHANGES_LIMIT
