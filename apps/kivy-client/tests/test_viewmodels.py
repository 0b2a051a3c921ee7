"""View models: rows for the conversation list and the chat, without a window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs
import pytest

from chatview_client import (
    BroadcastReceived,
    ConnectionState,
    ConnectionStateChanged,
    ConversationChanged,
    ForcedOffline,
    Friend,
    FriendStatusChanged,
    Message,
    MessageState,
    MessageStateChanged,
    NewMessage,
)
from chatview_kivy._i18n import Translator
from chatview_kivy._viewmodels import (
    ChatModel,
    ConnectionModel,
    FriendListModel,
    Side,
    check_new_pin,
    check_outgoing,
    forced_offline_reason,
)

ME = "a" * 64
BOB = "b" * 64
CAROL = "c" * 64
NOW = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)


def incoming(seq: int, text: str = "hi", peer: str = BOB, at: datetime = NOW) -> Message:
    return Message(
        peer=peer,
        sender=peer,
        receiver=ME,
        text=text,
        timestamp=at,
        state=MessageState.INCOMING,
        server_seq=seq,
        message_id=f"m{seq}",
    )


def own(
    cid: str, state: MessageState, seq: int | None = None, text: str = "yo", at: datetime = NOW
) -> Message:
    return Message(
        peer=BOB,
        sender=ME,
        receiver=BOB,
        text=text,
        timestamp=at,
        state=state,
        server_seq=seq,
        client_message_id=cid,
        error="too long" if state is MessageState.FAILED else None,
    )


@pytest.fixture(name="tr")
def fixture_tr() -> Translator:
    return Translator("en")


class TestFriendListModel:
    def test_stranger_who_wrote_is_listed(self, tr: Translator) -> None:
        """A message from someone not added makes a row marked as not a friend."""
        model = FriendListModel(tr, ME)
        model.apply(NewMessage(incoming(1, "你好")))
        [row] = model.rows(NOW, tz=UTC)
        assert (BOB, False, "Not in your friends", "你好") == (
            row.public_key,
            row.added,
            row.subtitle,
            row.preview,
        )

    def test_badge_from_conversation_counters(self, tr: Translator) -> None:
        """The badge shows the library's unread count, capped at 99+."""
        model = FriendListModel(tr, ME)
        model.replace_all([Friend(public_key=BOB, alias="Bob")])
        model.apply(
            ConversationChanged(peer=BOB, unread=3, last_read_server_seq=0, last_server_seq=3)
        )
        assert "3" == model.rows(NOW)[0].badge
        model.apply(
            ConversationChanged(peer=BOB, unread=150, last_read_server_seq=0, last_server_seq=150)
        )
        assert "99+" == model.rows(NOW)[0].badge

    def test_own_messages_do_not_count(self, tr: Translator) -> None:
        """Sending a message changes the preview, never the unread badge."""
        model = FriendListModel(tr, ME)
        model.replace_all([Friend(public_key=BOB, alias="Bob")])
        model.apply(NewMessage(own("c1", MessageState.PENDING)))
        row = model.rows(NOW)[0]
        assert ("", "You: yo") == (row.badge, row.preview)

    def test_open_conversation_has_no_badge(self, tr: Translator) -> None:
        """The conversation on screen shows no badge: it is read as it is shown."""
        model = FriendListModel(tr, ME)
        model.replace_all([Friend(public_key=BOB, unread=4), Friend(public_key=CAROL, unread=2)])
        model.open_peer = BOB
        badges = {row.public_key: row.badge for row in model.rows(NOW)}
        assert {BOB: "", CAROL: "2"} == badges
        assert 2 == model.total_unread()

    def test_preview_cut_on_grapheme(self, tr: Translator) -> None:
        """A long mixed preview ends with whole emoji and an ellipsis."""
        model = FriendListModel(tr, ME)
        model.apply(NewMessage(incoming(1, "中" * 38 + "👨\u200d👩\u200d👧" + "尾巴")))
        preview = model.rows(NOW)[0].preview
        assert preview.endswith("👨\u200d👩\u200d👧…") or preview.endswith("中…")
        preview.encode("utf-8")

    def test_failed_preview(self, tr: Translator) -> None:
        """A failed last message says so in the preview."""
        model = FriendListModel(tr, ME)
        model.apply(NewMessage(own("c1", MessageState.FAILED, text="x")))
        assert "Not sent: x" == model.rows(NOW)[0].preview

    def test_state_change_updates_preview(self, tr: Translator) -> None:
        """A pending last message that fails turns into a failed preview."""
        model = FriendListModel(tr, ME)
        model.apply(NewMessage(own("c1", MessageState.PENDING, text="x")))
        model.apply(
            MessageStateChanged(own("c1", MessageState.FAILED, text="x"), MessageState.PENDING)
        )
        assert "Not sent: x" == model.rows(NOW)[0].preview

    def test_newest_conversation_first(self, tr: Translator) -> None:
        """Rows are ordered by their last message, newest first; empty ones last."""
        model = FriendListModel(tr, ME)
        model.replace_all([Friend(public_key="d" * 64, alias="Dave")])
        model.apply(NewMessage(incoming(1, peer=BOB, at=NOW - timedelta(hours=2))))
        model.apply(NewMessage(incoming(1, peer=CAROL, at=NOW - timedelta(hours=1))))
        assert [CAROL, BOB, "d" * 64] == [row.public_key for row in model.rows(NOW)]

    def test_filter_by_alias_and_key(self, tr: Translator) -> None:
        """The filter matches aliases case-insensitively and keys by substring."""
        model = FriendListModel(tr, ME)
        model.replace_all([Friend(public_key=BOB, alias="鲍勃 Bob"), Friend(public_key=CAROL)])
        assert [BOB] == [r.public_key for r in model.rows(NOW, "bob")]
        assert [CAROL] == [r.public_key for r in model.rows(NOW, "ccc")]

    def test_title_falls_back_to_short_key(self, tr: Translator) -> None:
        """Without an alias the row shows the shortened key."""
        model = FriendListModel(tr, ME)
        model.replace_all([Friend(public_key=CAROL)])
        assert "cccccccc…cccc" == model.rows(NOW)[0].title

    def test_presence(self, tr: Translator) -> None:
        """A status event moves the online dot of a listed contact."""
        model = FriendListModel(tr, ME)
        model.replace_all([Friend(public_key=BOB, alias="Bob")])
        assert model.apply(FriendStatusChanged(public_key=BOB, alias="Bob", is_online=True))
        assert model.rows(NOW)[0].online

    def test_status_of_unknown_ignored(self, tr: Translator) -> None:
        """A status event for someone not listed changes nothing."""
        model = FriendListModel(tr, ME)
        assert not model.apply(FriendStatusChanged(public_key=BOB, alias="", is_online=True))
        assert [] == model.rows(NOW)

    def test_relative_time(self, tr: Translator) -> None:
        """Yesterday's message shows the word, not a date."""
        model = FriendListModel(tr, ME)
        model.apply(NewMessage(incoming(1, at=NOW - timedelta(days=1))))
        assert "Yesterday" == model.rows(NOW, tz=UTC)[0].time


