"""The seam between a hub and the other server processes.

A ``Hub`` turns every fan-out call into one call on its ``HubBackend``. The backend
carries the call to every process that may hold connections and, in each of them,
calls the matching method of that process's ``LocalDispatcher``, which puts the event
into the local connections' queues. ``LocalBackend``, the default, serves a single
process: it calls its own hub's dispatcher directly, with no serialization.

A cross-process backend (PostgreSQL LISTEN/NOTIFY, NATS...) keeps the same methods.
Its rules:

1. Every method is synchronous and must not block: queue the outgoing message and
   send it from the backend's own task.
2. Deliver locally at once, through the dispatcher, and skip the echo of your own
   messages, so that events reach this process's devices without a round trip.
3. Return the number of connections reached in this process. The remote count is
   not known when the call returns.
4. Presence: the hub announces per-process transitions (this process's first and
   last connection of a user). The backend keeps the per-user count of processes in
   which the user is online and calls ``change_presence`` in exactly one process
   when the global state flips: the announcing one, or, for the users of a process
   that died, the one that declared it dead. Each global change is reported once,
   because the server's listener publishes it with ``publish_many``, which already
   reaches every process.
5. Encoding events for the wire is the backend's business (give it an encoder and a
   decoder for the event type). Starting and stopping it belong to whoever made it.

A backend that knows which users are online in every process also implements
``SharedPresence``; the hub's ``is_online``, ``online_users`` and ``online_count``
then answer for the whole cluster instead of this process.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Generic, Protocol, TypeVar, final, runtime_checkable

from ._errors import BackendBindingError
from ._values import PresenceChange

__all__ = ["HubBackend", "LocalBackend", "LocalDispatcher", "SharedPresence"]

EventT = TypeVar("EventT")
EventT_contra = TypeVar("EventT_contra", contravariant=True)


class LocalDispatcher(Protocol[EventT_contra]):
    """Delivery to the connections held in this process, which a hub gives its backend.

    Each method acts on local connections only and returns how many it reached.
    """

    def deliver(
        self,
        users: Collection[str],
        event: EventT_contra,
        *,
        exclude_connection: str | None,
        exclude_session: str | None,
    ) -> int:
        """Queue ``event`` for every local connection of ``users``, less the excluded."""
        ...

    def deliver_all(self, event: EventT_contra) -> int:
        """Queue ``event`` for every local connection."""
        ...

    def deliver_admins(self, event: EventT_contra) -> int:
        """Queue ``event`` for every local connection opened with ``is_admin=True``."""
        ...

    def close_user(self, user: str, final_event: EventT_contra | None, *, reason: str) -> int:
        """End every local connection of ``user``, queueing ``final_event`` first."""
        ...

    def close_session(
        self, session_id: str, final_event: EventT_contra | None, *, reason: str
    ) -> int:
        """End every local connection of the login session, queueing ``final_event``."""
        ...

    def change_presence(self, change: PresenceChange) -> None:
        """Report a global presence transition to the hub's presence listener."""
        ...


class HubBackend(Protocol[EventT]):
    """Carries the hub's fan-out calls to every server process.

    See the module documentation for the rules a cross-process backend follows.
    """

    def bind(self, local: LocalDispatcher[EventT]) -> None:
        """Attach this process's dispatcher. A hub calls this once, when it is made.

        Raises:
            BackendBindingError: The backend is already bound to a hub.
        """
        ...

    def publish(
        self,
        users: Collection[str],
        event: EventT,
        *,
        exclude_connection: str | None,
        exclude_session: str | None,
    ) -> int:
        """Send ``event`` to every connection of ``users`` in every process."""
        ...

    def broadcast(self, event: EventT) -> int:
        """Send ``event`` to every connection in every process."""
        ...

    def publish_admins(self, event: EventT) -> int:
        """Send ``event`` to every admin connection in every process."""
        ...

    def close_user(self, user: str, final_event: EventT | None, *, reason: str) -> int:
        """End every connection of ``user`` in every process."""
        ...

    def close_session(self, session_id: str, final_event: EventT | None, *, reason: str) -> int:
        """End every connection of one login session in every process."""
        ...

    def announce_presence(self, change: PresenceChange) -> None:
        """Take a presence transition of this process and report the global ones."""
        ...


@runtime_checkable
class SharedPresence(Protocol):
    """Presence across every process, offered by a backend that keeps it.

    The answers may lag a change in another process by the time its message takes
    to arrive; changes in this process are seen at once.
    """

    def is_online(self, user: str) -> bool:
        """Return whether ``user`` has a connection in any process."""
        ...

    def online_users(self) -> frozenset[str]:
        """Return the users with a connection in any process."""
        ...

    def online_count(self) -> int:
        """Return how many users have a connection in any process."""
        ...


@final
class LocalBackend(Generic[EventT]):
    """The single-process backend: every call goes straight to the bound dispatcher."""

    __slots__ = ("_local",)

    def __init__(self) -> None:
        self._local: LocalDispatcher[EventT] | None = None

    def bind(self, local: LocalDispatcher[EventT]) -> None:
        """Attach the hub's dispatcher.

        Raises:
            BackendBindingError: The backend is already bound to a hub.
        """
        if self._local is not None:
            msg = "this LocalBackend is already bound to a hub; give each hub its own backend"
            raise BackendBindingError(msg)
        self._local = local

    def publish(
        self,
        users: Collection[str],
        event: EventT,
        *,
        exclude_connection: str | None,
        exclude_session: str | None,
    ) -> int:
        return self._bound().deliver(
            users,
            event,
            exclude_connection=exclude_connection,
            exclude_session=exclude_session,
        )

    def broadcast(self, event: EventT) -> int:
        return self._bound().deliver_all(event)

    def publish_admins(self, event: EventT) -> int:
        return self._bound().deliver_admins(event)

    def close_user(self, user: str, final_event: EventT | None, *, reason: str) -> int:
        return self._bound().close_user(user, final_event, reason=reason)

    def close_session(self, session_id: str, final_event: EventT | None, *, reason: str) -> int:
        return self._bound().close_session(session_id, final_event, reason=reason)

    def announce_presence(self, change: PresenceChange) -> None:
        # In one process the local transition is the global one.
        self._bound().change_presence(change)

    def _bound(self) -> LocalDispatcher[EventT]:
        if self._local is None:
            msg = "this LocalBackend is not bound to a hub; pass it to Hub(backend=...)"
            raise BackendBindingError(msg)
        return self._local
