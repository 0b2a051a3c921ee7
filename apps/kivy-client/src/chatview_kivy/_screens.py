"""The screens and popups: glue between widgets, view models and the app.

Screens read rows from the view models and call the app for anything that
talks to the session; they hold no state a test would need beyond what the
widgets show.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from kivy.clock import Clock
from kivy.core.clipboard import Clipboard
from kivy.metrics import dp
from kivy.properties import BooleanProperty, StringProperty
from kivy.uix.popup import Popup
from kivy.uix.screenmanager import Screen

from ._errors import SessionError, describe_error
from ._viewmodels import ChatModel, MessageRow, Side, check_new_pin, check_outgoing
from ._widgets import Bubble, FallbackLabel, tr

if TYPE_CHECKING:
    from ._app import ChatViewApp

__all__ = [
    "AddFriendPopup",
    "AdminScreen",
    "ChangePinPopup",
    "ChatScreen",
    "ExportPopup",
    "FriendsScreen",
    "IdentityPopup",
    "SettingsScreen",
    "UnlockScreen",
    "WelcomeScreen",
]

PAGE_SIZE = 30
"""Messages fetched per history page."""

_MEASURE_LIMIT = 200


def _app() -> ChatViewApp:
    from kivy.app import App

    app = App.get_running_app()
    assert app is not None
    return app  # type: ignore[no-any-return]


# --- identity ---------------------------------------------------------------


class WelcomeScreen(Screen):  # type: ignore[misc]
    """First start: create a key under a new PIN, or import one."""

    error = StringProperty("")
    busy = BooleanProperty(False)

    def create(self) -> None:
        """Create a new identity from the two PIN fields."""
        problem = check_new_pin(self.ids.new_pin.text, self.ids.new_pin_again.text, tr.translator)
        if problem:
            self.error = problem
            return
        self.error = ""
        _app().spawn(self._run(_app().create_identity(self.ids.new_pin.text)), "identity.create")

    def import_key(self) -> None:
        """Import the pasted private key under the two PIN fields."""
        pin, again = self.ids.import_pin.text, self.ids.import_pin_again.text
        problem = check_new_pin(pin, again, tr.translator)
        if problem:
            self.error = problem
            return
        self.error = ""
        key = self.ids.import_key.text.strip()
        _app().spawn(self._run(_app().import_identity(key, pin)), "identity.import")

    async def _run(self, action: Any) -> None:
        self.busy = True
        try:
            await action
        except SessionError as exc:
            self.error = describe_error(exc, tr.translator)
        finally:
            self.busy = False


class UnlockScreen(Screen):  # type: ignore[misc]
    """Later starts: ask for the PIN; also where a forced logout lands."""

    error = StringProperty("")
    reason = StringProperty("")
    """Why the app came back here (banned, session ended); empty after a plain start."""
    busy = BooleanProperty(False)

    def on_enter(self, *_args: Any) -> None:
        """Focus the PIN field."""
        Clock.schedule_once(lambda _dt: setattr(self.ids.pin, "focus", True), 0.1)

    def unlock(self) -> None:
        """Try the typed PIN."""
        if self.busy:
            return
        _app().spawn(self._unlock(self.ids.pin.text), "identity.unlock")

    async def _unlock(self, pin: str) -> None:
        self.busy = True
        self.error = ""
        try:
            await _app().unlock(pin)
        except SessionError as exc:
            self.error = describe_error(exc, tr.translator)
            self.ids.pin.text = ""
            self.ids.pin.focus = True
        else:
            self.ids.pin.text = ""
            self.reason = ""
        finally:
            self.busy = False


class IdentityPopup(Popup):  # type: ignore[misc]
    """The own public key, as text, copy button and QR code."""

    public_key = StringProperty("")
    note = StringProperty("")

    def copy(self) -> None:
        """Put the key on the clipboard."""
        Clipboard.copy(self.public_key)
        self.note = tr._("Copied.")


class ExportPopup(Popup):  # type: ignore[misc]
    """Shows the private key, only after the PIN again."""

    secret = StringProperty("")
    error = StringProperty("")
    busy = BooleanProperty(False)

    def reveal(self) -> None:
        """Check the PIN and show the key."""
        _app().spawn(self._reveal(self.ids.pin.text), "identity.export")

    async def _reveal(self, pin: str) -> None:
        self.busy = True
        self.error = ""
        try:
            self.secret = await _app().session.export_private_key(pin)
        except SessionError as exc:
            self.error = describe_error(exc, tr.translator)
        finally:
            self.ids.pin.text = ""
            self.busy = False

    def copy(self) -> None:
        """Put the private key on the clipboard."""
        Clipboard.copy(self.secret)

    def on_dismiss(self) -> None:
        """Forget the shown key."""
        self.secret = ""


class ChangePinPopup(Popup):  # type: ignore[misc]
    """Re-encrypts the key under a new PIN."""

    error = StringProperty("")
    busy = BooleanProperty(False)

    def submit(self) -> None:
        """Check the new PIN twice and change it."""
        problem = check_new_pin(self.ids.new_pin.text, self.ids.new_pin_again.text, tr.translator)
        if problem:
            self.error = problem
            return
        _app().spawn(self._change(self.ids.old_pin.text, self.ids.new_pin.text), "identity.pin")

    async def _change(self, old: str, new: str) -> None:
        self.busy = True
        self.error = ""
        try:
            await _app().session.change_pin(old, new)
        except SessionError as exc:
            self.error = describe_error(exc, tr.translator)
        else:
            self.dismiss()
        finally:
            self.busy = False


# --- friends ----------------------------------------------------------------


class FriendsScreen(Screen):  # type: ignore[misc]
    """The conversation list."""

    empty = BooleanProperty(True)
    loading = BooleanProperty(False)

    def refresh(self, *_args: Any) -> None:
        """Redraw the list from the model."""
        app = _app()
        rows = app.friends_model.rows(datetime.now(UTC), self.ids.filter.text)
        self.ids.list.data = [
            {
                "public_key": row.public_key,
                "title": row.title,
                "subtitle": row.subtitle,
                "online": row.online,
                "badge": row.badge,
                "preview": row.preview,
                "time": row.time,
                "added": row.added,
                "screen": self,
            }
            for row in rows
        ]
        self.empty = not rows and not self.ids.filter.text

    def open_chat(self, public_key: str) -> None:
        """Open the conversation with ``public_key``."""
        _app().open_chat(public_key)

    def show_add_friend(self) -> None:
        """Open the add-friend popup."""
        AddFriendPopup().open()


class AddFriendPopup(Popup):  # type: ignore[misc]
    """Paste a key, give it a name."""

    error = StringProperty("")
    busy = BooleanProperty(False)

    def submit(self) -> None:
        """Add the friend."""
        key = self.ids.key.text.strip()
        alias = self.ids.alias.text.strip()
        if not key:
            self.error = tr._("Paste your friend's public key.")
            return
        _app().spawn(self._add(key, alias), "friends.add")

    async def _add(self, key: str, alias: str) -> None:
        self.busy = True
        self.error = ""
        try:
            await _app().add_friend(key, alias)
        except SessionError as exc:
            self.error = describe_error(exc, tr.translator)
        else:
            self.dismiss()
        finally:
            self.busy = False


# --- chat -------------------------------------------------------------------


class MessageBubble(Bubble):
    """A ``Bubble`` that lays its text pieces out at a width that fits them."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._labels: list[FallbackLabel] = []
        self._watched: Any = None
        self.bind(parent=self._on_parent, pieces=self._rebuild)

    def _on_parent(self, _instance: object, parent: Any) -> None:
        # Follow the width of the list the bubble sits in (window resizes, rotation).
        if self._watched is not None:
            self._watched.unbind(width=self._relayout)
        self._watched = parent
        if parent is not None:
            parent.bind(width=self._relayout)
            self._relayout()

    def show(self, row: MessageRow) -> None:
        """Copy a row onto the bubble."""
        self.own = row.side is Side.OWN
        self.time = row.time
        self.status = row.status
        self.can_retry = row.can_retry
        self.security = row.security
        self.undecryptable = row.undecryptable
        self.client_message_id = row.client_message_id or ""
        if list(row.pieces) != list(self.pieces):
            self.pieces = list(row.pieces)

    def _rebuild(self, *_args: Any) -> None:
        box = self.ids.pieces
        box.clear_widgets()
        self._labels = [FallbackLabel(plain=piece, halign="left") for piece in self.pieces]
        for label in self._labels:
            box.add_widget(label)
        self._relayout()

    def _relayout(self, *_args: Any) -> None:
        if self.parent is None:
            return
        max_text = self.parent.width * 0.78 - dp(20)
        widest = dp(120)
        for label in self._labels:
            # Measure short text unwrapped, so a short message gets a narrow
            # bubble; long text is wrapped straight away, since measuring it on
            # one line could exceed the GPU's largest texture.
            label.text_size = (
                (None, None) if len(label.plain) <= _MEASURE_LIMIT else (max_text, None)
            )
            label.texture_update()
            if label.texture_size[0] > max_text:
                label.text_size = (max_text, None)
                label.texture_update()
            label.size_hint = (None, None)
            label.size = label.texture_size
            widest = max(widest, label.texture_size[0])
        self.width = min(self.parent.width * 0.78, widest + dp(20))


