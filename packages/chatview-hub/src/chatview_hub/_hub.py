"""The hub: the server's registry of live connections and its fan-out of events."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import ClassVar, Generic, final

import structlog

from ._backend import HubBackend, LocalBackend, SharedPresence
from ._connection import Connection, EventT
from ._errors import HubClosedError
from ._registry import Registry
from ._values import CloseReason, HubStatistics, PresenceChange, validate_user

__all__ = ["Hub"]

# Events a connection may hold unread before the hub closes it as a slow consumer.
_DEFAULT_MAX_QUEUE_SIZE = 256

_logger = structlog.get_logger("chatview_hub")


@final
class Hub(Generic[EventT]):
    """Connections of every online device, and the fan-out of events to them.

    The hub is generic over the event type and never copies or inspects an event:
    every connection it reaches gets the same object. Every method is synchronous and
    never waits, so request handlers can publish without awaiting. Only
    ``Connection.receive()`` waits.

    Presence: the first connection of a user makes it online and the removal of its
    last connection makes it offline. Each change is passed to ``on_presence`` as a
    ``PresenceChange``, synchronously, inside the ``connect``, ``disconnect``,
    ``publish`` (a slow consumer closed) or ``close_*`` call that caused it. For one
    user the changes strictly alternate. The listener must not block; to handle changes
    in a task, pass ``PresenceFeed.push`` and iterate the feed. What the listener
    raises is logged and swallowed.

    With a cross-process backend (``PostgresBackend``, ``NatsBackend``) presence is
    global: a user is online while any process has one of its connections, and
    each global change reaches ``on_presence`` in exactly one process (the one whose
    connect or close caused it, or the one that found a dead process), later and
    from the backend's task rather than inside the call. Publishing the resulting
    friend status with ``publish_many`` reaches followers in every process.

    Devices: a new connection with the same user and the same non-empty client id as
    an open one replaces it. The old one ends with reason ``"replaced"`` after the new
    one is registered, so the user does not go offline in between.

    Not thread-safe: use a hub and its connections from one event loop thread.

    Args:
        max_queue_size: Events each connection may hold unread. When a connection's
            queue is full and another event comes, the connection is closed with
            ``ConnectionOverflowError`` instead of losing the event silently.
        on_presence: Called with every presence change.
        backend: Carries fan-out calls to other server processes. The default,
            ``LocalBackend``, serves this process alone. A backend that implements
            ``SharedPresence`` also answers ``is_online``, ``online_users`` and
            ``online_count``.

    Raises:
        ValueError: ``max_queue_size`` is below 1.
        BackendBindingError: ``backend`` is already bound to another hub.
    """

    DEFAULT_MAX_QUEUE_SIZE: ClassVar[int] = _DEFAULT_MAX_QUEUE_SIZE
    """The default ``max_queue_size``."""

    def __init__(
        self,
        *,
        max_queue_size: int = _DEFAULT_MAX_QUEUE_SIZE,
        on_presence: Callable[[PresenceChange], None] | None = None,
        backend: HubBackend[EventT] | None = None,
    ) -> None:
        if max_queue_size < 1:
            msg = f"invalid max_queue_size {max_queue_size}: expected at least 1"
            raise ValueError(msg)
        self._backend: HubBackend[EventT] = backend if backend is not None else LocalBackend()
        self._registry: Registry[EventT] = Registry(
            max_queue_size=max_queue_size,
            announce_presence=self._backend.announce_presence,
            presence_listener=on_presence,
        )
        self._backend.bind(self._registry)
        # A cross-process backend that tracks presence answers the presence queries.
        self._shared_presence = self._backend if isinstance(self._backend, SharedPresence) else None
        self._closed = False
        self._events_published = 0

    # -- connections ------------------------------------------------------------------

    def connect(
        self,
        user: str,
        client_id: str,
        *,
        session_id: str | None = None,
        is_admin: bool = False,
    ) -> Connection[EventT]:
        """Register a device's connection and return it.

        Args:
            user: The user's public key, 64 lowercase hexadecimal digits.
            client_id: The device name the client chose. A non-empty one replaces an
                open connection of the same user and client id.
            session_id: The login session the connection belongs to, so that
                ``close_session`` can end it. Opaque to the hub and never logged, but
                pass an id, not the session token.
            is_admin: Whether the connection receives ``publish_admins`` events.

        Raises:
            InvalidUserError: ``user`` is not 64 lowercase hexadecimal digits.
            HubClosedError: ``close()`` was called.
        """
        validate_user(user)
        if self._closed:
            raise HubClosedError
        return self._registry.open(user, client_id, session_id=session_id, is_admin=is_admin)

    def disconnect(self, connection: Connection[EventT]) -> None:
        """End a connection whose stream is over; same as ``connection.close()``.

        Idempotent. Queued events are dropped.
        """
        connection.close()

    # -- publishing -------------------------------------------------------------------

    def publish(
        self,
        user: str,
        event: EventT,
        *,
        exclude: Connection[EventT] | None = None,
        exclude_session: str | None = None,
    ) -> int:
        """Queue ``event`` for every connection of ``user``.

        A connection whose queue is full is closed with ``ConnectionOverflowError``
        and does not count.

        Args:
            user: The receiving user's public key.
            event: The event, shared by every connection reached.
            exclude: A connection to skip, such as the sending device's own stream.
            exclude_session: Skip the connections of this login session, such as the
                sender's when only its session is known.

        Returns:
            The number of connections in this process that got the event.

        Raises:
            InvalidUserError: ``user`` is not 64 lowercase hexadecimal digits.
        """
        validate_user(user)
        self._events_published += 1
        return self._backend.publish(
            (user,),
            event,
            exclude_connection=exclude.connection_id if exclude is not None else None,
            exclude_session=exclude_session,
        )

    def publish_many(
        self, users: Iterable[str], event: EventT, *, exclude_session: str | None = None
    ) -> int:
        """Queue ``event`` for every connection of each of ``users`` (duplicates once).

        Returns:
            The number of connections in this process that got the event.

        Raises:
            InvalidUserError: One of ``users`` is not 64 lowercase hexadecimal digits.
                Nothing was published then.
        """
        targets = frozenset(validate_user(user) for user in users)
        self._events_published += 1
        return self._backend.publish(
            targets, event, exclude_connection=None, exclude_session=exclude_session
        )

    def broadcast(self, event: EventT) -> int:
        """Queue ``event`` for every connection of every online user.

        Returns:
            The number of connections in this process that got the event.
        """
        self._events_published += 1
        return self._backend.broadcast(event)

    def publish_admins(self, event: EventT) -> int:
        """Queue ``event`` for every connection opened with ``is_admin=True``.

        Returns:
            The number of connections in this process that got the event.
        """
        self._events_published += 1
        return self._backend.publish_admins(event)

    # -- forcing connections closed ---------------------------------------------------

    def close_user(self, user: str, final_event: EventT | None = None, *, reason: str) -> int:
        """Force a user offline: end every connection of ``user``.

        Each connection's receiver gets its queued events, then ``final_event`` (if
        given, even when the queue is full), then ``ConnectionClosedError`` with
        ``reason``.

        Args:
            user: The user's public key.
            final_event: The last event for each connection, such as a force-offline
                notice.
            reason: The ``ConnectionClosedError.reason``, such as
                ``CloseReason.FORCE_OFFLINE``.

        Returns:
            The number of connections ended in this process.

        Raises:
            InvalidUserError: ``user`` is not 64 lowercase hexadecimal digits.
        """
        validate_user(user)
        return self._backend.close_user(user, final_event, reason=reason)

    def close_session(
        self,
        session_id: str,
        final_event: EventT | None = None,
        *,
        reason: str = CloseReason.SESSION_REVOKED,
    ) -> int:
        """End the connections of one login session, after a logout or revocation.

        Receivers get their queued events, ``final_event`` if given, then
        ``ConnectionClosedError`` with ``reason``.

        Returns:
            The number of connections ended in this process.
        """
        return self._backend.close_session(session_id, final_event, reason=reason)

    def close(self, reason: str = CloseReason.SERVER_SHUTDOWN) -> int:
        """End every connection and refuse new ones, for a graceful server stop.

        Receivers get their queued events, then ``ConnectionClosedError`` with
        ``reason``. Every online user goes offline through ``on_presence``. Later
        ``connect`` calls raise ``HubClosedError``; publishing still works and reaches
        no local connection. Idempotent.

        Returns:
            The number of connections ended.
        """
        if self._closed:
            return 0
        self._closed = True
        ended = self._registry.close_all(reason)
        _logger.info("hub.closed", reason=str(reason), connections_ended=ended)
        return ended

    @property
    def closed(self) -> bool:
        """True once ``close()`` was called."""
        return self._closed

    # -- queries ----------------------------------------------------------------------

    def is_online(self, user: str) -> bool:
        """Return whether ``user`` has an open connection.

        With a backend that implements ``SharedPresence`` (``PostgresBackend``,
        ``NatsBackend``) the answer covers every process, lagging a change in another
        process by a message's travel time; otherwise it covers this process.

        Raises:
            InvalidUserError: ``user`` is not 64 lowercase hexadecimal digits.

        .. versionchanged:: 0.2.0 Cluster-wide with a ``SharedPresence`` backend.
        """
        validate_user(user)
        if self._shared_presence is not None:
            return self._shared_presence.is_online(user)
        return user in self._registry.users

    def online_users(self) -> frozenset[str]:
        """Return the users with an open connection (cluster-wide, as ``is_online``).

        .. versionchanged:: 0.2.0 Cluster-wide with a ``SharedPresence`` backend.
        """
        if self._shared_presence is not None:
            return self._shared_presence.online_users()
        return frozenset(self._registry.users)

    def online_count(self) -> int:
        """Return how many users have an open connection (cluster-wide, as ``is_online``).

        .. versionchanged:: 0.2.0 Cluster-wide with a ``SharedPresence`` backend.
        """
        if self._shared_presence is not None:
            return self._shared_presence.online_count()
        return len(self._registry.users)

    def connections_of(self, user: str) -> tuple[Connection[EventT], ...]:
        """Return the open connections of ``user`` in this process, oldest first.

        Raises:
            InvalidUserError: ``user`` is not 64 lowercase hexadecimal digits.
        """
        return tuple(self._registry.users.get(validate_user(user), {}).values())

    def statistics(self) -> HubStatistics:
        """Return a snapshot of the hub's counters for this process."""
        registry = self._registry
        return HubStatistics(
            connections=len(registry.connections),
            users=len(registry.users),
            admin_connections=len(registry.admins),
            max_queue_size=registry.max_queue_size,
            connections_opened=registry.connections_opened,
            connections_closed=registry.connections_closed,
            connections_replaced=registry.connections_replaced,
            connections_overflowed=registry.connections_overflowed,
            events_published=self._events_published,
            events_delivered=registry.events_delivered,
        )

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return (
            f"<Hub {state} users={len(self._registry.users)} "
            f"connections={len(self._registry.connections)}>"
        )
