"""End-to-end encrypted messages in the view models: the lock and the failure mark."""

from __future__ import annotations

from datetime import UTC, datetime

import attrs
import pytest

from chatview_client import UNDECRYPTABLE_TEXT, Message, MessageState, NewMessage
from chatview_kivy._i18n import Translator
from chatview_kivy._viewmodels import ChatModel, FriendListModel

ME = "a" * 64
BOB = "b" * 64
NOW = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)

PLAIN = Message(
    peer=BOB,
    sender=BOB,
    receiver=ME,
    text="hi",
    timestamp=NOW,
    state=MessageState.INCOMING,
    server_seq=1,
    message_id="m1",
)
SEALED = attrs.evolve(PLAIN, encrypted=True)
BROKEN = attrs.evolve(PLAIN, text=UNDECRYPTABLE_TEXT, encrypted=True, undecryptable=True)


@pytest.fixture(name="tr")
def fixture_tr() -> Translator:
    return Translator("en")


class TestSealedRows:
    def test_plain_no_lock(self, tr: Translator) -> None:
        """A plaintext message shows no lock."""
        chat = ChatModel(BOB, tr)
        chat.add_page([PLAIN], has_more=False)

        assert ("", False) == (chat.rows()[0].security, chat.rows()[0].undecryptable)

    def test_sealed_lock(self, tr: Translator) -> None:
        """A sealed message shows its text with a lock."""
        chat = ChatModel(BOB, tr)
        chat.add_page([SEALED], has_more=False)
        row = chat.rows()[0]

        assert (("hi",), "\N{LOCK}") == (row.pieces, row.security)

    def test_undecryptable_marked(self, tr: Translator) -> None:
        """A message that failed to decrypt says so in the bubble and is flagged."""
        chat = ChatModel(BOB, tr)
        chat.add_page([BROKEN], has_more=False)
        row = chat.rows()[0]

        assert row.undecryptable is True
        assert ("This encrypted message could not be decrypted on this device.",) == row.pieces
        assert "\N{LOCK} Cannot decrypt" == row.security

    def test_undecryptable_translated(self) -> None:
        """The failure text follows the interface language."""
        chat = ChatModel(BOB, Translator("zh_CN"))
        chat.add_page([BROKEN], has_more=False)

        assert ("这条加密消息无法在此设备上解密。",) == chat.rows()[0].pieces

    def test_list_preview(self, tr: Translator) -> None:
        """The conversation list previews a failed message with the translated text."""
        model = FriendListModel(tr, ME)
        model.apply(NewMessage(BROKEN))
        preview = model.rows(NOW)[0].preview

        assert preview.startswith("Encrypted message that could not")
        assert UNDECRYPTABLE_TEXT[:20] not in preview
