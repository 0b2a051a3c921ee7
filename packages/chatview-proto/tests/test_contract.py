"""The generated descriptors keep every name, number and type of the wire contract.

The tables below restate the contract that the existing clients speak. A change to
a .proto file that renumbers, retypes, renames or removes any of these fails here;
additions (fields numbered 20 and above, new messages and methods) do not.
"""

from __future__ import annotations

import pytest
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor, FileDescriptor

from chatview_proto import admin_pb2, auth_pb2, chat_pb2, events_pb2
from chatview_proto.common import types_pb2

STRING = FieldDescriptor.TYPE_STRING
BYTES = FieldDescriptor.TYPE_BYTES
BOOL = FieldDescriptor.TYPE_BOOL
INT32 = FieldDescriptor.TYPE_INT32
INT64 = FieldDescriptor.TYPE_INT64
MESSAGE = FieldDescriptor.TYPE_MESSAGE
ENUM = FieldDescriptor.TYPE_ENUM

# (file module, message name) -> {field name: (number, type, repeated, type name or "")}
CONTRACT_MESSAGES: dict[tuple[str, str], dict[str, tuple[int, int, bool, str]]] = {
    ("common", "FriendInfo"): {
        "public_key": (1, STRING, False, ""),
        "alias": (2, STRING, False, ""),
        "is_online": (3, BOOL, False, ""),
        "unread": (4, INT32, False, ""),
    },
    ("common", "ChatMessage"): {
        "id": (1, STRING, False, ""),
        "sender_public_key": (2, STRING, False, ""),
        "text": (3, STRING, False, ""),
        "timestamp": (4, STRING, False, ""),
        "delivery": (5, ENUM, False, "chatview.common.MessageDelivery"),
        "error": (6, STRING, False, ""),
        "server_seq": (10, INT64, False, ""),
    },
    ("common", "MessageHistoryPage"): {
        "messages": (1, MESSAGE, True, "chatview.common.ChatMessage"),
        "next_cursor": (2, STRING, False, ""),
        "has_more": (3, BOOL, False, ""),
    },
    ("common", "UserInfo"): {
        "public_key": (1, STRING, False, ""),
        "is_online": (2, BOOL, False, ""),
        "is_banned": (3, BOOL, False, ""),
    },
    ("common", "AdminStats"): {
        "online_users": (1, INT32, False, ""),
        "total_users": (2, INT32, False, ""),
        "banned_users": (3, INT32, False, ""),
    },
    ("common", "AdminUpdate"): {
        "users": (1, MESSAGE, True, "chatview.common.UserInfo"),
        "stats": (2, MESSAGE, False, "chatview.common.AdminStats"),
    },
    ("common", "Empty"): {},
    ("common", "OperationResult"): {
        "ok": (1, BOOL, False, ""),
        "message": (2, STRING, False, ""),
    },
    ("auth", "RequestChallengeReq"): {"public_key": (1, STRING, False, "")},
    ("auth", "RequestChallengeResp"): {
        "challenge": (1, BYTES, False, ""),
        "expires_at": (2, INT64, False, ""),
    },
    ("auth", "LoginReq"): {
        "public_key": (1, STRING, False, ""),
        "challenge_signature": (2, BYTES, False, ""),
    },
    ("auth", "LoginResp"): {
        "session_token": (1, STRING, False, ""),
        "role": (2, INT32, False, ""),
        "public_key": (3, STRING, False, ""),
    },
    ("chat", "ListFriendsReq"): {},
    ("chat", "ListFriendsResp"): {"friends": (1, MESSAGE, True, "chatview.common.FriendInfo")},
    ("chat", "AddFriendReq"): {"target_public_key": (1, STRING, False, "")},
    ("chat", "AddFriendResp"): {},
    ("chat", "SendMessageReq"): {
        "receiver_public_key": (1, STRING, False, ""),
        "text": (2, STRING, False, ""),
        "client_message_id": (3, STRING, False, ""),
    },
    ("chat", "SendMessageResp"): {
        "message_id": (1, STRING, False, ""),
        "timestamp": (2, STRING, False, ""),
        "server_seq": (3, INT64, False, ""),
        "deduplicated": (4, BOOL, False, ""),
    },
    ("chat", "GetMessageHistoryReq"): {
        "peer_public_key": (1, STRING, False, ""),
        "cursor": (2, STRING, False, ""),
        "limit": (3, INT32, False, ""),
        "direction": (4, STRING, False, ""),
    },
    ("chat", "GetMessageHistoryResp"): {
        "page": (1, MESSAGE, False, "chatview.common.MessageHistoryPage"),
    },
    ("chat", "MarkConversationReadReq"): {
        "peer_public_key": (1, STRING, False, ""),
        "last_read_server_seq": (2, INT64, False, ""),
    },
    ("chat", "MarkConversationReadResp"): {},
    ("events", "SubscribeReq"): {"client_id": (1, STRING, False, "")},
    ("events", "ServerEvent"): {
        "new_message": (1, MESSAGE, False, "chatview.events.NewMessageEvent"),
        "friend_status": (2, MESSAGE, False, "chatview.events.FriendStatusEvent"),
        "system_broadcast": (3, MESSAGE, False, "chatview.events.SystemBroadcastEvent"),
        "force_offline": (4, MESSAGE, False, "chatview.events.ForceOfflineEvent"),
        "admin_update": (5, MESSAGE, False, "chatview.events.AdminUpdateEvent"),
    },
    ("events", "NewMessageEvent"): {
        "from_public_key": (1, STRING, False, ""),
        "count": (2, INT32, False, ""),
    },
    ("events", "FriendStatusEvent"): {
        "public_key": (1, STRING, False, ""),
        "alias": (2, STRING, False, ""),
        "is_online": (3, BOOL, False, ""),
    },
    ("events", "SystemBroadcastEvent"): {
        "text": (1, STRING, False, ""),
        "from_admin": (2, STRING, False, ""),
    },
    ("events", "ForceOfflineEvent"): {"reason": (1, STRING, False, "")},
    ("events", "AdminUpdateEvent"): {},
    ("admin", "SetUserStatusReq"): {
        "target_public_key": (1, STRING, False, ""),
        "status": (2, ENUM, False, "chatview.common.UserStatus"),
    },
    ("admin", "SetUserStatusResp"): {},
    ("admin", "BroadcastReq"): {"text": (1, STRING, False, "")},
    ("admin", "BroadcastResp"): {},
    ("admin", "PollAdminEventsReq"): {},
    ("admin", "PollAdminEventsResp"): {
        "update": (1, MESSAGE, False, "chatview.common.AdminUpdate"),
    },
}