class TestChatModel:
    def test_order_by_seq_pending_last(self, tr: Translator) -> None:
        """Stored messages go by seq; unsent ones follow in the order written."""
        chat = ChatModel(BOB, tr)
        chat.add_page([incoming(2), incoming(1)], has_more=False)
        chat.apply(NewMessage(own("c2", MessageState.PENDING, at=NOW + timedelta(seconds=2))))
        chat.apply(NewMessage(own("c1", MessageState.PENDING, at=NOW + timedelta(seconds=1))))
        chat.apply(NewMessage(incoming(3)))
        keys = [row.key for row in chat.rows()]
        assert ["m:m1", "m:m2", "m:m3", "c:c1", "c:c2"] == keys

    def test_pending_to_sent_same_bubble(self, tr: Translator) -> None:
        """A message keeps its bubble from pending to sent; the status changes."""
        chat = ChatModel(BOB, tr)
        chat.apply(NewMessage(own("c1", MessageState.PENDING)))
        before = chat.rows()[0]
        chat.apply(MessageStateChanged(own("c1", MessageState.SENT, seq=1), MessageState.PENDING))
        after = chat.rows()
        assert 1 == len(after)
        assert (before.key, "Sending…", "Sent") == (after[0].key, before.status, after[0].status)

    def test_failed_offers_retry(self, tr: Translator) -> None:
        """A failed message says why and offers a retry."""
        chat = ChatModel(BOB, tr)
        chat.apply(NewMessage(own("c1", MessageState.FAILED)))
        row = chat.rows()[0]
        assert (True, "Not sent: too long", Side.OWN) == (row.can_retry, row.status, row.side)

    def test_page_and_event_twice_stored_once(self, tr: Translator) -> None:
        """A message seen in a page and again as an event is one bubble."""
        chat = ChatModel(BOB, tr)
        chat.add_page([incoming(1)], has_more=False)
        assert not chat.apply(NewMessage(incoming(1, peer=CAROL)))
        chat.apply(NewMessage(incoming(1)))
        assert 1 == len(chat)

    def test_own_from_other_device_replaces_seq_twin(self, tr: Translator) -> None:
        """An own message paged by seq and then seen with its client id is one bubble."""
        chat = ChatModel(BOB, tr)
        paged = attrs.evolve(own("x", MessageState.SENT, seq=1), client_message_id=None)
        chat.add_page([paged], has_more=False)
        chat.apply(NewMessage(own("x", MessageState.SENT, seq=1)))
        assert ["c:x"] == [row.key for row in chat.rows()]

    def test_paging_cursor(self, tr: Translator) -> None:
        """The oldest seq is the cursor for the next older page."""
        chat = ChatModel(BOB, tr)
        empty_cursor = chat.oldest_seq
        chat.add_page([incoming(31), incoming(40)], has_more=True)
        assert (None, 31, 40, True) == (
            empty_cursor,
            chat.oldest_seq,
            chat.newest_seq,
            chat.has_more,
        )

    def test_peer_side(self, tr: Translator) -> None:
        """The peer's messages sit on the peer's side with no delivery status."""
        chat = ChatModel(BOB, tr)
        chat.add_page([incoming(1)], has_more=False)
        row = chat.rows(tz=UTC)[0]
        assert (Side.PEER, "", "12:00") == (row.side, row.status, row.time)

    def test_long_message_in_pieces(self, tr: Translator) -> None:
        """A 1000-line message becomes several label-sized pieces."""
        chat = ChatModel(BOB, tr)
        chat.add_page([incoming(1, "第x行\n" * 1000)], has_more=False)
        assert len(chat.rows()[0].pieces) > 10


