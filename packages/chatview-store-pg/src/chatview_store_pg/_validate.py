"""Argument checks run before any statement, so bad input never reaches PostgreSQL."""

from __future__ import annotations

import re
from datetime import datetime

from ._errors import (
    InvalidCursorError,
    InvalidDirectionError,
    InvalidFieldError,
    InvalidLimitError,
    InvalidPublicKeyError,
    InvalidTextError,
    SelfTargetError,
)

__all__ = [
    "MAX_BIGINT",
    "check_aware",
    "check_bytes",
    "check_field",
    "check_key",
    "check_limit",
    "check_not_self",
    "check_text",
    "parse_cursor",
    "parse_direction",
]

MAX_BIGINT = 2**63 - 1
_KEY = re.compile(r"[0-9a-f]{64}")
_DECIMAL = re.compile(r"[0-9]{1,19}")


def _shown(value: object) -> str:
    """Return a short repr for error messages, so a huge value cannot flood a log."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_key(value: object, role: str = "public key") -> str:
    """Return `value` when it is a canonical public key (64 lowercase hex characters)."""
    if not isinstance(value, str) or _KEY.fullmatch(value) is None:
        msg = (
            f"{role} {_shown(value)} is not 64 lowercase hex characters; "
            "canonicalize it with chatview-identity first"
        )
        raise InvalidPublicKeyError(msg)
    return value


def check_not_self(owner: str, target: str, action: str) -> None:
    """Reject an action whose target is the acting user."""
    if owner == target:
        msg = f"cannot {action} yourself; the target key is the caller's own key"
        raise SelfTargetError(msg)


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_text(text: object, max_length: int) -> str:
    """Return `text` when it is a storable message; it is stored unchanged."""
    if not isinstance(text, str):
        msg = f"message text must be a str, not {type(text).__name__}"
        raise InvalidTextError(msg)
    if not text.strip():
        msg = "message text is empty or whitespace only; write something"
        raise InvalidTextError(msg)
    if len(text) > max_length:
        msg = f"message text has {len(text)} code points; the maximum is {max_length}"
        raise InvalidTextError(msg)
    if "\x00" in text:
        msg = "message text contains a NUL character, which PostgreSQL cannot store; remove it"
        raise InvalidTextError(msg)
    if not _encodable(text):
        msg = "message text contains a lone surrogate, which has no UTF-8 form; remove it"
        raise InvalidTextError(msg)
    return text


def check_field(value: object, name: str, max_length: int) -> str:
    """Return a short free-text field (alias, client id) when it is storable."""
    if not isinstance(value, str):
        msg = f"{name} must be a str, not {type(value).__name__}"
        raise InvalidFieldError(msg)
    if len(value) > max_length:
        msg = f"{name} has {len(value)} characters; the maximum is {max_length}"
        raise InvalidFieldError(msg)
    if "\x00" in value or not _encodable(value):
        msg = f"{name} {_shown(value)} contains NUL or a lone surrogate; remove it"
        raise InvalidFieldError(msg)
    return value


def check_bytes(value: object, name: str, max_length: int) -> bytes:
    """Return `value` when it is 1..max_length bytes."""
    if not isinstance(value, bytes):
        msg = f"{name} must be bytes, not {type(value).__name__}"
        raise InvalidFieldError(msg)
    if not 1 <= len(value) <= max_length:
        msg = f"{name} has {len(value)} bytes; expected 1 to {max_length}"
        raise InvalidFieldError(msg)
    return value


def check_aware(value: object, name: str) -> datetime:
    """Return `value` when it is a timezone-aware datetime."""
    if not isinstance(value, datetime) or value.utcoffset() is None:
        msg = f"{name} must be a timezone-aware datetime, got {_shown(value)}"
        raise InvalidFieldError(msg)
    return value


def check_limit(limit: object, *, default: int, maximum: int, name: str = "limit") -> int:
    """Return the page size: `default` for 0, the value for 1..maximum."""
    if not isinstance(limit, int) or isinstance(limit, bool):
        msg = f"{name} must be an int, not {type(limit).__name__}"
        raise InvalidLimitError(msg)
    if limit == 0:
        return default
    if not 1 <= limit <= maximum:
        msg = f"{name} {limit} is out of range; use 1 to {maximum}, or 0 for {default}"
        raise InvalidLimitError(msg)
    return limit


def parse_cursor(cursor: object) -> int | None:
    """Return the server_seq a history cursor names, or None for the empty cursor."""
    if cursor == "":
        return None
    if not isinstance(cursor, str) or _DECIMAL.fullmatch(cursor) is None:
        msg = (
            f"history cursor {_shown(cursor)} is not a server_seq; use a non-negative "
            "decimal number from next_cursor, or an empty string"
        )
        raise InvalidCursorError(msg)
    value = int(cursor)
    if value > MAX_BIGINT:
        msg = f"history cursor {cursor} is larger than any server_seq (max {MAX_BIGINT})"
        raise InvalidCursorError(msg)
    return value


def parse_direction(direction: object) -> bool:
    """Return True for "older" (or empty), False for "newer"."""
    if direction in ("", "older"):
        return True
    if direction == "newer":
        return False
    msg = f'history direction {_shown(direction)} is invalid; use "older", "newer" or ""'
    raise InvalidDirectionError(msg)
