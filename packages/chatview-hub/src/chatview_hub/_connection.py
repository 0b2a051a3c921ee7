"""One device's live connection: a bounded queue of events and its receiving end.

Invariants:

1. The queue contains at most ``max_queue_size`` events, plus at most one final event
   queued by ``close_user`` or ``close_session`` after the close. Nothing else grows.
2. Once ended, a connection never accepts another event. Its receiver gets the events
   queued before the end, then ``ConnectionClosedError`` (or its subclass
   ``ConnectionOverflowError``) on every later call.
3. ``receive()`` removes an event from the queue only after it has resumed, so a task
   cancelled while waiting leaves every event in place for the next receiver.
"""

from __future__ import annotations

import asyncio
import collections
import datetime
import uuid
from collections.abc import Callable
from types import TracebackType
from typing import Generic, TypeVar, final

from ._errors import ConnectionClosedError, ConnectionOverflowError, WouldBlockError
from ._values import CloseReason, ConnectionStatistics

__all__ = ["Connection", "EventT"]

EventT = TypeVar("EventT")


@final
class Connection(Generic[EventT]):
    """One device's subscription to its user's events, made by ``Hub.connect()``.

    Receive with ``await connection.receive()``, ``connection.receive_nowait()`` or
    ``async for event in connection``. Call ``close()`` (or use the connection as a
    ``with`` block) when the device's stream ends, so the hub removes it and presence
    goes offline with the last connection.

    Not thread-safe: use a connection and its hub from one event loop thread.
    """

    __slots__ = (
        "_buffer",
        "_client_id",
        "_close_reason",
        "_connected_at",
        "_connection_id",
        "_events_delivered",
        "_events_received",
        "_is_admin",
        "_max_queue_size",
        "_on_close",
        "_overflowed",
        "_session_id",
        "_user",
        "_waiters",
    )

    _buffer: collections.deque[EventT]
    _client_id: str
    _close_reason: str | None
    _connected_at: datetime.datetime
    _connection_id: str
    _events_delivered: int
    _events_received: int
    _is_admin: bool
    _max_queue_size: int
    _on_close: Callable[[Connection[EventT]], None]
    _overflowed: bool
    _session_id: str | None
    _user: str
    _waiters: list[asyncio.Future[None]]

    def __init__(self) -> None:
        msg = "Connection objects are made by Hub.connect(), not constructed directly"
        raise TypeError(msg)

    @classmethod
    def _open(
        cls,
        *,
        user: str,
        client_id: str,
        session_id: str | None,
        is_admin: bool,
        max_queue_size: int,
        on_close: Callable[[Connection[EventT]], None],
    ) -> Connection[EventT]:
        """Make an open connection. Only the hub calls this."""
        self = object.__new__(cls)
        self._buffer = collections.deque()
        self._client_id = client_id
        self._close_reason = None
        self._connected_at = datetime.datetime.now(datetime.UTC)
        self._connection_id = uuid.uuid4().hex
        self._events_delivered = 0
        self._events_received = 0
        self._is_admin = is_admin
        self._max_queue_size = max_queue_size
        self._on_close = on_close
        self._overflowed = False
        self._session_id = session_id
        self._user = user
        self._waiters = []
        return self

    # -- identity ---------------------------------------------------------------------

    @property
    def user(self) -> str:
        """The user's public key, 64 lowercase hexadecimal digits."""
        return self._user

    @property
    def client_id(self) -> str:
        """The device name the client chose (may be empty)."""
        return self._client_id

    @property
    def session_id(self) -> str | None:
        """The opaque login-session id given to ``Hub.connect()``, if any."""
        return self._session_id

    @property
    def is_admin(self) -> bool:
        """True when the connection receives ``Hub.publish_admins()`` events."""
        return self._is_admin

    @property
    def connection_id(self) -> str:
        """A random id, unique across processes, that names this connection."""
        return self._connection_id

    @property
    def connected_at(self) -> datetime.datetime:
        """When ``Hub.connect()`` made the connection (timezone-aware, UTC)."""
        return self._connected_at

    @property
    def closed(self) -> bool:
        """True once the connection ended. Queued events may still be waiting."""
        return self._close_reason is not None

    @property
    def close_reason(self) -> str | None:
        """Why the connection ended (see ``CloseReason``), or None while it is open."""
        return self._close_reason

    def statistics(self) -> ConnectionStatistics:
        """Return a snapshot of the queue and its counters."""
        return ConnectionStatistics(
            queued=len(self._buffer),
            max_queue_size=self._max_queue_size,
            events_delivered=self._events_delivered,
            events_received=self._events_received,
            waiting_receivers=len(self._waiters),
            closed=self.closed,
            close_reason=self._close_reason,
        )

    # -- receiving --------------------------------------------------------------------

    def receive_nowait(self) -> EventT:
        """Take the next queued event without waiting.

        Raises:
            WouldBlockError: No event is queued and the connection is open.
            ConnectionOverflowError: The queue is empty and the hub closed the
                connection because it had filled up.
            ConnectionClosedError: The queue is empty and the connection ended for
                another reason (see its ``reason``).
        """
        if self._buffer:
            self._events_received += 1
            return self._buffer.popleft()
        if self._close_reason is not None:
            raise self._closed_error()
        raise WouldBlockError

    async def receive(self) -> EventT:
        """Wait for the next event and return it.

        Cancelling the waiting task loses no event and leaves the connection open.

        Raises:
            ConnectionOverflowError: The queue is empty and the hub closed the
                connection because it had filled up.
            ConnectionClosedError: The queue is empty and the connection ended for
                another reason (see its ``reason``).
        """
        while True:
            if self._buffer:
                self._events_received += 1
                return self._buffer.popleft()
            if self._close_reason is not None:
                raise self._closed_error()

            # Each new event wakes every waiter, and a waiter that finds the queue empty
            # again waits again. One receiver per connection is the usual case.
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                self._waiters.remove(waiter)

    def __aiter__(self) -> Connection[EventT]:
        return self

    async def __anext__(self) -> EventT:
        """Return the next event; stop after a normal close, raise after an overflow.

        Raises:
            ConnectionOverflowError: The hub closed the connection for falling behind,
                so the caller should end its stream with an error status.
        """
        try:
            return await self.receive()
        except ConnectionOverflowError:
            raise
        except ConnectionClosedError:
            raise StopAsyncIteration from None

    # -- closing ----------------------------------------------------------------------

    def close(self) -> None:
        """End the connection from the server's side and drop its queued events.

        Call this when the device's stream ends. Idempotent, and safe after the hub
        itself ended the connection. Waiting receivers get ``ConnectionClosedError``.
        """
        self._on_close(self)

    def __enter__(self) -> Connection[EventT]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "open" if self._close_reason is None else f"closed ({self._close_reason})"
        return (
            f"<Connection user={self._user[:12]}... client_id={self._client_id!r} "
            f"{state} queued={len(self._buffer)}>"
        )

    # -- used by the hub --------------------------------------------------------------

    def _push(self, event: EventT) -> bool:
        """Queue ``event``; return False, queueing nothing, when the queue is full."""
        if len(self._buffer) >= self._max_queue_size:
            return False
        self._buffer.append(event)
        self._events_delivered += 1
        if self._waiters:
            self._wake_waiters()
        return True

    def _end(self, reason: str, *, final_event: EventT | None, overflowed: bool) -> bool:
        """Mark the connection ended and wake its receivers.

        ``final_event`` is queued even over the bound, so a device that is forced
        offline always learns why. Returns False when it had already ended.
        """
        if self._close_reason is not None:
            return False
        if final_event is not None:
            self._buffer.append(final_event)
            self._events_delivered += 1
        # str() turns a CloseReason member into its plain value for messages and logs.
        self._close_reason = str(reason)
        self._overflowed = overflowed
        self._wake_waiters()
        return True

    def _discard(self) -> None:
        """Drop every queued event, because the server will not read them."""
        if self._close_reason is None:
            self._close_reason = str(CloseReason.DISCONNECTED)
        self._buffer.clear()
        self._wake_waiters()

    def _wake_waiters(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _closed_error(self) -> ConnectionClosedError:
        # A fresh exception per raise, so tracebacks do not pile up on one object.
        reason = self._close_reason or str(CloseReason.DISCONNECTED)
        if self._overflowed:
            return ConnectionOverflowError(reason, self._max_queue_size)
        return ConnectionClosedError(reason)
