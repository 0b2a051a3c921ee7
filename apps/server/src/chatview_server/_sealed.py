"""End-to-end sealed bodies as the server sees them: opaque bytes with a size limit.

The server never reads a sealed body. It checks the size, stores the bytes beside a
fixed placeholder `text`, and forwards both, so a client that does not know the field
shows the placeholder rather than an empty message.
"""

from __future__ import annotations

from typing import Final

import grpc

from ._status import RpcError

__all__ = [
    "SEALED_CAPABILITY",
    "SEALED_PLACEHOLDER_TEXT",
    "SEALED_SLACK_BYTES",
    "check_sealed_body",
    "max_sealed_body_bytes",
]

SEALED_CAPABILITY: Final = "sealed-v1"
"""The `LoginReq.capabilities` entry of a client that reads and writes sealed bodies."""

SEALED_PLACEHOLDER_TEXT: Final = "[Encrypted message: update your ChatView client to read it]"
"""The `text` of every sealed message, for clients that do not read `sealed_body`."""

SEALED_SLACK_BYTES: Final = 512
"""Room above the text's worst-case UTF-8 size for the version byte, nonce, tag and
envelope header (74 bytes plus the client_message_id in format version 1)."""

# A code point takes at most 4 bytes of UTF-8.
_MAX_UTF8_BYTES_PER_CHAR: Final = 4


def max_sealed_body_bytes(max_message_chars: int) -> int:
    """Return the largest sealed body for a text limit of `max_message_chars` code points."""
    return max_message_chars * _MAX_UTF8_BYTES_PER_CHAR + SEALED_SLACK_BYTES


def check_sealed_body(sealed_body: bytes, text: str, max_message_chars: int) -> None:
    """Check a SendMessage that carries a sealed body: `text` empty, size within the limit.

    Raises:
        RpcError: INVALID_ARGUMENT naming the field and the limit.
    """
    if text:
        raise RpcError(
            grpc.StatusCode.INVALID_ARGUMENT,
            "invalid text: a message with sealed_body must leave text empty, so the "
            "plaintext never reaches the server",
        )
    limit = max_sealed_body_bytes(max_message_chars)
    if len(sealed_body) > limit:
        raise RpcError(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"invalid sealed_body: it is {len(sealed_body)} bytes; the maximum is {limit} "
            f"bytes ({max_message_chars} characters of text sealed)",
        )
