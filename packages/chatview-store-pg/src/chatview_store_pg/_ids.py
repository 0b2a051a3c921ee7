"""UUIDv7 ids (RFC 9562): 48-bit Unix milliseconds, then random bits.

Python 3.11 has no ``uuid.uuid7``, and PostgreSQL only has ``uuidv7()`` from version 18,
so ids are made here. Ids from one process are strictly increasing: within one
millisecond the 12-bit ``rand_a`` field counts up from a random start.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid

__all__ = ["uuid7"]

_lock = threading.Lock()
_last_millis = -1
_counter = 0


def uuid7() -> str:
    """Return a new UUIDv7 in canonical text form."""
    global _last_millis, _counter
    with _lock:
        millis = time.time_ns() // 1_000_000
        if millis > _last_millis:
            _last_millis = millis
            # Start low in the 12-bit space so many ids fit in one millisecond.
            _counter = secrets.randbits(10)
        else:
            # Same millisecond (or the clock went back): count on from the last id.
            _counter += 1
            if _counter >= 1 << 12:
                _last_millis += 1
                _counter = 0
        millis, counter = _last_millis, _counter
    value = (millis & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= counter << 64
    value |= 0b10 << 62
    value |= secrets.randbits(62)
    return str(uuid.UUID(int=value))
