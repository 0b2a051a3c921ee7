"""Plain values the hub hands out: presence changes, close reasons and statistics."""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from typing import Generic, TypeVar

import attrs

from ._errors import InvalidUserError

__all__ = [
    "BackendStatistics",
    "CloseReason",
    "ConnectionStatistics",
    "EventCodec",
    "HubStatistics",
    "PresenceChange",
    "validate_user",
]

_USER_PATTERN = re.compile(r"[0-9a-f]{64}")

EventT = TypeVar("EventT")


def validate_user(user: str) -> str:
    """Check that ``user`` is a public key in 64 lowercase hexadecimal digits.

    Returns:
        ``user`` unchanged.

    Raises:
        InvalidUserError: ``user`` has another form. The hub does not normalize keys,
            because an upper-case key would silently name a user with no connection.
    """
    if _USER_PATTERN.fullmatch(user) is None:
        raise InvalidUserError(user)
    return user


class CloseReason(enum.StrEnum):
    """Reasons the hub itself uses when it ends a connection.

    ``Hub.close_user()`` and ``Hub.close_session()`` accept any string as the reason,
    these included.
    """

    DISCONNECTED = "disconnected"
    """The server called ``Connection.close()`` or ``Hub.disconnect()`` (its stream ended)."""

    REPLACED = "replaced"
    """A newer connection of the same user with the same non-empty client id arrived."""

    SLOW_CONSUMER = "slow_consumer"
    """The connection's queue was full when another event arrived."""

    FORCE_OFFLINE = "force_offline"
    """The server forced the user offline, for example after a ban."""

    SESSION_REVOKED = "session_revoked"
    """The login session the connection belongs to ended (logout or revocation)."""

    SERVER_SHUTDOWN = "server_shutdown"
    """``Hub.close()`` ended every connection."""

    BACKEND_RECONNECTED = "backend_reconnected"
    """A cross-process backend lost its link to the other processes and got it back.

    Events sent by other processes in between were lost, so every connection of this
    process is ended and its client catches up from the database.
    """

    EVENTS_MISSED = "events_missed"
    """A cross-process backend could not deliver an event (it could not be read back or
    decoded, or a queue between processes overflowed); the client must catch up."""


@attrs.frozen
class PresenceChange:
    """A user going online (first connection) or offline (last connection gone).

    For one user the hub reports these strictly alternating: online, offline, online...
    """

    user: str
    """The user's public key, 64 lowercase hexadecimal digits."""

    online: bool
    """True when the user went online, False when it went offline."""


@attrs.frozen
class HubStatistics:
    """A snapshot of a hub's counters, returned by ``Hub.statistics()``.

    Counts cover this process only, also when a cross-process backend is in use.
    """

    connections: int
    """Connections open now."""

    users: int
    """Users online now (with at least one open connection)."""

    admin_connections: int
    """Open connections made with ``is_admin=True``."""

    max_queue_size: int
    """The bound of every connection's queue."""

    connections_opened: int
    """Connections opened since the hub was made."""

    connections_closed: int
    """Connections ended since the hub was made, for any reason."""

    connections_replaced: int
    """Connections ended because a newer one of the same device arrived."""

    connections_overflowed: int
    """Connections ended because their queue was full (slow consumers)."""

    events_published: int
    """Calls of publish, publish_many, broadcast and publish_admins in this process."""

    events_delivered: int
    """Events put into a connection's queue, counting one per connection."""


@attrs.frozen
class ConnectionStatistics:
    """A snapshot of one connection, returned by ``Connection.statistics()``."""

    queued: int
    """Events waiting in the queue."""

    max_queue_size: int
    """The queue's bound. A final event from ``close_user`` may exceed it by one."""

    events_delivered: int
    """Events the hub put into this queue."""

    events_received: int
    """Events taken out by ``receive()`` or ``receive_nowait()``."""

    waiting_receivers: int
    """Tasks blocked in ``receive()`` now."""

    closed: bool
    """True once the hub or the server ended the connection (events may remain queued)."""

    close_reason: str | None
    """Why it ended, or None while open."""


@attrs.frozen
class EventCodec(Generic[EventT]):
    """How a cross-process backend turns events into bytes and back.

    For protobuf messages: ``EventCodec(encode=Msg.SerializeToString,
    decode=Msg.FromString)``. ``decode(encode(event))`` must equal ``event``.
    """

    encode: Callable[[EventT], bytes]
    """Serialize an event. Called once per publish call, in the publishing process."""

    decode: Callable[[bytes], EventT]
    """Parse an event. Called once per message in every receiving process."""


@attrs.frozen
class BackendStatistics:
    """A snapshot of a cross-process backend, returned by its ``statistics()``."""

    process_id: str
    """This process's random id in the shared presence tables and on the wire."""

    connected: bool
    """True while the backend receives the other processes' messages."""

    messages_sent: int
    """Messages this process sent to the others (events, closes and presence)."""

    messages_received: int
    """Messages from other processes that this process handled."""

    payloads_stored: int
    """Messages too large for the transport, sent as a reference to a stored copy."""

    pending: int
    """Messages waiting to be sent."""

    reconnects: int
    """Times the receiving link came back after a loss."""

    catch_ups: int
    """Times this process ended local connections so their clients catch up."""

    send_failures: int
    """Failed attempts to send a batch (each retried)."""

    messages_dropped: int
    """Messages given up because a queue overflowed; each drop caused a catch-up."""
