"""Protobuf messages become the library's own values."""

from __future__ import annotations

from datetime import UTC, datetime

from chatview_client import MessageState
from chatview_client._rpc import message_from_pb, parse_timestamp
from chatview_proto.common import types_pb2

from .strategies import ME, PEER


class TestMessageFromPb:
    def test_incoming(self) -> None:
        """A peer's message is incoming and filed under the peer."""
        pb = types_pb2.ChatMessage(
            id="m1",
            sender_public_key=PEER,
            receiver_public_key=ME,
            text="hi",
            timestamp="2026-12-04T20:25:08.123456Z",
            server_seq=3,
        )

        message = message_from_pb(pb, me=ME, peer=PEER)

        assert (MessageState.INCOMING, PEER, 3, "m1") == (
            message.state,
            message.peer,
            message.server_seq,
            message.message_id,
        )

    def test_own_other_device(self) -> None:
        """An own message from another device is sent, with its idempotency key."""
        pb = types_pb2.ChatMessage(
            sender_public_key=ME,
            receiver_public_key=PEER,
            text="x",
            client_message_id="k",
            server_seq=1,
        )

        message = message_from_pb(pb, me=ME, peer=PEER)

        assert (MessageState.SENT, "k") == (message.state, message.client_message_id)

    def test_old_server_receiver(self) -> None:
        """Without receiver_public_key (an old server) the receiver comes from context."""
        pb = types_pb2.ChatMessage(sender_public_key=ME, text="x", server_seq=1)

        assert PEER == message_from_pb(pb, me=ME, peer=PEER).receiver


class TestParseTimestamp:
    def test_zulu(self) -> None:
        """RFC 3339 with Z is UTC."""
        assert datetime(2026, 12, 4, 20, 25, 8, 123456, tzinfo=UTC) == parse_timestamp(
            "2026-12-04T20:25:08.123456Z"
        )

    def test_unreadable(self) -> None:
        """Unreadable text becomes the epoch rather than an error."""
        assert datetime.fromtimestamp(0, UTC) == parse_timestamp("yesterday")