CONTRACT_ENUMS: dict[str, dict[str, int]] = {
    "UserStatus": {
        "USER_STATUS_UNSPECIFIED": 0,
        "USER_STATUS_ACTIVE": 1,
        "USER_STATUS_BANNED": 2,
    },
    "OnlineStatus": {
        "ONLINE_STATUS_UNSPECIFIED": 0,
        "ONLINE_STATUS_OFFLINE": 1,
        "ONLINE_STATUS_ONLINE": 2,
    },
    "MessageDelivery": {
        "MESSAGE_DELIVERY_UNSPECIFIED": 0,
        "MESSAGE_DELIVERY_INCOMING": 1,
        "MESSAGE_DELIVERY_PENDING": 2,
        "MESSAGE_DELIVERY_SENT": 3,
        "MESSAGE_DELIVERY_FAILED": 4,
    },
}

# service full name -> {method: (request, response, server streaming)}
CONTRACT_SERVICES: dict[str, dict[str, tuple[str, str, bool]]] = {
    "chatview.auth.AuthService": {
        "RequestChallenge": ("RequestChallengeReq", "RequestChallengeResp", False),
        "Login": ("LoginReq", "LoginResp", False),
    },
    "chatview.chat.ChatService": {
        "ListFriends": ("ListFriendsReq", "ListFriendsResp", False),
        "AddFriend": ("AddFriendReq", "AddFriendResp", False),
        "SendMessage": ("SendMessageReq", "SendMessageResp", False),
        "GetMessageHistory": ("GetMessageHistoryReq", "GetMessageHistoryResp", False),
        "MarkConversationRead": ("MarkConversationReadReq", "MarkConversationReadResp", False),
    },
    "chatview.events.EventService": {
        "Subscribe": ("SubscribeReq", "ServerEvent", True),
    },
    "chatview.admin.AdminService": {
        "SetUserStatus": ("SetUserStatusReq", "SetUserStatusResp", False),
        "Broadcast": ("BroadcastReq", "BroadcastResp", False),
        "PollAdminEvents": ("PollAdminEventsReq", "PollAdminEventsResp", False),
    },
}

