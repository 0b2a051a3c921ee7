"""Output formats of the CLI: short lines for people, JSON lines for scripts."""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from chatview_client import (
    AdminUpdated,
    BroadcastReceived,
    ConnectionStateChanged,
    ConversationChanged,
    Event,
    ForcedOffline,
    Friend,
    FriendStatusChanged,
    Message,
    MessageState,
    MessageStateChanged,
    NewMessage,
    OutboxChanged,
)

__all__ = [
    "LOCK_MARKER",
    "UNDECRYPTABLE_MARKER",
    "describe_event",
    "event_name",
    "format_friend",
    "format_message",
    "to_json",
]

_EVENT_NAMES = {
    NewMessage: "new_message",
    MessageStateChanged: "message_state_changed",
    ConversationChanged: "conversation_changed",
    FriendStatusChanged: "friend_status",
    BroadcastReceived: "broadcast",
    ForcedOffline: "forced_offline",
    AdminUpdated: "admin_update",
    ConnectionStateChanged: "connection_state",
    OutboxChanged: "outbox_changed",
}


def _plain(value: Any) -> Any:
    if attrs.has(type(value)):
        return {
            field.name: _plain(getattr(value, field.name)) for field in attrs.fields(type(value))
        }
    if isinstance(value, enum.Enum):
        return value.value if not isinstance(value, enum.IntEnum) else value.name.lower()
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def to_json(value: Any, **extra: Any) -> str:
    """Return one line of JSON for a value of the client library (attrs, enums, datetimes)."""
    data = _plain(value)
    if extra:
        data = {**extra, **data} if isinstance(data, dict) else {**extra, "value": data}
    return json.dumps(data, ensure_ascii=False, sort_keys=False)


def event_name(event: Event) -> str:
    """Return the event's name in JSON output, such as ``"new_message"``."""
    return _EVENT_NAMES[type(event)]


def _who(key: str, me: str, names: Mapping[str, str] | None) -> str:
    if key == me:
        return "me"
    return (names or {}).get(key) or key[:8]


LOCK_MARKER = "\N{LOCK}"
"""Shown before the text of a message sealed end to end."""
UNDECRYPTABLE_MARKER = "\N{WARNING SIGN}"
"""Shown, with the lock, before a sealed message that failed to decrypt."""


def format_message(message: Message, me: str, names: Mapping[str, str] | None = None) -> str:
    """``#seq  time  author: text`` with the state of own unsent messages.

    The author is "me", the alias from `names` (public key to alias), or else the
    first 8 hex digits of the key.

    A message sealed end to end shows a lock before its text; one that failed to
    decrypt shows the lock and a warning sign before the client's fixed text.
    """
    seq = f"#{message.server_seq}" if message.server_seq is not None else "#-"
    when = message.timestamp.strftime("%Y-%m-%d %H:%M:%S")
    marker = ""
    if message.undecryptable:
        marker = f"{LOCK_MARKER}{UNDECRYPTABLE_MARKER} "
    elif message.encrypted:
        marker = f"{LOCK_MARKER} "
    line = f"{seq:>6}  {when}  {_who(message.sender, me, names)}: {marker}{message.text}"
    if message.state is MessageState.PENDING:
        line += "  [pending]"
    elif message.state is MessageState.FAILED:
        line += f"  [failed: {message.error}]"
    return line


def format_friend(friend: Friend) -> str:
    """``key  alias  online  unread`` for the friends list."""
    status = "online" if friend.is_online else "offline"
    alias = friend.alias or ("-" if friend.added else "(not added)")
    unread = f"  {friend.unread} unread" if friend.unread else ""
    return f"{friend.public_key}  {alias}  {status}{unread}"


def describe_event(event: Event, me: str, names: Mapping[str, str] | None = None) -> str | None:
    """Return one human-readable line for an event, or None for events `listen` hides.

    People are named as in `format_message`.
    """
    if isinstance(event, NewMessage):
        return format_message(event.message, me, names)
    if isinstance(event, MessageStateChanged):
        return f"-- message {event.message.client_message_id} is {event.message.state.value}"
    if isinstance(event, FriendStatusChanged):
        status = "online" if event.is_online else "offline"
        return f"-- {event.alias or _who(event.public_key, me, names)} is {status}"
    if isinstance(event, BroadcastReceived):
        return f"** broadcast from {_who(event.from_admin, me, names)}: {event.text}"
    if isinstance(event, ForcedOffline):
        return f"!! the server ended this session: {event.reason}"
    if isinstance(event, AdminUpdated):
        return "-- admin data changed"
    if isinstance(event, ConnectionStateChanged):
        suffix = f" ({event.error})" if event.error else ""
        return f"-- {event.state.value}{suffix}"
    return None
