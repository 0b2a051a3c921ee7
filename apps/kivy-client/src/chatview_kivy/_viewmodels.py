"""View models: what the widgets show, computed from client-core values and events.

Each model is a plain class fed with ``chatview_client`` values and events and
read back as frozen rows of display text. None of them imports Kivy or does
I/O, so the tests drive them without a window; the widgets only copy rows
onto labels.

Rules the models keep:

- the unread badge shows the client library's count, except for the
  conversation on screen, which is read as it is shown;
- a preview or a row never shows a broken character (see ``_text``);
- messages of a conversation are ordered by ``server_seq``, with own
  messages that have none yet (pending, failed) after all stored ones in the
  order they were written.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime, tzinfo

import attrs

from chatview_client import (
    BroadcastReceived,
    ConnectionState,
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
)

from ._format import format_list_time, format_message_time, unread_badge
from ._i18n import Translator
from ._text import chunk_for_display, preview_text, replace_lone_surrogates, short_key

__all__ = [
    "MIN_PIN_LENGTH",
    "PREVIEW_LENGTH",
    "Banner",
    "ChatModel",
    "ConnectionModel",
    "FriendListModel",
    "FriendRow",
    "MessageRow",
    "Side",
    "check_new_pin",
    "check_outgoing",
    "forced_offline_reason",
]

PREVIEW_LENGTH = 40
"""Grapheme clusters in a conversation list preview, the ellipsis included."""

MIN_PIN_LENGTH = 4
"""The app asks for PINs at least this long; the key file itself takes any."""


def check_new_pin(pin: str, again: str, tr: Translator) -> str | None:
    """Check a PIN typed twice; return what is wrong, translated, or None."""
    if len(pin) < MIN_PIN_LENGTH:
        return tr._("The PIN needs at least {count} characters.").format(count=MIN_PIN_LENGTH)
    if pin != again:
        return tr._("The two PINs differ. Type the same PIN twice.")
    return None


def check_outgoing(text: str, max_chars: int, tr: Translator) -> str | None:
    """Check a message before it is queued; return what is wrong, translated, or None.

    Counts code points, as the server and the client library do, so "中" and
    "😀" each count once.
    """
    if len(text) > max_chars:
        return tr._("The message is too long: {count} characters, at most {limit}.").format(
            count=len(text), limit=max_chars
        )
    return None


def forced_offline_reason(reason: str, tr: Translator) -> str:
    """Explain a ``ForcedOffline`` reason to a person."""
    if reason == "account_banned":
        return tr._("An administrator has banned this account.")
    if reason == "session_revoked":
        return tr._("The session was ended on the server. Unlock to sign in again.")
    return tr._("The server ended the session ({reason}).").format(reason=reason)


# --- friends ---------------------------------------------------------------


@attrs.frozen
class FriendRow:
    """One line of the conversation list, ready to show."""

    public_key: str
    title: str
    """The alias, or the shortened key when there is none."""
    subtitle: str
    """The shortened key under an alias; a note for people not added."""
    online: bool
    badge: str
    """Unread count as shown: empty, ``1`` to ``99`` or ``99+``."""
    preview: str
    """The newest message on one line, cut on a grapheme boundary."""
    time: str
    added: bool


def _newer(a: Message | None, b: Message | None) -> Message | None:
    if a is None:
        return b
    if b is None:
        return a
    if a.server_seq is not None and b.server_seq is not None:
        return a if a.server_seq >= b.server_seq else b
    return a if a.timestamp >= b.timestamp else b


class FriendListModel:
    """The conversation list: contacts, strangers who wrote, and their counters."""

    def __init__(self, tr: Translator, own_key: str = "") -> None:
        self._tr = tr
        self._own_key = own_key
        self._friends: dict[str, Friend] = {}
        self.open_peer: str | None = None
        """The conversation on screen; its badge stays empty."""

    def replace_all(self, friends: Iterable[Friend]) -> None:
        """Take a fresh contact list from the client."""
        self._friends = {friend.public_key: friend for friend in friends}

    def upsert(self, friend: Friend) -> None:
        """Add or replace one contact, for example after adding a friend."""
        self._friends[friend.public_key] = friend

    def get(self, public_key: str) -> Friend | None:
        """Return the contact with that key, if listed."""
        return self._friends.get(public_key)

    def title_of(self, public_key: str) -> str:
        """Return the alias of a key, or the key shortened."""
        friend = self._friends.get(public_key)
        if friend is not None and friend.alias:
            return replace_lone_surrogates(friend.alias)
        return short_key(public_key)

    def apply(self, event: Event) -> bool:
        """Update from a client event.

        Returns:
            Whether the list changed and should be redrawn.
        """
        match event:
            case NewMessage(message=message):
                friend = self._friends.get(message.peer) or Friend(
                    public_key=message.peer, added=False
                )
                newest = _newer(friend.last_message, message)
                self._friends[message.peer] = attrs.evolve(friend, last_message=newest)
                return True
            case MessageStateChanged(message=message):
                listed = self._friends.get(message.peer)
                if listed is None or listed.last_message is None:
                    return False
                if listed.last_message.client_message_id != message.client_message_id:
                    return False
                self._friends[message.peer] = attrs.evolve(listed, last_message=message)
                return True
            case ConversationChanged(peer=peer):
                entry = self._friends.get(peer) or Friend(public_key=peer, added=False)
                self._friends[peer] = attrs.evolve(
                    entry,
                    unread=event.unread,
                    last_read_server_seq=event.last_read_server_seq,
                    last_server_seq=event.last_server_seq,
                )
                return True
            case FriendStatusChanged(public_key=key, is_online=online):
                contact = self._friends.get(key)
                if contact is None:
                    return False
                alias = contact.alias or event.alias
                self._friends[key] = attrs.evolve(contact, is_online=online, alias=alias)
                return True
            case _:
                return False

    def total_unread(self) -> int:
        """Unread messages over all conversations, the one on screen excepted."""
        return sum(f.unread for f in self._friends.values() if f.public_key != self.open_peer)

    def rows(
        self, now: datetime, filter_text: str = "", tz: tzinfo | None = None
    ) -> list[FriendRow]:
        """Return the rows to show, newest conversation first.

        Args:
            now: the current time, for relative dates.
            filter_text: keep only contacts whose alias or key contains it
                (case-insensitive); blank keeps all.
            tz: the zone to show times in; None is the system's.
        """
        needle = filter_text.strip().casefold()
        rows: list[tuple[tuple[int, float, str], FriendRow]] = []
        for friend in self._friends.values():
            if friend.public_key == self._own_key:
                continue
            title = self.title_of(friend.public_key)
            if needle and needle not in title.casefold() and needle not in friend.public_key:
                continue
            row = self._row(friend, title, now, tz)
            last = friend.last_message
            stamp = last.timestamp.timestamp() if last is not None else 0.0
            # Conversations with messages first, newest on top; then by name.
            rows.append(((0 if last else 1, -stamp, title.casefold()), row))
        rows.sort(key=lambda pair: pair[0])
        return [row for _, row in rows]

    def _row(self, friend: Friend, title: str, now: datetime, tz: tzinfo | None) -> FriendRow:
        tr = self._tr
        if not friend.added:
            subtitle = tr._("Not in your friends")
        elif friend.alias:
            subtitle = short_key(friend.public_key)
        else:
            subtitle = ""

        last = friend.last_message
        preview = ""
        time = ""
        if last is not None:
            text = preview_text(
                tr._("Encrypted message that could not be decrypted")
                if last.undecryptable
                else last.text,
                PREVIEW_LENGTH,
            )
            if last.state is MessageState.FAILED:
                preview = tr._("Not sent: {text}").format(text=text)
            elif last.outgoing:
                preview = tr._("You: {text}").format(text=text)
            else:
                preview = text
            time = format_list_time(last.timestamp, now, tr, tz)

        unread = 0 if friend.public_key == self.open_peer else friend.unread
        return FriendRow(
            public_key=friend.public_key,
            title=title,
            subtitle=subtitle,
            online=friend.is_online,
            badge=unread_badge(unread),
            preview=preview,
            time=time,
            added=friend.added,
        )


# --- chat ------------------------------------------------------------------


class Side(enum.Enum):
    """Which side of the chat a bubble sits on."""

    OWN = "own"
    PEER = "peer"


@attrs.frozen
class MessageRow:
    """One bubble, ready to show."""

    key: str
    """Stable identity of the bubble across state changes."""
    side: Side
    pieces: tuple[str, ...]
    """The text split into label-sized pieces (see ``chunk_for_display``)."""
    time: str
    status: str
    """Delivery state of an own message (sending, sent, failed); empty for the peer's."""
    can_retry: bool
    client_message_id: str | None
    security: str = ""
    """A lock for a message sealed end to end, and a warning when it failed to
    decrypt; empty for plaintext."""
    undecryptable: bool = False
    """The message is sealed but could not be decrypted on this device."""


