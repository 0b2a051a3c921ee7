"""How messages print: the lock and failure markers of sealed messages."""

from __future__ import annotations

from datetime import UTC, datetime

import attrs

from chatview_cli._output import format_message, to_json
from chatview_client import UNDECRYPTABLE_TEXT, Message, MessageState

ME = "a" * 64
PEER = "b" * 64
PLAIN = Message(
    peer=PEER,
    sender=PEER,
    receiver=ME,
    text="hello",
    timestamp=datetime(2026, 12, 4, 21, 0, tzinfo=UTC),
    state=MessageState.INCOMING,
    server_seq=3,
)


class TestFormatMessage:
    def test_plaintext_unmarked(self) -> None:
        """A plaintext message has no marker."""
        assert "    #3  2026-12-04 21:00:00  bbbbbbbb: hello" == format_message(PLAIN, ME)

    def test_lock(self) -> None:
        """A sealed message shows a lock before its text."""
        sealed = attrs.evolve(PLAIN, encrypted=True)

        assert format_message(sealed, ME).endswith("bbbbbbbb: \N{LOCK} hello")

    def test_undecryptable(self) -> None:
        """A message that failed to decrypt shows the lock, a warning sign and the fixed text."""
        broken = attrs.evolve(PLAIN, text=UNDECRYPTABLE_TEXT, encrypted=True, undecryptable=True)

        assert format_message(broken, ME).endswith(
            f"bbbbbbbb: \N{LOCK}\N{WARNING SIGN} {UNDECRYPTABLE_TEXT}"
        )

    def test_json_flags(self) -> None:
        """JSON output carries both flags."""
        line = to_json(attrs.evolve(PLAIN, encrypted=True))

        assert '"encrypted": true, "undecryptable": false' in line


class TestNames:
    def test_alias(self) -> None:
        """A contact with an alias is named by it."""
        assert format_message(PLAIN, ME, {PEER: "Bob"}).endswith("  Bob: hello")

    def test_no_alias(self) -> None:
        """Without an alias the key's first 8 hex digits name the sender."""
        assert format_message(PLAIN, ME, {}).endswith("  bbbbbbbb: hello")

    def test_me(self) -> None:
        """Own messages say "me", whatever the aliases."""
        own = attrs.evolve(PLAIN, sender=ME, receiver=PEER, state=MessageState.SENT)

        assert format_message(own, ME, {ME: "self"}).endswith("  me: hello")
