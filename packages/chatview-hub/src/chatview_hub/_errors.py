"""Errors raised by the hub.

The tree::

    HubError (Exception)
    ├── ConnectionClosedError            the hub or the server ended a connection
    │   └── ConnectionOverflowError      ... because its queue was full (a slow consumer)
    ├── WouldBlockError                  receive_nowait() found no queued event
    ├── HubClosedError (RuntimeError)    connect() after Hub.close()
    ├── InvalidUserError (ValueError)    a user is not 64 lowercase hexadecimal digits
    ├── BackendBindingError (RuntimeError)
    │                                    a backend bound to a second hub, or used unbound
    ├── BackendStateError (RuntimeError) a cross-process backend started twice or after stop
    ├── BackendUnavailableError (ConnectionError)
    │                                    start() could not reach PostgreSQL or NATS
    └── MissingDependencyError (ImportError)
                                         a backend's optional extra is not installed

``ConnectionOverflowError`` is a ``ConnectionClosedError`` so that code which only
wants to know "this stream is over" catches both, while the server can catch the
subclass first and end the stream with a resource-exhausted status.
"""

from __future__ import annotations

__all__ = [
    "BackendBindingError",
    "BackendStateError",
    "BackendUnavailableError",
    "ConnectionClosedError",
    "ConnectionOverflowError",
    "HubClosedError",
    "HubError",
    "InvalidUserError",
    "MissingDependencyError",
    "WouldBlockError",
]


class HubError(Exception):
    """Base class of every error the hub raises."""


class ConnectionClosedError(HubError):
    """Raised by ``receive()`` once a closed connection has no queued event left.

    Every event queued before the close is still delivered first. Not raised while
    events remain in the queue.

    Attributes:
        reason: Why the connection ended, for example ``"replaced"``,
            ``"force_offline"``, ``"session_revoked"`` or ``"server_shutdown"``
            (see ``CloseReason``), or the reason the server passed to
            ``Hub.close_user()`` or ``Hub.close_session()``.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(self._describe(reason))
        self.reason = reason

    def _describe(self, reason: str) -> str:
        return f"connection closed (reason {reason!r}); open a new one to receive events again"


class ConnectionOverflowError(ConnectionClosedError):
    """Raised by ``receive()`` when the hub closed the connection for falling behind.

    The connection's queue was full when the hub had another event for it. The events
    queued before that are delivered first; the later ones were not queued, so the
    client must catch up from the database. ``reason`` is ``"slow_consumer"``.
    """

    def __init__(self, reason: str, max_queue_size: int) -> None:
        self.max_queue_size = max_queue_size
        super().__init__(reason)

    def _describe(self, reason: str) -> str:
        return (
            f"connection closed because its queue of {self.max_queue_size} events was full "
            f"(reason {reason!r}); reconnect and catch up from the database"
        )


class WouldBlockError(HubError):
    """Raised by ``receive_nowait()`` when no event is queued and the connection is open."""

    def __init__(self) -> None:
        super().__init__("no event is queued; await receive() to wait for one")


class HubClosedError(HubError, RuntimeError):
    """Raised by ``Hub.connect()`` after ``Hub.close()``."""

    def __init__(self) -> None:
        super().__init__("the hub is closed (the server is stopping); no new connection")


class InvalidUserError(HubError, ValueError):
    """Raised when a user is not a public key in 64 lowercase hexadecimal digits."""

    def __init__(self, user: str) -> None:
        shown = user if len(user) <= 80 else f"{user[:80]}..."
        super().__init__(
            f"invalid user {shown!r}: expected a public key of 64 lowercase hex digits; "
            "normalize the key before passing it to the hub"
        )
        self.user = user


class BackendBindingError(HubError, RuntimeError):
    """Raised when a backend is bound to a second hub or used before any hub bound it."""


class BackendStateError(HubError, RuntimeError):
    """Raised when a cross-process backend is started twice, or again after ``stop()``."""


class BackendUnavailableError(HubError, ConnectionError):
    """Raised by a cross-process backend's ``start()`` when its server cannot be reached.

    The original error is chained as ``__cause__``. Once started, a backend does not
    raise this: it reconnects by itself and logs ``hub.backend.*`` events meanwhile.
    """


class MissingDependencyError(HubError, ImportError):
    """Raised when a backend is made without the optional extra it needs installed."""

    def __init__(self, backend: str, module: str, extra: str) -> None:
        super().__init__(
            f"{backend} needs the {module!r} package, which is not installed; "
            f"install chatview-hub[{extra}]"
        )
        self.backend = backend
        self.module = module
        self.extra = extra