def _message_key(message: Message) -> str:
    # An own message keeps its client id from pending to sent; the server id
    # and seq arrive only later, so they would change the key mid-life.
    if message.client_message_id:
        return f"c:{message.client_message_id}"
    if message.message_id:
        return f"m:{message.message_id}"
    return f"s:{message.server_seq}"


class ChatModel:
    """One conversation: its messages, paging state and bubble rows."""

    def __init__(self, peer: str, tr: Translator) -> None:
        self.peer = peer
        self._tr = tr
        self._messages: dict[str, Message] = {}
        self._order: dict[str, int] = {}
        self.has_more = True
        """Whether older messages may exist on the server."""

    @property
    def oldest_seq(self) -> int | None:
        """The smallest stored ``server_seq`` held; the cursor for the next older page."""
        seqs = [m.server_seq for m in self._messages.values() if m.server_seq is not None]
        return min(seqs) if seqs else None

    @property
    def newest_seq(self) -> int:
        """The largest ``server_seq`` held, 0 when none; what ``mark_read`` marks."""
        seqs = [m.server_seq for m in self._messages.values() if m.server_seq is not None]
        return max(seqs, default=0)

    def __len__(self) -> int:
        return len(self._messages)

    def _put(self, message: Message) -> None:
        key = _message_key(message)
        # The same stored message may arrive once keyed by seq (a page) and
        # once keyed by client id (own message from another device): drop
        # the seq-keyed twin.
        if message.server_seq is not None:
            for other_key, other in list(self._messages.items()):
                if other_key != key and other.server_seq == message.server_seq:
                    del self._messages[other_key]
        if key not in self._order:
            self._order[key] = len(self._order)
        self._messages[key] = message

    def add_page(self, messages: Iterable[Message], has_more: bool) -> int:
        """Merge a page of history (older or newer); return how many were new."""
        before = len(self._messages)
        for message in messages:
            if message.peer == self.peer:
                self._put(message)
        self.has_more = has_more
        return len(self._messages) - before

    def apply(self, event: Event) -> bool:
        """Update from a client event; return whether this conversation changed."""
        match event:
            case NewMessage(message=message) | MessageStateChanged(message=message):
                if message.peer != self.peer:
                    return False
                self._put(message)
                return True
            case _:
                return False

    def messages(self) -> list[Message]:
        """Return the messages in display order."""

        def order(item: tuple[str, Message]) -> tuple[int, int, float, int]:
            key, message = item
            if message.server_seq is not None:
                return (0, message.server_seq, 0.0, 0)
            return (1, 0, message.timestamp.timestamp(), self._order[key])

        return [message for _, message in sorted(self._messages.items(), key=order)]

    def rows(self, tz: tzinfo | None = None) -> list[MessageRow]:
        """Return the bubbles in display order, oldest first."""
        return [self._row(message, tz) for message in self.messages()]

    def _row(self, message: Message, tz: tzinfo | None) -> MessageRow:
        tr = self._tr
        status = ""
        if message.state is MessageState.PENDING:
            status = tr._("Sending…")
        elif message.state is MessageState.SENT:
            status = tr._("Sent")
        elif message.state is MessageState.FAILED:
            reason = message.error or tr._("unknown error")
            status = tr._("Not sent: {reason}").format(reason=reason)
        text = message.text
        security = ""
        if message.undecryptable:
            # The library's fixed English text is replaced by the translated one.
            text = tr._("This encrypted message could not be decrypted on this device.")
            security = "\N{LOCK} " + tr._("Cannot decrypt")
        elif message.encrypted:
            security = "\N{LOCK}"
        return MessageRow(
            key=_message_key(message),
            side=Side.OWN if message.outgoing else Side.PEER,
            pieces=tuple(chunk_for_display(text)),
            time=format_message_time(message.timestamp, tr, tz),
            status=status,
            can_retry=message.state is MessageState.FAILED,
            client_message_id=message.client_message_id,
            security=security,
            undecryptable=message.undecryptable,
        )


