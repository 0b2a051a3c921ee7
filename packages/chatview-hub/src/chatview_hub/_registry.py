"""The connections held in this process and the delivery of events to them.

``Registry`` implements ``LocalDispatcher``: the hub's backend calls it to deliver.

Invariants:

1. A connection is in the registry exactly while it is open. Ending a connection
   (``_end``) removes it at once, so no event is ever queued for an ended connection.
2. A user is online exactly while it has at least one registered connection. The
   online change is announced after the first connection is registered and the
   offline change after the last one is removed, each after the registry is
   consistent again, so a presence listener may call back into the hub.
3. A replacing connection is registered before the one it replaces is removed, so a
   reconnecting device never makes its user flicker offline.
4. Delivery never mutates the registry while it iterates over it: connections found
   full are collected and ended after the loop.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator
from typing import Generic, final

import structlog

from ._connection import Connection, EventT
from ._values import CloseReason, PresenceChange

__all__ = ["Registry"]

_logger = structlog.get_logger("chatview_hub")


@final
class Registry(Generic[EventT]):
    """Connections by id, user, device, session and admin flag, plus the counters."""

    def __init__(
        self,
        *,
        max_queue_size: int,
        announce_presence: Callable[[PresenceChange], None],
        presence_listener: Callable[[PresenceChange], None] | None,
    ) -> None:
        self.max_queue_size = max_queue_size
        self._announce_presence = announce_presence
        self._presence_listener = presence_listener

        self.connections: dict[str, Connection[EventT]] = {}
        self.users: dict[str, dict[str, Connection[EventT]]] = {}
        self._devices: dict[tuple[str, str], Connection[EventT]] = {}
        self._sessions: dict[str, dict[str, Connection[EventT]]] = {}
        self.admins: dict[str, Connection[EventT]] = {}

        self.connections_opened = 0
        self.connections_closed = 0
        self.connections_replaced = 0
        self.connections_overflowed = 0
        self.events_delivered = 0

    # -- opening and closing ----------------------------------------------------------

    def open(
        self, user: str, client_id: str, *, session_id: str | None, is_admin: bool
    ) -> Connection[EventT]:
        """Register a new connection, replacing the device's previous one if any."""
        connection: Connection[EventT] = Connection._open(
            user=user,
            client_id=client_id,
            session_id=session_id,
            is_admin=is_admin,
            max_queue_size=self.max_queue_size,
            on_close=self.disconnect,
        )
        connection_id = connection.connection_id
        # An empty client id names no device, so two such connections never replace
        # each other: clients that send none would otherwise evict each other forever.
        replaced = self._devices.get((user, client_id)) if client_id else None

        # 1. Register the new connection everywhere it is looked up.
        was_offline = user not in self.users
        self.connections[connection_id] = connection
        self.users.setdefault(user, {})[connection_id] = connection
        if client_id:
            self._devices[(user, client_id)] = connection
        if session_id is not None:
            self._sessions.setdefault(session_id, {})[connection_id] = connection
        if is_admin:
            self.admins[connection_id] = connection
        self.connections_opened += 1
        _logger.info(
            "hub.connection.opened",
            user=user,
            client_id=client_id,
            connection_id=connection_id,
            is_admin=is_admin,
            user_connections=len(self.users[user]),
        )

        # 2. Only then end the connection it replaces, so the user stays online.
        if replaced is not None and self._end(
            replaced, CloseReason.REPLACED, final_event=None, overflowed=False
        ):
            self.connections_replaced += 1

        # 3. Announce last, with the registry consistent.
        if was_offline:
            self._announce(PresenceChange(user=user, online=True))
        return connection

    def disconnect(self, connection: Connection[EventT]) -> None:
        """End a connection from the server's side and drop its queued events."""
        self._end(connection, CloseReason.DISCONNECTED, final_event=None, overflowed=False)
        connection._discard()

    def close_all(self, reason: str) -> int:
        """End every connection, keeping their queued events for their receivers."""
        ended = 0
        for connection in list(self.connections.values()):
            ended += self._end(connection, reason, final_event=None, overflowed=False)
        return ended

    def _end(
        self,
        connection: Connection[EventT],
        reason: str,
        *,
        final_event: EventT | None,
        overflowed: bool,
    ) -> bool:
        """End and unregister ``connection``; return False if it had already ended."""
        if not connection._end(reason, final_event=final_event, overflowed=overflowed):
            return False

        user = connection.user
        connection_id = connection.connection_id
        del self.connections[connection_id]
        self.admins.pop(connection_id, None)
        if self._devices.get((user, connection.client_id)) is connection:
            del self._devices[(user, connection.client_id)]
        session_id = connection.session_id
        if session_id is not None:
            session = self._sessions[session_id]
            del session[connection_id]
            if not session:
                del self._sessions[session_id]
        user_connections = self.users[user]
        del user_connections[connection_id]
        went_offline = not user_connections
        if went_offline:
            del self.users[user]

        self.connections_closed += 1
        if overflowed:
            self.connections_overflowed += 1
            _logger.warning(
                "hub.connection.overflowed",
                user=user,
                client_id=connection.client_id,
                connection_id=connection_id,
                max_queue_size=self.max_queue_size,
            )
        _logger.info(
            "hub.connection.closed",
            user=user,
            client_id=connection.client_id,
            connection_id=connection_id,
            reason=str(reason),
            queued=connection.statistics().queued,
        )

        if went_offline:
            self._announce(PresenceChange(user=user, online=False))
        return True

    # -- presence ---------------------------------------------------------------------

    def _announce(self, change: PresenceChange) -> None:
        _logger.debug("hub.presence.announced", user=change.user, online=change.online)
        self._announce_presence(change)

    def change_presence(self, change: PresenceChange) -> None:
        """Call the presence listener; log and swallow what it raises."""
        if self._presence_listener is None:
            return
        try:
            self._presence_listener(change)
        except Exception:
            # The registry is already consistent, and the connect or disconnect that
            # caused the change must not fail because a listener did.
            _logger.exception(
                "hub.presence.listener_failed", user=change.user, online=change.online
            )

    # -- delivery ---------------------------------------------------------------------

    def deliver(
        self,
        users: Collection[str],
        event: EventT,
        *,
        exclude_connection: str | None,
        exclude_session: str | None,
    ) -> int:
        """Queue ``event`` for every connection of ``users``, less the excluded ones."""
        return self._fan_out(self._user_targets(users, exclude_connection, exclude_session), event)

    def deliver_all(self, event: EventT) -> int:
        """Queue ``event`` for every connection."""
        return self._fan_out(self.connections.values(), event)

    def deliver_admins(self, event: EventT) -> int:
        """Queue ``event`` for every admin connection."""
        return self._fan_out(self.admins.values(), event)

    def close_user(self, user: str, final_event: EventT | None, *, reason: str) -> int:
        """End every connection of ``user``; each gets ``final_event`` first."""
        targets = list(self.users.get(user, {}).values())
        return self._end_all(targets, final_event, reason)

    def close_session(self, session_id: str, final_event: EventT | None, *, reason: str) -> int:
        """End every connection of a login session; each gets ``final_event`` first."""
        targets = list(self._sessions.get(session_id, {}).values())
        return self._end_all(targets, final_event, reason)

    def _end_all(
        self, targets: list[Connection[EventT]], final_event: EventT | None, reason: str
    ) -> int:
        ended = 0
        for connection in targets:
            ended += self._end(connection, reason, final_event=final_event, overflowed=False)
        return ended

    def _user_targets(
        self,
        users: Collection[str],
        exclude_connection: str | None,
        exclude_session: str | None,
    ) -> Iterator[Connection[EventT]]:
        for user in users:
            user_connections = self.users.get(user)
            if user_connections is None:
                continue
            for connection in user_connections.values():
                if connection.connection_id == exclude_connection:
                    continue
                if exclude_session is not None and connection.session_id == exclude_session:
                    continue
                yield connection

    def _fan_out(self, targets: Iterable[Connection[EventT]], event: EventT) -> int:
        delivered = 0
        full: list[Connection[EventT]] = []
        for connection in targets:
            if connection._push(event):
                delivered += 1
            else:
                full.append(connection)
        self.events_delivered += delivered

        # Ended after the loop because ending mutates the dictionaries iterated above.
        for connection in full:
            self._end(connection, CloseReason.SLOW_CONSUMER, final_event=None, overflowed=True)
        return delivered
