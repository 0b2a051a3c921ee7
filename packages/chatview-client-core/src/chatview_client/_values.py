"""The typed values of the client's public API.

Public keys are plain strings in canonical form (64 lowercase hex characters), so values
print, compare and serialize without a key library; methods that take a key accept any
encoding the server accepts and canonicalize it.
"""

from __future__ import annotations

import enum
from datetime import datetime

import attrs

__all__ = [
    "AdminOverview",
    "AdminStats",
    "AdminUser",
    "ConnectionState",
    "Friend",
    "Message",
    "MessageState",
    "OutboxEntry",
    "OutboxState",
    "Role",
    "SessionInfo",
]


class Role(enum.IntEnum):
    """A user's role, as `LoginResp.role` numbers it."""

    USER = 0
    ADMIN = 1


class MessageState(enum.StrEnum):
    """Delivery state of a message, seen from this client."""

    INCOMING = "incoming"
    """Written by the peer."""
    PENDING = "pending"
    """Written here and not yet acknowledged by the server; it is in the outbox."""
    SENT = "sent"
    """Written by this user (on this or another device) and stored by the server."""
    FAILED = "failed"
    """Written here and given up on. `Message.error` contains the reason; retry or discard it."""


class ConnectionState(enum.StrEnum):
    """The state of the client's link with the server."""

    ONLINE = "online"
    """Logged in, with the event stream open."""
    CONNECTING = "connecting"
    """Logging in or (re)opening the event stream, possibly waiting between attempts."""
    OFFLINE = "offline"
    """Not trying: the client is closed or the server ended the session for good."""


class OutboxState(enum.StrEnum):
    """State of an outbox item."""

    QUEUED = "queued"
    """Waiting for its turn, for the connection or for its next retry."""
    SENDING = "sending"
    """A SendMessage call for it is in flight."""
    FAILED = "failed"
    """Given up on: a permanent error or too many attempts. Retry or discard it."""


@attrs.frozen
class Message:
    """One message of a conversation, as stored in the cache."""

    peer: str
    """The other party of the conversation."""
    sender: str
    """The author's key."""
    receiver: str
    """The recipient's key."""
    text: str
    """The body as the author wrote it."""
    timestamp: datetime
    """When the server stored it (UTC); for a message not yet sent, when it was written."""
    state: MessageState
    """Incoming, or the delivery state of an own message."""
    server_seq: int | None = None
    """Position in the conversation, 1, 2, 3, ...; None until the server stored it."""
    message_id: str | None = None
    """The server's id, a UUID; None until the server stored it."""
    client_message_id: str | None = None
    """The idempotency key of an own message, a UUIDv7; None for other users' messages."""
    error: str | None = None
    """Why the message failed; only when `state` is FAILED."""
    encrypted: bool = False
    """Sealed end to end: only the two users could read it; `text` is the opened body."""
    undecryptable: bool = False
    """Sealed, but it failed to open or authenticate here; `text` is then the fixed
    `UNDECRYPTABLE_TEXT`, never the bytes received."""

    @property
    def outgoing(self) -> bool:
        """Whether this user wrote the message."""
        return self.state is not MessageState.INCOMING


@attrs.frozen
class Friend:
    """One entry of the contact list, with its conversation's counters."""

    public_key: str
    """The contact's key."""
    alias: str = ""
    """The name this user gave the contact; empty when none."""
    added: bool = True
    """False when the key is listed only because it wrote to this user."""
    is_online: bool = False
    """Whether the contact has at least one live event stream."""
    unread: int = 0
    """The contact's messages above this user's read cursor."""
    last_server_seq: int = 0
    """The newest `server_seq` of the conversation known here; 0 when empty."""
    last_read_server_seq: int = 0
    """This user's read cursor in the conversation."""
    last_message: Message | None = None
    """The newest message held in the cache, in either direction."""
    supports_sealed: bool = False
    """The contact has logged in with a client that reads sealed messages, so messages
    to it are sealed end to end. Once true it stays true here."""


@attrs.frozen
class OutboxEntry:
    """A message waiting to be sent, or given up on."""

    client_message_id: str
    """The idempotency key, the same on every attempt."""
    peer: str
    """The recipient."""
    text: str
    """The body."""
    created_at: datetime
    """When it was written (UTC)."""
    state: OutboxState = OutboxState.QUEUED
    """Queued, in flight or failed."""
    attempts: int = 0
    """SendMessage calls made for it so far."""
    last_error: str | None = None
    """The last failure's message, if any."""
    position: int = 0
    """Queue order: lower goes first."""
    sealed_body: bytes | None = attrs.field(default=None, repr=False)
    """The sealed bytes sent on every attempt, when the message is sealed end to end."""


@attrs.frozen
class SessionInfo:
    """The session opened by the last login."""

    public_key: str
    """The logged-in key."""
    role: Role
    """User or admin."""
    expires_at: datetime | None
    """Session expiry the server reported, if any; the client then logs in again."""


@attrs.frozen
class AdminUser:
    """An account as an admin sees it."""

    public_key: str
    is_online: bool
    is_banned: bool
    role: Role = Role.USER
    created_at: datetime | None = None


@attrs.frozen
class AdminStats:
    """Server-wide counters."""

    online_users: int
    total_users: int
    banned_users: int


@attrs.frozen
class AdminOverview:
    """Every account and the counters, as PollAdminEvents returns them."""

    users: tuple[AdminUser, ...]
    stats: AdminStats
