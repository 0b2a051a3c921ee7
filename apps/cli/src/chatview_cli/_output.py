"""Output formats of the CLI: short lines for people, JSON lines for scripts."""

from __future__ import annotations

import enum
import json
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

__all__ = ["describe_event", "event_name", "format_friend", "format_message", "to_json"]

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


def _who(key: str, me: str) -> str:
    return "me" if key == me else key[:8]


def format_message(message: Message, me: str) -> str:
    """``#seq  time  author: text`` with the state of own unsent messages."""
    seq = f"#{message.server_seq}" if message.server_seq is not None else "#-"
    when = message.timestamp.strftime("%Y-%m-%d %H:%M:%S")
    line = f"{seq:>6}  {when}  {_who(message.sender, me)}: {message.text}"
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


def describe_event(event: Event, me: str) -> str | None:
    """Return one human-readable line for an event, or None for events `listen` hides."""
    if isinstance(event, NewMessage):
        return format_message(event.message, me)
    if isinstance(event, MessageStateChanged):
        return f"-- message {event.message.client_message_id} is {event.message.state.value}"
    if isinstance(event, FriendStatusChanged):
        status = "online" if event.is_online else "offline"
        return f"-- {event.alias or event.public_key[:8]} is {status}"
    if isinstance(event, BroadcastReceived):
        return f"** broadcast from {event.from_admin[:8]}: {event.text}"
    if isinstance(event, ForcedOffline):
        return f"!! the server ended this session: {event.reason}"
    if isinstance(event, AdminUpdated):
        return "-- admin data changed"
    if isinstance(event, ConnectionStateChanged):
        suffix = f" ({event.error})" if event.error else ""
        return f"-- {event.state.value}{suffix}"
    return None
