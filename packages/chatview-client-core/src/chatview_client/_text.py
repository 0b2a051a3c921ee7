"""Local checks of message text, matching what the server refuses.

Text the server would refuse never enters the outbox, so it cannot become an item that
is retried and refused again. Length is counted in code points, as the server counts
it, not in UTF-8 bytes or UTF-16 units.
"""

from __future__ import annotations

from ._errors import InvalidMessageError

__all__ = ["check_message_text"]


def check_message_text(text: str, *, max_chars: int) -> str:
    """Return `text` unchanged if the server would accept it as a message body.

    Raises:
        InvalidMessageError: not a str, empty or only whitespace, longer than
            `max_chars` code points, or holding a lone surrogate (not encodable as UTF-8).
    """
    if not text.strip():
        msg = "message text is empty or only whitespace; write something to send"
        raise InvalidMessageError(msg)
    if len(text) > max_chars:
        msg = (
            f"message text is {len(text)} characters long; the limit is {max_chars} "
            "characters (code points), so split it into several messages"
        )
        raise InvalidMessageError(msg)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        msg = (
            f"message text has a lone surrogate (U+{ord(text[exc.start]):04X}) at position "
            f"{exc.start}, which is not a character and cannot be sent; remove it"
        )
        raise InvalidMessageError(msg) from None
    return text