class ChatScreen(Screen):  # type: ignore[misc]
    """One conversation: bubbles, paging, composer."""

    peer = StringProperty("")
    peer_title = StringProperty("")
    peer_online = BooleanProperty(False)
    notice = StringProperty("")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model: ChatModel | None = None
        self._bubbles: dict[str, MessageBubble] = {}
        self._loading_older = False

    # Opening and leaving.

    def open(self, peer: str) -> None:
        """Show the conversation with ``peer`` and load its newest page."""
        app = _app()
        self.peer = peer
        self.peer_title = app.friends_model.title_of(peer)
        friend = app.friends_model.get(peer)
        self.peer_online = bool(friend and friend.is_online)
        self.notice = ""
        self.model = ChatModel(peer, tr.translator)
        self._bubbles.clear()
        self.ids.messages.clear_widgets()
        app.spawn(self._load_newest(self.model), "chat.open")

    async def _load_newest(self, model: ChatModel) -> None:
        try:
            messages, has_more = await _app().session.history(model.peer, None, PAGE_SIZE)
        except SessionError as exc:
            self.notice = describe_error(exc, tr.translator)
            return
        if model is not self.model:
            return
        model.add_page(messages, has_more)
        self.render(scroll_to_end=True)
        _app().mark_read_soon()

    def go_back(self) -> None:
        """Return to the conversation list."""
        _app().show_friends()

    # Drawing.

    def render(self, scroll_to_end: bool = False) -> None:
        """Bring the bubbles in line with the model, reusing existing ones."""
        if self.model is None:
            return
        scroll, box = self.ids.scroll, self.ids.messages
        # Follow new messages only when the newest one was in view.
        was_at_end = scroll_to_end or box.height <= scroll.height or scroll.scroll_y <= 0.01
        rows = self.model.rows()
        wanted: list[MessageBubble] = []
        for row in rows:
            bubble = self._bubbles.get(row.key)
            if bubble is None:
                bubble = MessageBubble()
                bubble.bind(on_retry=self._on_retry)
                self._bubbles[row.key] = bubble
            bubble.show(row)
            wanted.append(bubble)
        # Kivy lists children newest-added first.
        if list(reversed(box.children)) != wanted:
            box.clear_widgets()
            for bubble in wanted:
                box.add_widget(bubble)
        if was_at_end:
            Clock.schedule_once(lambda _dt: setattr(scroll, "scroll_y", 0), 0)

    def retranslate(self) -> None:
        """Redraw bubble texts after a language switch."""
        if self.model is not None:
            self.peer_title = _app().friends_model.title_of(self.peer)
            self.render()

    def _on_retry(self, bubble: MessageBubble) -> None:
        _app().spawn(_app().session.retry(bubble.client_message_id), "chat.retry")

    # Paging.

    def on_scrolled(self, scroll_y: float) -> None:
        """Load the next older page when the list is scrolled to its top."""
        model = self.model
        if model is None or self._loading_older or not model.has_more or scroll_y < 0.999:
            return
        if len(model) == 0:
            return
        self._loading_older = True
        _app().spawn(self._load_older(model), "chat.older")

    async def _load_older(self, model: ChatModel) -> None:
        try:
            messages, has_more = await _app().session.history(
                model.peer, model.oldest_seq, PAGE_SIZE
            )
        except SessionError as exc:
            self.notice = describe_error(exc, tr.translator)
            self._loading_older = False
            return
        try:
            if model is not self.model:
                return
            box, scroll = self.ids.messages, self.ids.scroll
            old_height = box.height
            added = model.add_page(messages, has_more)
            if not added:
                return
            self.render()

            def keep_anchor(_dt: float) -> None:
                # The new page went in above the view; move down by its height so
                # the message that was on top stays where it was.
                movable = box.height - scroll.height
                if movable > 0:
                    scroll.scroll_y = max(0.0, 1 - (box.height - old_height) / movable)

            Clock.schedule_once(keep_anchor, 0)
        finally:
            self._loading_older = False

    # Sending.

    def send(self) -> None:
        """Send what the composer holds (Enter or the Send button)."""
        composer = self.ids.composer
        text = composer.text
        if not text.strip() or not self.peer:
            return
        problem = check_outgoing(text, _app().max_message_chars, tr.translator)
        if problem:
            self.notice = problem
            return
        self.notice = ""
        composer.text = ""
        _app().spawn(self._send(self.peer, text), "chat.send")

    async def _send(self, peer: str, text: str) -> None:
        try:
            await _app().send(peer, text)
        except SessionError as exc:
            self.notice = describe_error(exc, tr.translator)
            if not self.ids.composer.text:
                self.ids.composer.text = text