# --- connection ------------------------------------------------------------


@attrs.frozen
class Banner:
    """A line across the top of the window."""

    text: str
    kind: str
    """``"online"``, ``"connecting"``, ``"offline"`` or ``"broadcast"``; picks the colour."""


class ConnectionModel:
    """The connection indicator and the broadcast banner."""

    def __init__(self, tr: Translator) -> None:
        self._tr = tr
        self.state = ConnectionState.OFFLINE
        self.error: str | None = None
        self.broadcasts: list[BroadcastReceived] = []
        self.forced_offline: str | None = None
        """The reason of the last ``ForcedOffline``, until the user unlocks again."""

    def apply(self, event: Event) -> bool:
        """Update from a client event; return whether anything shown changed."""
        match event:
            case ConnectionStateChanged(state=state, error=error):
                self.state, self.error = state, error
                return True
            case BroadcastReceived():
                self.broadcasts.append(event)
                return True
            case ForcedOffline(reason=reason):
                self.forced_offline = reason
                return True
            case _:
                return False

    def status(self) -> Banner:
        """Return the connection indicator."""
        tr = self._tr
        if self.state is ConnectionState.ONLINE:
            return Banner(tr._("Online"), "online")
        if self.state is ConnectionState.CONNECTING:
            if self.error:
                # Retrying after a failure: without the reason a wrong address or a
                # TLS mismatch looks like a slow network forever.
                text = tr._("Connecting… (last attempt failed: {reason})")
                return Banner(text.format(reason=self.error), "connecting")
            return Banner(tr._("Connecting…"), "connecting")
        if self.error:
            return Banner(tr._("Offline: {reason}").format(reason=self.error), "offline")
        return Banner(tr._("Offline"), "offline")

    def broadcast_banner(self) -> Banner | None:
        """Return the newest broadcast as a banner, or None when there is none."""
        if not self.broadcasts:
            return None
        newest = self.broadcasts[-1]
        text = replace_lone_surrogates(newest.text)
        return Banner(self._tr._("Announcement: {text}").format(text=text), "broadcast")

    def dismiss_broadcasts(self) -> None:
        """Hide the broadcast banner until the next broadcast."""
        self.broadcasts.clear()
