"""UUID version 7 (RFC 9562): a 48-bit Unix millisecond timestamp, then random bits.

Python 3.11 has no `uuid.uuid7`. Ids made by one process also sort in the order they
were made: within one millisecond the 12 bits after the version count up (the RFC's
"fixed bit-length dedicated counter" method), starting from a random value.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from typing import Final

__all__ = ["uuid7"]

_COUNTER_BITS: Final = 12
_COUNTER_MAX: Final = (1 << _COUNTER_BITS) - 1
_lock = threading.Lock()
_last_ms = -1
_counter = 0


def uuid7(now_ms: int | None = None) -> uuid.UUID:
    """Return a new UUIDv7.

    Args:
        now_ms: the Unix time in milliseconds to embed; None reads the clock. A value
            below the last one used is raised to it, so ids never go back in time.
    """
    global _last_ms, _counter

    with _lock:
        millis = time.time_ns() // 1_000_000 if now_ms is None else now_ms
        if millis <= _last_ms:
            millis = _last_ms
            _counter += 1
            if _counter > _COUNTER_MAX:
                # Counter exhausted within one millisecond: borrow the next one.
                millis += 1
                _counter = secrets.randbits(_COUNTER_BITS - 1)
        else:
            # Start low enough in the counter space to leave room for many more ids.
            _counter = secrets.randbits(_COUNTER_BITS - 1)
        _last_ms = millis
        counter = _counter

    value = (millis & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= counter << 64
    value |= 0b10 << 62
    value |= secrets.randbits(62)
    return uuid.UUID(int=value)
