"""Values the store returns. All are frozen attrs classes; datetimes are aware UTC."""

from __future__ import annotations

import enum
from datetime import datetime

import attrs

__all__ = [
    "Broadcast",
    "ChangesPage",
    "CleanupResult",
    "ConversationChange",
    "FriendEntry",
    "HistoryPage",
    "Message",
    "Role",
    "SendResult",
    "Session",
    "SessionUser",
    "StoreStatistics",
    "User",
    "UserCounts",
    "UserStatus",
]


class Role(enum.Enum):
    """A user's permission level; `wire_value` is its number on the wire."""

    USER = "user"
    ADMIN = "admin"

    @property
    def wire_value(self) -> int:
        """The number LoginResp.role carries: 0 for a user, 1 for an admin."""
        return 1 if self is Role.ADMIN else 0


class UserStatus(enum.Enum):
    """Whether a user may log in."""

    ACTIVE = "active"
    BANNED = "banned"


@attrs.frozen
class User:
    """A public key that has logged in at least once."""

    public_key: str
    role: Role
    status: UserStatus
    created_at: datetime

    @property
    def is_banned(self) -> bool:
        """True when the status is BANNED."""
        return self.status is UserStatus.BANNED


@attrs.frozen
class Session:
    """A login session. The store keeps only a hash of its token."""

    id: str
    public_key: str
    client_id: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None


@attrs.frozen
class SessionUser:
    """A live session together with its user, as read in one query."""

    session: Session
    user: User


@attrs.frozen
class Message:
    """A stored message of a two-person conversation."""

    id: str
    """Server message id: a UUIDv7 in canonical text form."""
    sender: str
    receiver: str
    text: str
    created_at: datetime
    server_seq: int
    """Position in the conversation: 1, 2, 3, ... with no gap."""
    client_message_id: str
    """The sender's idempotency key; empty when the sender gave none."""
    sealed_body: bytes | None = None
    """The end-to-end sealed body, which the server never reads; None for plaintext."""

    def peer_of(self, owner: str) -> str:
        """Return the other participant, seen from `owner`."""
        return self.receiver if owner == self.sender else self.sender


@attrs.frozen
class SendResult:
    """Outcome of `Store.send_message`."""

    message: Message
    deduplicated: bool
    """True when the sender had already sent this client_message_id; nothing was written."""


@attrs.frozen
class HistoryPage:
    """One page of a conversation, messages in ascending server_seq order."""

    messages: tuple[Message, ...]
    next_cursor: str
    """Cursor for the following page in the same direction; empty on the last page."""
    has_more: bool


@attrs.frozen
class FriendEntry:
    """One row of a user's friend list."""

    public_key: str
    alias: str
    added: bool
    """True when the owner added this key; False for someone who only wrote to the owner."""
    unread: int
    """The peer's messages above the owner's read cursor."""
    last_server_seq: int
    """Newest server_seq of the conversation; 0 when there is none."""
    last_read_server_seq: int
    """The owner's read cursor in this conversation."""
    last_message: Message | None
    supports_sealed: bool = False
    """True once the peer logged in with a client that reads sealed bodies."""


@attrs.frozen
class ConversationChange:
    """The state of one conversation after a change seen by `Store.list_changes`."""

    peer_public_key: str
    change_seq: int
    """The owner's change counter value of the latest change to this conversation."""
    last_server_seq: int
    last_read_server_seq: int
    """The owner's read cursor."""
    peer_last_read_server_seq: int
    """The peer's read cursor."""
    unread: int
    last_message: Message | None


@attrs.frozen
class ChangesPage:
    """Result of `Store.list_changes`."""

    changes: tuple[ConversationChange, ...]
    next_since: int
    """Pass as `since` next time; equals the input `since` when nothing changed."""
    has_more: bool


@attrs.frozen
class UserCounts:
    """Totals for the admin statistics."""

    total: int
    banned: int
    admins: int


@attrs.frozen
class CleanupResult:
    """How many rows `Store.delete_expired` removed."""

    challenges: int
    sessions: int


@attrs.frozen
class Broadcast:
    """A stored system broadcast, so users who were offline still receive it."""

    id: int
    """Increasing number; clients remember the highest id they have seen."""
    sender: str
    text: str
    created_at: datetime
    expires_at: datetime | None


@attrs.frozen
class StoreStatistics:
    """A snapshot of a store's counters and pool, returned by ``Store.statistics()``.

    Counters cover this Store object since `open_store`; a metrics exporter reads
    them as monotonically rising totals.
    """

    write_retries: int
    """Write transactions attempted again after a serialization conflict."""

    writes_exhausted: int
    """Writes that failed with RetriesExhaustedError after every attempt conflicted."""

    pool_size: int
    """Connections the pool keeps open (``pool_size`` of `open_store`)."""

    pool_checked_out: int
    """Connections lent to a transaction now, overflow connections included."""

    pool_overflow: int
    """Connections open above ``pool_size`` now; negative while the pool is not yet full."""
