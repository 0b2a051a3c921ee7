"""The request context: who is calling, and the request id, in context variables.

The interceptors set both before a handler runs. Each gRPC call runs in its own
asyncio task, so the values never leak from one call into another.
"""

from __future__ import annotations

from contextvars import ContextVar
from datetime import datetime
from typing import Final

import attrs

from chatview_store_pg import Role

__all__ = ["Caller", "current_caller", "current_request_id", "request_id_var"]


@attrs.frozen
class Caller:
    """The authenticated user of the current call and its login session."""

    public_key: str
    """Canonical key, 64 lowercase hex characters."""
    role: Role
    session_id: str
    token_hash: bytes
    """SHA-256 of the bearer token; the token itself is never kept."""
    client_id: str
    """The device name given at login."""
    expires_at: datetime

    @property
    def short_key(self) -> str:
        """The first 8 hex characters of the key, for logs."""
        return self.public_key[:8]

    @property
    def is_admin(self) -> bool:
        """True when the role is ADMIN."""
        return self.role is Role.ADMIN


caller_var: Final[ContextVar[Caller | None]] = ContextVar("chatview_caller", default=None)
request_id_var: Final[ContextVar[str]] = ContextVar("chatview_request_id", default="")


def current_caller() -> Caller:
    """Return the authenticated caller of the current call.

    Raises:
        RuntimeError: called outside an authenticated call (a server bug).
    """
    caller = caller_var.get()
    if caller is None:
        msg = "no authenticated caller in this context; is the method missing from auth?"
        raise RuntimeError(msg)
    return caller


def current_request_id() -> str:
    """Return the id of the current call, or an empty string outside a call."""
    return request_id_var.get()
