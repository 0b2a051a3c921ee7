"""The Kivy app: screens, the session's lifetime, and events fanned out to view models.

Kivy and asyncio share one thread: ``run_app`` runs ``App.async_run`` under
``asyncio.run``, so a Kivy frame is one step of the asyncio loop and every
coroutine of the session runs between frames. Nothing slow may run inline:
the client library awaits the network and runs Argon2 in a worker thread
(``asyncio.to_thread``), so the window keeps drawing while a PIN is checked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import structlog
from kivy.app import App
from kivy.clock import Clock
from kivy.core.window import Window
from kivy.lang import Builder
from kivy.properties import BooleanProperty, NumericProperty, StringProperty
from kivy.uix.screenmanager import NoTransition, ScreenManager

from chatview_client import (
    ConnectionState,
    ConnectionStateChanged,
    Event,
    ForcedOffline,
    FriendStatusChanged,
    NewMessage,
)

from ._errors import SessionError, describe_error
from ._fonts import FontChain
from ._i18n import detect_system_language
from ._screens import (
    AdminScreen,
    ChatScreen,
    FriendsScreen,
    IdentityPopup,
    SettingsScreen,
    UnlockScreen,
    WelcomeScreen,
)
from ._session import Session
from ._settings import AppSettings, load_settings, save_settings
from ._viewmodels import ConnectionModel, FriendListModel, forced_offline_reason
from ._widgets import register_fonts, tr

__all__ = ["SOFTINPUT_MODE", "ChatViewApp", "SessionFactory", "run_app"]

_log = structlog.get_logger("chatview_kivy.app")

SessionFactory = Callable[[AppSettings], Session]
"""Makes the session for the current settings; called again after a server change."""

# XXX: checked on desktop with a simulated keyboard height (gui_driver's
# chat_keyboard_zh), not yet on an Android tablet.
SOFTINPUT_MODE = "below_target"
"""How the window makes room for a soft keyboard. It pans just enough to keep the
focused text input (the composer) above the keyboard. The layout keeps its size, so
nothing reflows while typing."""

_KV_FILE = Path(str(resources.files("chatview_kivy") / "layout.kv"))


class ChatViewApp(App):  # type: ignore[misc]
    """The ChatView app.

    Args:
        data_dir: where the app keeps its settings (the client library keeps
            the key file and cache there too).
        session_factory: makes the session from the settings.
        fonts: the font chain to draw text with.
        default_target: the server shown when the settings name none.
        max_message_chars: the longest message, as the client library counts it.
    """

    title = "ChatView"

    connection_kind = StringProperty("offline")
    connection_text = StringProperty("")
    broadcast_text = StringProperty("")
    spinner_phase = NumericProperty(0)
    has_identity = BooleanProperty(False)
    unlocked = BooleanProperty(False)
    is_admin = BooleanProperty(False)
    language = StringProperty("en")

    def __init__(
        self,
        *,
        data_dir: Path,
        session_factory: SessionFactory,
        fonts: FontChain,
        default_target: str = "127.0.0.1:50051",
        max_message_chars: int = 4000,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.data_dir = data_dir
        self.settings = load_settings(data_dir)
        self._session_factory = session_factory
        self.session: Session = session_factory(self.settings)
        self.fonts = fonts
        self.default_target = default_target
        self.max_message_chars = max_message_chars
        self.friends_model = FriendListModel(tr.translator)
        self.connection_model = ConnectionModel(tr.translator)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._event_task: asyncio.Task[None] | None = None
        self._mark_read_event: Any = None
        self._return_to = "friends"
        self.manager: ScreenManager | None = None
        self._clocks: list[Any] = []
        self._send_lock = asyncio.Lock()
        tr.translator.switch(self.settings.language or detect_system_language())
        self.language = tr.language

    # --- start and stop ----------------------------------------------------

    def build(self) -> ScreenManager:
        """Load fonts and kv rules and make the screens."""
        register_fonts(self.fonts)
        Window.softinput_mode = SOFTINPUT_MODE
        Window.clearcolor = (0.96, 0.96, 0.97, 1)
        Builder.load_file(str(_KV_FILE))

        manager = ScreenManager(transition=NoTransition())
        for screen in (
            WelcomeScreen(),
            UnlockScreen(),
            FriendsScreen(),
            ChatScreen(),
            SettingsScreen(),
            AdminScreen(),
        ):
            manager.add_widget(screen)
        self.manager = manager
        self.has_identity = self.session.has_identity
        manager.current = "unlock" if self.has_identity else "welcome"
        self._show_connection()
        self._clocks = [
            Clock.schedule_interval(self._tick, 1 / 20),
            # Relative times ("yesterday") age while the list is open.
            Clock.schedule_interval(lambda _dt: self._refresh_friends(), 60),
        ]
        return manager

    def on_stop(self) -> None:
        """Cancel timers and the session's tasks; ``run_app`` closes the session."""
        for clock in self._clocks:
            clock.cancel()
        for task in list(self._tasks):
            task.cancel()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run ``coro`` as a task of the app; failures are logged, not lost."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            _log.error("app.task.failed", task=task.get_name(), error=repr(error))

    def _tick(self, _dt: float) -> None:
        # Moves the progress bars; doubles as proof that frames keep coming.
        self.spinner_phase = (self.spinner_phase + 4) % 100

    # --- identity ------------------------------------------------------------

    async def create_identity(self, pin: str) -> None:
        """Create a key under ``pin`` and open the session."""
        await self.session.create_identity(pin)
        self.has_identity = True
        await self._open_session()

    async def import_identity(self, private_key_hex: str, pin: str) -> None:
        """Import a key under ``pin`` and open the session."""
        await self.session.import_identity(private_key_hex, pin)
        self.has_identity = True
        await self._open_session()

    async def unlock(self, pin: str) -> None:
        """Unlock with ``pin`` and open the session; raises ``SessionError`` on a wrong PIN."""
        await self.session.unlock(pin)
        await self._open_session()

    async def _open_session(self) -> None:
        session = self.session
        self.friends_model = FriendListModel(tr.translator, session.public_key)
        self.connection_model = ConnectionModel(tr.translator)
        # Opening the cache is quick; the screen changes once it is open, so the
        # list never shows a session that cannot answer yet.
        try:
            await session.start()
            self.friends_model.replace_all(await session.friends())
        except SessionError as exc:
            await self.lock(describe_error(exc, tr.translator))
            return
        self.unlocked = True
        self._screen("friends").loading = True
        self._event_task = self.spawn(self._pump_events(session), "session.events")
        self.show_friends()

    async def _sync_friends(self, session: Session) -> None:
        # Runs each time the client comes online: the server's list has
        # presence and unread counts the cache may lack.
        try:
            friends = await session.refresh_friends()
        except SessionError as exc:
            _log.info("app.friends.refresh_failed", problem=exc.problem.value)
        else:
            if session is self.session:
                self.friends_model.replace_all(friends)
        finally:
            if session is self.session:
                self.is_admin = session.is_admin
                self._screen("friends").loading = False
                self._refresh_friends()

    async def _pump_events(self, session: Session) -> None:
        async for event in session.events():
            self.handle_event(event)

    def handle_event(self, event: Event) -> None:
        """Fan one client event out to the view models and redraw what changed."""
        friends_changed = self.friends_model.apply(event)
        if self.connection_model.apply(event):
            self._show_connection()
        chat = self._screen("chat")
        if chat.model is not None and self.manager and self.manager.current == "chat":
            if chat.model.apply(event):
                new_message = event.message if isinstance(event, NewMessage) else None
                # An own new message always scrolls into view; others only
                # when the newest message was in view already.
                chat.render(scroll_to_end=bool(new_message and new_message.outgoing))
                if new_message is not None and not new_message.outgoing:
                    self.mark_read_soon()
            if isinstance(event, FriendStatusChanged) and event.public_key == chat.peer:
                chat.peer_online = event.is_online
        if friends_changed:
            self._refresh_friends()
        if isinstance(event, ConnectionStateChanged):
            if event.state is ConnectionState.ONLINE:
                self.spawn(self._sync_friends(self.session), "session.sync")
            elif event.error:
                # The server cannot be reached, so the progress bar stops. The
                # status bar shows the reason and the list shows the cached rows.
                self._screen("friends").loading = False
        if isinstance(event, ForcedOffline):
            self.spawn(self._forced_offline(event.reason), "session.forced_offline")

    async def _forced_offline(self, reason: str) -> None:
        await self.lock(forced_offline_reason(reason, tr.translator))

    async def lock(self, reason: str = "", *, logout: bool = False) -> None:
        """Close the session and return to the PIN screen, showing ``reason``.

        Args:
            reason: shown above the PIN field.
            logout: also end the session on the server (the Log out button).
        """
        if self._event_task is not None:
            self._event_task.cancel()
            self._event_task = None
        if logout:
            await self.session.logout()
        else:
            await self.session.close()
        self.unlocked = False
        self.is_admin = False
        self.session = self._session_factory(self.settings)
        self.has_identity = self.session.has_identity
        self.friends_model = FriendListModel(tr.translator)
        self.connection_model = ConnectionModel(tr.translator)
        self._show_connection()
        unlock = self._screen("unlock")
        unlock.reason = reason
        if self.manager is not None:
            self.manager.current = "unlock" if self.has_identity else "welcome"

    def log_out(self) -> None:
        """Forget the unlocked key and ask for the PIN again."""
        self.spawn(self.lock(logout=True), "session.logout")

    # --- friends and chat ----------------------------------------------------

    async def add_friend(self, public_key: str, alias: str) -> None:
        """Add a contact and show it in the list."""
        friend = await self.session.add_friend(public_key, alias)
        self.friends_model.upsert(friend)
        self._refresh_friends()
        # The server's list reports whether the new friend is online.
        self.spawn(self._sync_friends(self.session), "friends.sync")

    def open_chat(self, peer: str) -> None:
        """Show the conversation with ``peer``."""
        self.friends_model.open_peer = peer
        chat = self._screen("chat")
        chat.open(peer)
        if self.manager is not None:
            self.manager.current = "chat"
        self._refresh_friends()

    async def send(self, peer: str, text: str) -> None:
        """Queue a message; the pending bubble comes back as an event.

        Sends are queued one at a time, so messages typed quickly keep their order.
        """
        async with self._send_lock:
            await self.session.send(peer, text)

    def mark_read_soon(self) -> None:
        """Mark the open conversation read, at most once per half second."""
        if self._mark_read_event is None:
            self._mark_read_event = Clock.create_trigger(self._mark_read, 0.5)
        self._mark_read_event()

    def _mark_read(self, _dt: float) -> None:
        chat = self._screen("chat")
        if chat.model is None or not self.unlocked or self.manager is None:
            return
        if self.manager.current != "chat" or chat.model.newest_seq == 0:
            return
        self.spawn(self.session.mark_read(chat.peer, chat.model.newest_seq), "chat.mark_read")

    def show_friends(self) -> None:
        """Show the conversation list."""
        self.friends_model.open_peer = None
        if self.manager is not None:
            self.manager.current = "friends"
        self._refresh_friends()

    def _refresh_friends(self) -> None:
        if self.manager is not None and self.unlocked:
            self._screen("friends").refresh()

    # --- identity popup, settings, admin --------------------------------------

    def show_identity(self) -> None:
        """Open the popup with the own key and its QR code."""
        IdentityPopup(public_key=self.session.public_key).open()

    def show_settings(self) -> None:
        """Open the settings screen; Back returns to where the user was."""
        if self.manager is None:
            return
        if self.manager.current != "settings":
            self._return_to = self.manager.current
        self.manager.current = "settings"

    def leave_settings(self) -> None:
        """Go back from the settings screen."""
        if self.manager is None:
            return
        target = self._return_to
        if not self.unlocked and target in ("friends", "chat", "admin"):
            target = "unlock" if self.has_identity else "welcome"
        self.manager.current = target

    def show_admin(self) -> None:
        """Open the admin panel."""
        if self.manager is not None and self.is_admin:
            self.manager.current = "admin"

    def set_language(self, language: str | None) -> None:
        """Switch the language at once; None follows the system. The choice is saved."""
        tr.translator.switch(language or detect_system_language())
        self.language = tr.language
        self.settings = AppSettings(
            language=language,
            grpc_target=self.settings.grpc_target,
            grpc_tls=self.settings.grpc_tls,
        )
        save_settings(self.data_dir, self.settings)
        # Rows built in Python carry translated words too.
        self._show_connection()
        self._refresh_friends()
        self._screen("chat").retranslate()

    async def set_server(self, target: str | None, tls: bool | None) -> bool:
        """Save the server settings; return whether the session had to be closed."""
        self.settings = AppSettings(
            language=self.settings.language, grpc_target=target, grpc_tls=tls
        )
        save_settings(self.data_dir, self.settings)
        was_unlocked = self.unlocked
        await self.session.close()
        self.unlocked = False
        self.session = self._session_factory(self.settings)
        self.has_identity = self.session.has_identity
        return bool(was_unlocked)

    def dismiss_broadcast(self) -> None:
        """Hide the broadcast banner."""
        self.connection_model.dismiss_broadcasts()
        self._show_connection()

    def _show_connection(self) -> None:
        status = self.connection_model.status()
        self.connection_kind = status.kind
        self.connection_text = status.text
        banner = self.connection_model.broadcast_banner()
        self.broadcast_text = banner.text if banner else ""

    def _screen(self, name: str) -> Any:
        assert self.manager is not None
        return self.manager.get_screen(name)


async def run_app(app: ChatViewApp) -> None:
    """Run ``app`` on the running asyncio loop until its window closes."""
    try:
        await app.async_run(async_lib="asyncio")
    finally:
        await app.session.close()
        _log.info("app.stopped", at=datetime.now(UTC).isoformat())
