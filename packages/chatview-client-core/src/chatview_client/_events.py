"""Events the client delivers to the application.

Every event is a frozen attrs value; `Event` is their union, so a ``match`` statement
over it can be checked for completeness by a type checker.
"""

from __future__ import annotations

from datetime import datetime
from typing import TypeAlias

import attrs

from ._values import ConnectionState, Message, MessageState, OutboxEntry

__all__ = [
    "AdminUpdated",
    "BroadcastReceived",
    "ConnectionStateChanged",
    "ConversationChanged",
    "Event",
    "ForcedOffline",
    "FriendStatusChanged",
    "MessageStateChanged",
    "NewMessage",
    "OutboxChanged",
]


@attrs.frozen
class NewMessage:
    """A message appeared in a conversation for the first time.

    That is an incoming message, an own message sent from another device, or a message
    just written here (state PENDING). Each `server_seq` of a conversation produces this
    event at most once, whether it came live or by catch-up.
    """

    message: Message


@attrs.frozen
class MessageStateChanged:
    """An own message moved between pending, sent and failed."""

    message: Message
    previous: MessageState


@attrs.frozen
class ConversationChanged:
    """A conversation's counters changed: unread count, read cursor or newest seq."""

    peer: str
    unread: int
    last_read_server_seq: int
    last_server_seq: int


@attrs.frozen
class FriendStatusChanged:
    """A contact went online or offline."""

    public_key: str
    alias: str
    is_online: bool


@attrs.frozen
class BroadcastReceived:
    """An admin's announcement to every user, delivered once per device.

    A device that was offline gets it when it next connects, unless it expired.
    `broadcast_id` is 0, and the times are None, from servers that do not store
    broadcasts.
    """

    text: str
    from_admin: str
    broadcast_id: int = 0
    sent_at: datetime | None = None
    expires_at: datetime | None = None


@attrs.frozen
class ForcedOffline:
    """The server ended this session, for example ``reason="account_banned"``.

    After ``"account_banned"`` the client stops reconnecting and fails its outbox;
    for other reasons it logs in again while the key is unlocked.
    """

    reason: str


@attrs.frozen
class AdminUpdated:
    """The admin panel's data changed; admins call `ChatClient.admin_overview`."""


@attrs.frozen
class ConnectionStateChanged:
    """The link with the server changed state; `error` says why it is not online."""

    state: ConnectionState
    error: str | None = None


@attrs.frozen
class OutboxChanged:
    """The outbox changed; `entries` is its whole content, in queue order."""

    entries: tuple[OutboxEntry, ...]


Event: TypeAlias = (
    NewMessage
    | MessageStateChanged
    | ConversationChanged
    | FriendStatusChanged
    | BroadcastReceived
    | ForcedOffline
    | AdminUpdated
    | ConnectionStateChanged
    | OutboxChanged
)
"""Any event the client delivers."""