class TestConnectionModel:
    @pytest.mark.parametrize(
        ("event", "kind", "text"),
        [
            (ConnectionStateChanged(ConnectionState.ONLINE), "online", "Online"),
            (ConnectionStateChanged(ConnectionState.CONNECTING), "connecting", "Connecting…"),
            (
                ConnectionStateChanged(ConnectionState.CONNECTING, "Socket closed"),
                "connecting",
                "Connecting… (last attempt failed: Socket closed)",
            ),
            (
                ConnectionStateChanged(ConnectionState.OFFLINE, "refused"),
                "offline",
                "Offline: refused",
            ),
        ],
    )
    def test_status(
        self, tr: Translator, event: ConnectionStateChanged, kind: str, text: str
    ) -> None:
        """Each connection state has its indicator."""
        model = ConnectionModel(tr)
        model.apply(event)
        assert (kind, text) == (model.status().kind, model.status().text)

    def test_broadcast_banner(self, tr: Translator) -> None:
        """The newest broadcast is the banner until dismissed."""
        model = ConnectionModel(tr)
        assert model.broadcast_banner() is None
        model.apply(BroadcastReceived(text="维护通知", from_admin=BOB))
        banner = model.broadcast_banner()
        assert banner is not None
        assert "Announcement: 维护通知" == banner.text
        model.dismiss_broadcasts()
        assert model.broadcast_banner() is None

    def test_forced_offline_kept(self, tr: Translator) -> None:
        """The reason of a forced logout is kept for the PIN screen."""
        model = ConnectionModel(tr)
        model.apply(ForcedOffline(reason="account_banned"))
        assert "account_banned" == model.forced_offline


class TestChecks:
    def test_pin_too_short(self, tr: Translator) -> None:
        """A three-character PIN is refused with the minimum named."""
        assert "The PIN needs at least 4 characters." == check_new_pin("123", "123", tr)

    def test_pins_differ(self, tr: Translator) -> None:
        """Two different PINs are refused."""
        assert check_new_pin("1234", "1235", tr) is not None

    def test_pin_ok(self, tr: Translator) -> None:
        """The same PIN twice passes."""
        assert check_new_pin("1234", "1234", tr) is None

    @pytest.mark.parametrize(
        ("text", "ok"),
        [("中" * 4000, True), ("😀" * 4000, True), ("中" * 4001, False), ("a" * 4001, False)],
    )
    def test_length_in_code_points(self, tr: Translator, text: str, ok: bool) -> None:
        """The limit counts code points, as the server does (case C17)."""
        assert ok == (check_outgoing(text, 4000, tr) is None)

    def test_too_long_in_chinese(self) -> None:
        """The length message reads naturally in Chinese."""
        assert "消息过长：4001 字，最多 4000 字。" == check_outgoing(
            "中" * 4001, 4000, Translator("zh_CN")
        )

    def test_banned_reason(self) -> None:
        """A ban is explained in the reader's language."""
        assert "管理员已封禁此账号。" == forced_offline_reason(
            "account_banned", Translator("zh_CN")
        )

    def test_other_reason_named(self, tr: Translator) -> None:
        """An unknown reason is shown as the server gave it."""
        assert "(maintenance)" in forced_offline_reason("maintenance", tr)