# --- settings ---------------------------------------------------------------


class SettingsScreen(Screen):  # type: ignore[misc]
    """Language, server, identity and logout."""

    server_note = StringProperty("")

    def on_pre_enter(self, *_args: Any) -> None:
        """Show the stored settings."""
        settings = _app().settings
        self.ids.server.text = settings.grpc_target or _app().default_target
        self.ids.tls_auto.state = "down" if settings.grpc_tls is None else "normal"
        self.ids.tls_on.state = "down" if settings.grpc_tls is True else "normal"
        self.ids.tls_off.state = "down" if settings.grpc_tls is False else "normal"
        self._show_language(settings.language)
        self.server_note = ""

    def _show_language(self, language: str | None) -> None:
        self.ids.lang_system.state = "down" if language is None else "normal"
        self.ids.lang_en.state = "down" if language == "en" else "normal"
        self.ids.lang_zh_CN.state = "down" if language == "zh_CN" else "normal"

    def choose_language(self, language: str | None) -> None:
        """Switch the language at once and remember the choice."""
        _app().set_language(language)
        self._show_language(language)

    def save_server(self) -> None:
        """Store the server address and TLS choice."""
        tls: bool | None = None
        if self.ids.tls_on.state == "down":
            tls = True
        elif self.ids.tls_off.state == "down":
            tls = False
        target = self.ids.server.text.strip() or None
        _app().spawn(self._save(target, tls), "settings.server")

    async def _save(self, target: str | None, tls: bool | None) -> None:
        reconnecting = await _app().set_server(target, tls)
        if reconnecting:
            self.server_note = tr._("Saved. Unlock again to connect with the new settings.")
        else:
            self.server_note = tr._("Saved.")

    def show_export(self) -> None:
        """Open the export popup."""
        ExportPopup().open()

    def show_change_pin(self) -> None:
        """Open the change-PIN popup."""
        ChangePinPopup().open()