FILES: dict[str, tuple[FileDescriptor, str, str]] = {
    "common": (types_pb2.DESCRIPTOR, "chatview/common/types.proto", "chatview.common"),
    "auth": (auth_pb2.DESCRIPTOR, "chatview/auth.proto", "chatview.auth"),
    "chat": (chat_pb2.DESCRIPTOR, "chatview/chat.proto", "chatview.chat"),
    "events": (events_pb2.DESCRIPTOR, "chatview/events.proto", "chatview.events"),
    "admin": (admin_pb2.DESCRIPTOR, "chatview/admin.proto", "chatview.admin"),
}

ADDITION_FIRST_NUMBER = 20


def _message(file_key: str, name: str) -> Descriptor:
    return FILES[file_key][0].message_types_by_name[name]


class TestFiles:
    @pytest.mark.parametrize("file_key", sorted(FILES))
    def test_file_name_and_package(self, file_key: str) -> None:
        """Each file keeps the path and proto package the old clients were built from."""
        descriptor, path, package = FILES[file_key]

        assert path == descriptor.name
        assert package == descriptor.package


class TestMessages:
    @pytest.mark.parametrize(("file_key", "name"), sorted(CONTRACT_MESSAGES))
    def test_contract_fields_unchanged(self, file_key: str, name: str) -> None:
        """Every contract field keeps its number, type, label and message type."""
        message = _message(file_key, name)

        for field_name, (number, field_type, repeated, type_name) in CONTRACT_MESSAGES[
            (file_key, name)
        ].items():
            field = message.fields_by_name[field_name]
            assert number == field.number, field_name
            assert field_type == field.type, field_name
            assert repeated == field.is_repeated, field_name
            if type_name:
                type_descriptor = field.message_type or field.enum_type
                assert type_descriptor is not None, field_name
                assert type_name == type_descriptor.full_name, field_name

    @pytest.mark.parametrize(("file_key", "name"), sorted(CONTRACT_MESSAGES))
    def test_additions_numbered_from_20(self, file_key: str, name: str) -> None:
        """Fields outside the contract use numbers from 20 up, leaving room below."""
        message = _message(file_key, name)
        contract_fields = CONTRACT_MESSAGES[(file_key, name)]

        for field in message.fields:
            if field.name not in contract_fields:
                assert field.number >= ADDITION_FIRST_NUMBER, field.name

    def test_server_event_members_in_oneof(self) -> None:
        """The five contract events stay members of the `event` oneof."""
        server_event = _message("events", "ServerEvent")
        oneof = server_event.oneofs_by_name["event"]

        assert {field.name for field in oneof.fields} >= set(
            CONTRACT_MESSAGES[("events", "ServerEvent")]
        )


class TestEnums:
    @pytest.mark.parametrize("name", sorted(CONTRACT_ENUMS))
    def test_values_unchanged(self, name: str) -> None:
        """Every contract enum value keeps its number."""
        enum: EnumDescriptor = types_pb2.DESCRIPTOR.enum_types_by_name[name]

        for value_name, number in CONTRACT_ENUMS[name].items():
            assert number == enum.values_by_name[value_name].number


class TestServices:
    @pytest.mark.parametrize("service_name", sorted(CONTRACT_SERVICES))
    def test_methods_unchanged(self, service_name: str) -> None:
        """Every contract method keeps its request, response and streaming shape."""
        package = service_name.rsplit(".", 1)[0]
        file_key = package.split(".")[1]
        service = FILES[file_key][0].services_by_name[service_name.rsplit(".", 1)[1]]

        for method_name, (request, response, streaming) in CONTRACT_SERVICES[service_name].items():
            method = service.methods_by_name[method_name]
            assert f"{package}.{request}" == method.input_type.full_name
            assert f"{package}.{response}" == method.output_type.full_name
            assert streaming == method.server_streaming
            assert not method.client_streaming

    def test_additions_present(self) -> None:
        """The additions clients rely on are generated."""
        auth_service = FILES["auth"][0].services_by_name["AuthService"]
        chat_service = FILES["chat"][0].services_by_name["ChatService"]
        new_message = _message("events", "NewMessageEvent")
        message_type = new_message.fields_by_name["message"].message_type

        assert "Logout" in auth_service.methods_by_name
        assert "ListChangedConversations" in chat_service.methods_by_name
        assert message_type is not None
        assert "chatview.common.ChatMessage" == message_type.full_name

    def test_type_references_use_proto_packages(self) -> None:
        """Serialized descriptors name types by proto package, not by Python module."""
        friends = _message("chat", "ListFriendsResp").fields_by_name["friends"]

        assert friends.message_type is not None
        assert "chatview.common.FriendInfo" == friends.message_type.full_name
        assert b"chatview_proto" not in chat_pb2.DESCRIPTOR.serialized_pb
