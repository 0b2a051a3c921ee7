"""ChatService: contacts, sending, history, read cursors and catch-up."""

from __future__ import annotations

from typing import Any, final

import grpc
import structlog

from chatview_proto import chat_pb2, chat_pb2_grpc
from chatview_proto.common import types_pb2
from chatview_store_pg import Message

from ._context import current_caller
from ._convert import conversation_change, friend_info, message_for, new_message_event
from ._replay import conversation_read_event
from ._runtime import Runtime
from ._sealed import SEALED_PLACEHOLDER_TEXT, check_sealed_body
from ._status import RpcError, invalid_argument, parse_key_field
from ._validation import (
    check_alias,
    check_changes_limit,
    check_client_message_id,
    check_history_cursor,
    check_history_direction,
    check_history_limit,
    check_text,
)

__all__ = ["ChatService"]

_log = structlog.get_logger("chatview_server.chat")

Context = grpc.aio.ServicerContext[Any, Any]


@final
class ChatService(chat_pb2_grpc.ChatServiceServicer):
    """Contacts, messages, history and read cursors of the calling user."""

    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime

    async def ListFriends(  # noqa: N802 - gRPC method name
        self, request: chat_pb2.ListFriendsReq, context: Context
    ) -> chat_pb2.ListFriendsResp:
        me = current_caller().public_key
        entries = await self._rt.store.list_friends(me)
        hub = self._rt.hub
        return chat_pb2.ListFriendsResp(
            friends=[
                friend_info(entry, me, is_online=hub.is_online(entry.public_key))
                for entry in entries
            ]
        )

    async def AddFriend(  # noqa: N802 - gRPC method name
        self, request: chat_pb2.AddFriendReq, context: Context
    ) -> chat_pb2.AddFriendResp:
        me = current_caller().public_key
        target = parse_key_field("target_public_key", request.target_public_key)
        check_alias(request.alias)
        if target == me:
            raise invalid_argument(
                "target_public_key", request.target_public_key, "you cannot add yourself"
            )

        await self._rt.store.add_friend(me, target, request.alias)
        return chat_pb2.AddFriendResp()

    async def SendMessage(  # noqa: N802 - gRPC method name
        self, request: chat_pb2.SendMessageReq, context: Context
    ) -> chat_pb2.SendMessageResp:
        caller = current_caller()
        me = caller.public_key
        receiver = parse_key_field("receiver_public_key", request.receiver_public_key)
        sealed_body = bytes(request.sealed_body) or None
        if sealed_body is None:
            check_text("text", request.text, self._rt.config.max_message_chars)
            text = request.text
        else:
            check_sealed_body(sealed_body, request.text, self._rt.config.max_message_chars)
            text = SEALED_PLACEHOLDER_TEXT
        check_client_message_id(request.client_message_id)
        if receiver == me:
            raise invalid_argument(
                "receiver_public_key", request.receiver_public_key, "you cannot message yourself"
            )
        if not self._rt.send_limiter.try_acquire(me):
            wait = self._rt.send_limiter.retry_after(me)
            raise RpcError(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"sending too fast; retry in {wait:.1f} s with the same client_message_id",
            )

        result = await self._rt.store.send_message(
            me, receiver, text, request.client_message_id, sealed_body=sealed_body
        )
        message = result.message
        if not result.deduplicated:
            # The first attempt published the event, so a retry publishes nothing and each
            # device gets one event per message.
            await self._publish_new_message(message, caller.session_id)

        return chat_pb2.SendMessageResp(
            message_id=message.id,
            timestamp=message_for(message, me).timestamp,
            server_seq=message.server_seq,
            deduplicated=result.deduplicated,
        )

    async def _publish_new_message(self, message: Message, sender_session: str) -> None:
        hub = self._rt.hub
        # With one process the hub knows every connection, so a message nobody can
        # receive live skips the unread lookup. Other processes' connections are
        # known only after a delay, so with several processes the event always goes.
        if not self._rt.cross_process:
            other_devices = any(
                connection.session_id != sender_session
                for connection in hub.connections_of(message.sender)
            )
            if not other_devices and not hub.is_online(message.receiver):
                return
        unread = await self._unread_of(message.receiver, message.sender)
        hub.publish(message.receiver, new_message_event(message, message.receiver, unread))
        # The sending device learns the result from the reply; its other devices
        # (other sessions) get the event.
        hub.publish(
            message.sender,
            new_message_event(message, message.sender, unread),
            exclude_session=sender_session,
        )

    async def _unread_of(self, owner: str, peer: str) -> int:
        # XXX: the store has no per-conversation unread lookup, so this reads the
        # owner's whole contact list (counters only, no message scan) after each send.
        for entry in await self._rt.store.list_friends(owner):
            if entry.public_key == peer:
                return entry.unread
        return 0

    async def GetMessageHistory(  # noqa: N802 - gRPC method name
        self, request: chat_pb2.GetMessageHistoryReq, context: Context
    ) -> chat_pb2.GetMessageHistoryResp:
        me = current_caller().public_key
        peer = parse_key_field("peer_public_key", request.peer_public_key)
        limit = check_history_limit(request.limit)
        check_history_cursor(request.cursor)
        check_history_direction(request.direction)
        if peer == me:
            raise invalid_argument(
                "peer_public_key", request.peer_public_key, "a conversation needs another user"
            )

        page = await self._rt.store.get_history(
            me, peer, cursor=request.cursor, limit=limit, direction=request.direction
        )
        return chat_pb2.GetMessageHistoryResp(
            page=types_pb2.MessageHistoryPage(
                messages=[message_for(message, me) for message in page.messages],
                next_cursor=page.next_cursor,
                has_more=page.has_more,
            )
        )

    async def MarkConversationRead(  # noqa: N802 - gRPC method name
        self, request: chat_pb2.MarkConversationReadReq, context: Context
    ) -> chat_pb2.MarkConversationReadResp:
        me = current_caller().public_key
        peer = parse_key_field("peer_public_key", request.peer_public_key)
        if peer == me:
            raise invalid_argument(
                "peer_public_key", request.peer_public_key, "a conversation needs another user"
            )

        caller = current_caller()
        cursor = await self._rt.store.mark_read(me, peer, max(request.last_read_server_seq, 0))
        # The reader's other devices clear their badge now rather than at catch-up.
        # The stored cursor is sent, not the requested one, so a stale device asking
        # for less never moves another device's cursor backwards.
        self._rt.hub.publish(
            me, conversation_read_event(peer, cursor), exclude_session=caller.session_id
        )
        return chat_pb2.MarkConversationReadResp()

    async def ListChangedConversations(  # noqa: N802 - gRPC method name
        self, request: chat_pb2.ListChangedConversationsReq, context: Context
    ) -> chat_pb2.ListChangedConversationsResp:
        me = current_caller().public_key
        if request.since < 0:
            raise invalid_argument(
                "since", request.since, "expected 0 or the next_since of an earlier response"
            )
        limit = check_changes_limit(request.limit)

        page = await self._rt.store.list_changes(me, since=request.since, limit=limit)
        return chat_pb2.ListChangedConversationsResp(
            changes=[conversation_change(change, me) for change in page.changes],
            next_since=page.next_since,
            has_more=page.has_more,
        )