# --- admin ------------------------------------------------------------------


class AdminScreen(Screen):  # type: ignore[misc]
    """Users with ban and unban, broadcast, counters."""

    stats = StringProperty("")
    error = StringProperty("")

    def on_pre_enter(self, *_args: Any) -> None:
        """Load the overview."""
        self.refresh()

    def refresh(self) -> None:
        """Fetch users and counters again."""
        _app().spawn(self._refresh(), "admin.refresh")

    async def _refresh(self) -> None:
        app = _app()
        try:
            overview = await app.session.admin_overview()
        except SessionError as exc:
            self.error = describe_error(exc, tr.translator)
            return
        self.error = ""
        stats = overview.stats
        self.stats = tr._("Online: {online} · Users: {total} · Banned: {banned}").format(
            online=stats.online_users, total=stats.total_users, banned=stats.banned_users
        )
        self.ids.users.data = [
            {
                "public_key": user.public_key,
                "title": app.friends_model.title_of(user.public_key),
                "online": user.is_online,
                "banned": user.is_banned,
                "screen": self,
            }
            for user in overview.users
        ]

    def toggle_ban(self, public_key: str, banned: bool) -> None:
        """Ban or unban one account, then reload."""
        _app().spawn(self._ban(public_key, banned), "admin.ban")

    async def _ban(self, public_key: str, banned: bool) -> None:
        try:
            await _app().session.set_banned(public_key, banned)
        except SessionError as exc:
            self.error = describe_error(exc, tr.translator)
            return
        await self._refresh()

    def broadcast(self) -> None:
        """Send the typed announcement."""
        text = self.ids.broadcast.text.strip()
        if not text:
            return
        _app().spawn(self._broadcast(text), "admin.broadcast")

    async def _broadcast(self, text: str) -> None:
        try:
            await _app().session.broadcast(text)
        except SessionError as exc:
            self.error = describe_error(exc, tr.translator)
            return
        self.ids.broadcast.text = ""
        self.error = ""
