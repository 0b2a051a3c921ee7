"""Conversions from the store's values to protobuf messages.

The server is the only place that maps between the two; everything here is a pure
function of its arguments.
"""

from __future__ import annotations

from datetime import UTC, datetime

from chatview_proto import chat_pb2, events_pb2
from chatview_proto.common import types_pb2
from chatview_store_pg import ConversationChange, FriendEntry, Message, User

__all__ = [
    "conversation_change",
    "format_timestamp",
    "friend_info",
    "message_for",
    "new_message_event",
    "user_info",
]


def format_timestamp(moment: datetime) -> str:
    """Format an aware datetime as RFC 3339 in UTC with microseconds and a ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def message_for(message: Message, viewer: str) -> types_pb2.ChatMessage:
    """Return `message` from `viewer`'s side: SENT when the viewer wrote it, else INCOMING.

    ``client_message_id`` is the author's own key, so only the author's devices get it.
    """
    own = message.sender == viewer
    return types_pb2.ChatMessage(
        id=message.id,
        sender_public_key=message.sender,
        receiver_public_key=message.receiver,
        text=message.text,
        timestamp=format_timestamp(message.created_at),
        delivery=(types_pb2.MESSAGE_DELIVERY_SENT if own else types_pb2.MESSAGE_DELIVERY_INCOMING),
        server_seq=message.server_seq,
        client_message_id=message.client_message_id if own else "",
        sealed_body=message.sealed_body or b"",
    )


def new_message_event(message: Message, viewer: str, unread: int) -> events_pb2.ServerEvent:
    """Return the ``new_message`` event for one of `viewer`'s devices.

    Args:
        message: the stored message.
        viewer: the receiver, or the sender for the sender's other devices.
        unread: the receiver's unread count in the conversation.
    """
    peer = message.peer_of(viewer)
    return events_pb2.ServerEvent(
        new_message=events_pb2.NewMessageEvent(
            from_public_key=peer,
            count=unread,
            message=message_for(message, viewer),
            peer_public_key=peer,
        )
    )


def friend_info(entry: FriendEntry, owner: str, *, is_online: bool) -> types_pb2.FriendInfo:
    """Return one entry of `owner`'s contact list."""
    info = types_pb2.FriendInfo(
        public_key=entry.public_key,
        alias=entry.alias,
        is_online=is_online,
        unread=entry.unread,
        added=entry.added,
        last_server_seq=entry.last_server_seq,
        last_read_server_seq=entry.last_read_server_seq,
        supports_sealed=entry.supports_sealed,
    )
    if entry.last_message is not None:
        info.last_message.CopyFrom(message_for(entry.last_message, owner))
    return info


def conversation_change(change: ConversationChange, owner: str) -> chat_pb2.ConversationChange:
    """Return one changed conversation of `owner` for ListChangedConversations."""
    result = chat_pb2.ConversationChange(
        peer_public_key=change.peer_public_key,
        last_server_seq=change.last_server_seq,
        last_read_server_seq=change.last_read_server_seq,
        unread=change.unread,
        change_seq=change.change_seq,
    )
    if change.last_message is not None:
        result.last_message.CopyFrom(message_for(change.last_message, owner))
    return result


def user_info(user: User, *, is_online: bool) -> types_pb2.UserInfo:
    """Return a user as the admin panel shows it."""
    return types_pb2.UserInfo(
        public_key=user.public_key,
        is_online=is_online,
        is_banned=user.is_banned,
        role=user.role.wire_value,
        created_at=format_timestamp(user.created_at),
    )
