"""Drive the real ChatView window through one scenario; run in its own process.

Usage::

    python gui_driver.py SCENARIO --data-dir DIR --out-dir DIR [--server HOST:PORT]

The test suite starts this under Xvfb (see ``test_gui.py``). It builds the app
as ``chatview-kivy`` does, runs it on asyncio, and plays the scenario beside
it: taps go through Kivy's touch dispatch, typing through the window's text
events, so widgets see what a person would do. Findings go to
``OUT/result.json``; screenshots to ``OUT/*.png``. Kivy runs one app per
process, hence one process per scenario.
"""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import json
import os
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("KIVY_NO_ARGS", "1")
os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")

from kivy.core.text import Label as CoreLabel
from kivy.core.window import Window
from kivy.tests.common import UnitTestTouch
from kivy.uix.label import Label
from kivy.uix.widget import Widget

from chatview_kivy._app import ChatViewApp, run_app
from chatview_kivy._launch import build_app
from chatview_kivy._widgets import tr

PIN = "2580"
TOFU = "\U0010fffd"  # a private-use code point no font has a glyph for


class StallMonitor:
    """Measures the longest time the shared Kivy and asyncio thread was blocked.

    It sleeps 10 ms at a time on the same loop that draws the window; when
    something blocks the thread (Argon2 run inline, a huge texture), the
    sleep overruns by that long.
    """

    def __init__(self, flag: Callable[[], bool] = lambda: False) -> None:
        self.longest = 0.0
        self.flag_seen = False
        self.ticks_while_flag = 0
        self._flag = flag
        self._task: asyncio.Task[None] | None = None

    async def _watch(self) -> None:
        while True:
            before = time.monotonic()
            flag = self._flag()
            self.flag_seen = self.flag_seen or flag
            await asyncio.sleep(0.01)
            if flag:
                self.ticks_while_flag += 1
            self.longest = max(self.longest, time.monotonic() - before - 0.01)

    def __enter__(self) -> StallMonitor:
        self._task = asyncio.get_running_loop().create_task(self._watch())
        return self

    def __exit__(self, *_exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


class Driver:
    """Acts on the running app like a person with a mouse and a keyboard."""

    def __init__(self, app: ChatViewApp, out_dir: Path, server: str | None = None) -> None:
        self.app = app
        self.out_dir = out_dir
        self.server = server
        self.result: dict[str, Any] = {"checks": {}, "screenshots": []}

    def check(self, name: str, value: Any) -> None:
        """Record one finding for the test to assert on."""
        self.result["checks"][name] = value

    async def frames(self, count: int = 2) -> None:
        """Let Kivy draw ``count`` frames."""
        for _ in range(count):
            await asyncio.sleep(1 / 30)

    async def until(
        self,
        condition: Callable[[], bool],
        what: str,
        timeout: float = 30,  # noqa: ASYNC109 - a polling helper; the deadline is its argument
    ) -> float:
        """Wait until ``condition`` holds; return the seconds it took."""
        start = time.monotonic()
        while not condition():
            if time.monotonic() - start > timeout:
                msg = f"timed out after {timeout} s waiting for {what}"
                raise TimeoutError(msg)
            await asyncio.sleep(0.05)
        return time.monotonic() - start

    def screen(self, name: str) -> Any:
        assert self.app.manager is not None
        return self.app.manager.get_screen(name)

    @property
    def current(self) -> str:
        return self.app.manager.current if self.app.manager is not None else ""

    async def tap(self, widget: Widget) -> None:
        """Press and release at the widget's centre, through the window."""
        await self.frames(1)
        x, y = widget.to_window(*widget.center)
        touch = UnitTestTouch(x, y)
        touch.touch_down()
        await self.frames(1)
        touch.touch_up()
        await self.frames(2)

    async def type_text(self, field: Widget, text: str) -> None:
        """Focus ``field`` by tapping it (unless focused) and type ``text`` as key input."""
        if not field.focus:
            await self.tap(field)
            await self.until(lambda: bool(field.focus), "text field focus", 5)
        for char in text:
            Window.dispatch("on_textinput", char)
        await self.frames(1)

    async def key(self, keycode: int, modifiers: list[str] | None = None) -> None:
        """Press and release one key (13 is Enter)."""
        Window.dispatch("on_key_down", keycode, 0, None, modifiers or [])
        Window.dispatch("on_key_up", keycode, 0)
        await self.frames(2)

    async def shot(self, name: str) -> Path:
        """Save a screenshot of the window as ``OUT/name.png``."""
        await self.frames(3)
        saved = Path(Window.screenshot(name=str(self.out_dir / f"{name}.png")))
        target = self.out_dir / f"{name}.png"
        saved.replace(target)  # noqa: ASYNC240 - a local rename between frames
        self.result["screenshots"].append(str(target))
        return target


# --- glyph checks ----------------------------------------------------------


def _render(text: str, font_name: str, font_size: float) -> bytes:
    label = CoreLabel(text=text, font_name=font_name, font_size=font_size)
    label.refresh()
    return bytes(label.texture.pixels)


def tofu_report(texts: list[str], font_name: str) -> dict[str, Any]:
    """Render every distinct CJK character of ``texts`` alone and compare bitmaps.

    A character without a glyph renders as the font's .notdef box: the same
    bitmap for all of them and the same as a code point no font has. So each
    character must differ from that box, and distinct characters from each
    other.
    """
    chars = sorted({c for text in texts for c in text if "\u3000" <= c <= "\u9fff" or c > "\uffff"})
    tofu = _render(TOFU, font_name, 24)
    bitmaps = {c: _render(c, font_name, 24) for c in chars}
    return {
        "chars": len(chars),
        "like_tofu": [c for c, bitmap in bitmaps.items() if bitmap == tofu],
        "distinct_bitmaps": len(set(bitmaps.values())),
    }


def visible_texts(root: Widget) -> list[str]:
    """Return the text of every label under ``root`` (buttons included)."""
    texts: list[str] = []
    for widget in root.walk():
        if isinstance(widget, Label) and widget.text and widget.opacity > 0:
            texts.append(widget.text)
    return texts


# --- scenarios -------------------------------------------------------------


async def scenario_first_start(d: Driver) -> None:
    """Empty data dir: create an identity, reach friends, switch to Chinese."""
    await d.until(lambda: d.current in ("welcome", "unlock"), "first screen")
    d.check("first_screen", d.current)
    welcome = d.screen("welcome")
    await d.shot("welcome_en")

    # Two different PINs are refused with a message.
    await d.type_text(welcome.ids.new_pin, PIN)
    await d.type_text(welcome.ids.new_pin_again, PIN + "9")
    await d.tap(welcome.ids.create_button)
    d.check("mismatch_error", welcome.error)
    d.check("screen_after_mismatch", d.current)

    # The right PIN twice creates the key; frames keep coming while Argon2 runs.
    welcome.ids.new_pin_again.text = ""
    await d.type_text(welcome.ids.new_pin_again, PIN)
    with StallMonitor(lambda: bool(welcome.busy)) as stalls:
        start = time.monotonic()
        await d.tap(welcome.ids.create_button)
        await d.until(lambda: d.current != "welcome", "leaving the welcome screen", 60)
    d.check("create_seconds", round(time.monotonic() - start, 2))
    d.check("busy_seen", stalls.flag_seen)
    d.check("ticks_while_busy", stalls.ticks_while_flag)
    d.check("longest_stall_while_creating", round(stalls.longest, 3))
    d.check("screen_after_create", d.current)
    d.check("public_key", d.app.session.public_key)
    await d.shot("friends_en")

    # Settings: switch to Chinese; it applies at once and is stored.
    friends = d.screen("friends")
    await d.tap(friends.ids.settings_button)
    await d.until(lambda: d.current == "settings", "settings screen")
    settings = d.screen("settings")
    await d.tap(settings.ids.lang_zh_CN)
    await d.frames(3)
    d.check("language_after_switch", tr.language)
    d.check("settings_back_label", settings.ids.back_button.text)
    await d.shot("settings_zh")
    stored = json.loads((d.app.data_dir / "kivy-settings.json").read_text(encoding="utf-8"))
    d.check("stored_language", stored.get("language"))
    await d.tap(settings.ids.back_button)
    await d.until(lambda: d.current == "friends", "back to friends")
    d.check("friends_title_zh", friends.ids.title.text)
    await d.shot("friends_zh")
    d.check("friends_glyphs", tofu_report(visible_texts(friends), "Roboto"))

    # Own key: text, QR code, copy.
    await d.tap(friends.ids.my_key_button)
    await d.frames(5)
    popup = next(w for w in Window.children if type(w).__name__ == "IdentityPopup")
    qr = popup.ids.qr
    d.check("qr_texture_size", list(qr.texture.size) if qr.texture else None)
    await d.shot("identity_zh")
    await d.tap(popup.ids.copy_button)
    from kivy.core.clipboard import Clipboard

    d.check("clipboard_is_key", Clipboard.paste() == d.app.session.public_key)
    d.check("identity_glyphs", tofu_report(visible_texts(popup), "Roboto"))
    await d.tap(popup.ids.close_button)
    await d.frames(3)

    await scenario_offline_chat(d)


async def scenario_offline_chat(d: Driver) -> None:
    """Offline: write to a key, see the pending bubble; keyboard and resize checks."""
    peer = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    d.app.open_chat(peer)
    await d.until(lambda: d.current == "chat", "chat screen")
    chat = d.screen("chat")
    composer = chat.ids.composer
    await d.type_text(composer, "第一行")
    await d.key(13, ["shift"])
    await d.type_text(composer, "second line 😀")
    d.check("composer_after_shift_enter", composer.text)
    await d.key(13)
    await d.until(lambda: len(chat.ids.messages.children) == 1, "pending bubble", 10)
    bubble = chat.ids.messages.children[0]
    d.check("composer_after_enter", composer.text)
    d.check("bubble_pieces", list(bubble.pieces))
    d.check("bubble_own", bool(bubble.own))
    d.check("bubble_status", bubble.status)
    d.check("bubble_right_aligned", bubble.right > chat.width * 0.9)
    await d.shot("chat_pending_zh")

    # Chinese, rare hanzi and emoji in bubbles (cases C19, C20).
    samples = [
        "你好，世界！們這個杀艳㑇",
        "（全角括号）【】《》……——",
        "繁體字測試 𠮷",
        "好的👍 👍🏻 👨‍👩‍👧 🇨🇳 ❤️",
        "哈哈😂😂😂",
    ]
    for sample in samples:
        await d.type_text(composer, sample)
        await d.key(13)
    try:
        await d.until(lambda: len(chat.ids.messages.children) == 1 + len(samples), "samples")
    finally:
        d.check("notice_after_samples", chat.notice)
        d.check("composer_after_samples", composer.text)
    d.check("sample_bubbles", [list(b.pieces) for b in reversed(chat.ids.messages.children)][1:])
    d.check("emoji_glyphs", tofu_report(["👍😂❤👨👩👧"], "ChatViewEmoji"))
    d.check("rare_glyphs", tofu_report(["𠮷㑇"], "Roboto"))
    await d.shot("chat_samples_zh")

    # Very long messages stay visible: split into label-sized pieces (case C17).
    with StallMonitor() as stalls:
        for long_text in ("中" * 4000, "第x行\n" * 1000):
            started = time.monotonic()
            chat.ids.composer.text = long_text
            await d.key(13)
            count = len(samples) + 2 + int(long_text.startswith("第"))

            def arrived(expected: int = count) -> bool:
                return len(chat.ids.messages.children) == expected

            await d.until(arrived, "long bubble")
            d.check(f"long_{long_text[0]}_seconds", round(time.monotonic() - started, 2))
    d.check("longest_stall_with_long_messages", round(stalls.longest, 3))
    await d.frames(5)
    long_bubbles = list(chat.ids.messages.children)[:2]
    d.check("long_pieces", [len(b.pieces) for b in long_bubbles])
    d.check(
        "long_label_textures",
        [
            [list(label.texture.size) if label.texture else None for label in b._labels]
            for b in long_bubbles
        ],
    )
    await d.shot("chat_long_zh")

    # A soft keyboard 360 px high: the composer must stay above it.
    await d.tap(composer)
    Window._kheight = 360
    await d.frames(5)
    shift = Window.render_context["modelview_mat"].get()[13]
    _x, bottom = composer.to_window(composer.x, composer.y)
    d.check("softinput_mode", Window.softinput_mode)
    d.check("keyboard_shift", shift)
    d.check("composer_bottom_on_screen", bottom + shift)
    await d.shot("chat_keyboard_zh")
    Window._kheight = 0
    await d.frames(5)
    d.check("shift_after_keyboard_hidden", Window.render_context["modelview_mat"].get()[13])

    # A narrow portrait window: the send button stays inside it.
    original = tuple(Window.size)
    Window.size = (360, 640)
    await d.frames(10)
    send = chat.ids.send_button
    d.check("narrow_window", list(Window.size))
    d.check("send_button_right", send.to_window(send.right, send.y)[0])
    await d.shot("chat_narrow_zh")
    Window.size = original
    await d.frames(10)

    # Rotation and resizes with the list at its end: it stays at its end, the send
    # button stays inside the window, and the window comes back to its size.
    chat.ids.scroll.scroll_y = 0
    await d.frames(5)
    layouts = []
    for size in ((800, 1280), (360, 640), (1920, 1080), original):
        Window.size = size
        await d.frames(10)
        layouts.append(
            {
                "size": list(Window.size),
                "scroll_y": round(chat.ids.scroll.scroll_y, 3),
                "send_right": send.to_window(send.right, send.y)[0],
                "composer_bottom": composer.to_window(composer.x, composer.y)[1],
            }
        )
    d.check("resize_layouts", layouts)
    d.check("window_size", list(original))


async def scenario_unlock(d: Driver) -> None:
    """Second start: a wrong PIN is refused and can be retried; the language stuck."""
    await d.until(lambda: d.current in ("welcome", "unlock"), "first screen")
    d.check("first_screen", d.current)
    d.check("language_at_start", tr.language)
    unlock = d.screen("unlock")
    await d.type_text(unlock.ids.pin, "0000")
    await d.key(13)
    await d.until(lambda: bool(unlock.error), "wrong PIN message", 60)
    d.check("wrong_pin_error", unlock.error)
    d.check("screen_after_wrong_pin", d.current)
    d.check("pin_cleared", unlock.ids.pin.text == "")
    await d.shot("unlock_wrong_pin_zh")
    d.check("unlock_glyphs", tofu_report(visible_texts(unlock), "Roboto"))
    await d.type_text(unlock.ids.pin, PIN)
    await d.tap(unlock.ids.unlock_button)
    await d.until(lambda: d.current == "friends", "friends after unlock", 60)
    d.check("screen_after_unlock", d.current)
    # The pending message of the first run is still queued.
    d.app.open_chat("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    chat = d.screen("chat")
    await d.until(lambda: len(chat.ids.messages.children) >= 1, "queued message", 10)
    d.check("queued_after_restart", [b.status for b in chat.ids.messages.children])


ADMIN_SEED = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
"""RFC 8032 test 1 private key; its public key is the server's admin in this scenario."""


async def create_identity(d: Driver) -> None:
    """Type a PIN twice on the welcome screen and wait for the conversation list."""
    await d.until(lambda: d.current == "welcome", "welcome screen")
    welcome = d.screen("welcome")
    await d.type_text(welcome.ids.new_pin, PIN)
    await d.type_text(welcome.ids.new_pin_again, PIN)
    await d.tap(welcome.ids.create_button)
    await d.until(lambda: d.current == "friends", "friends screen", 60)


async def start_bob(data_dir: Path, server: str) -> Any:
    """Open a headless client (Bob, the admin) with the client library."""
    from chatview_client import ChatClient, ClientConfig, IdentityStore

    config = ClientConfig(data_dir=data_dir, grpc_target=server)
    keypair = await IdentityStore.for_config(config).import_key(PIN, ADMIN_SEED)
    bob = ChatClient(config, keypair)
    await bob.open()
    await bob.wait_online(timeout=30)
    return bob


def row_data(d: Driver, key: str) -> dict[str, Any] | None:
    """Return the conversation list's data for ``key``, if listed."""
    for data in d.screen("friends").ids.list.data:
        if data["public_key"] == key:
            return dict(data)
    return None


async def scenario_server_chat(d: Driver) -> None:
    """Against a real server: Bob writes, Alice (the window) reads, replies, is banned."""
    assert d.server is not None
    d.app.set_language("zh_CN")
    await create_identity(d)
    alice = d.app.session.public_key
    await d.until(lambda: d.app.connection_kind == "online", "online", 60)
    d.check("status_online", d.app.connection_text)

    bob = await start_bob(d.out_dir / "bob", d.server)
    bob_events: list[Any] = []
    stream = bob.events()

    async def collect() -> None:
        async for event in stream:
            bob_events.append(event)

    collector = asyncio.ensure_future(collect())
    try:
        await _server_chat_steps(d, bob, alice, bob_events)
    finally:
        collector.cancel()
        await bob.close()


async def _server_chat_steps(d: Driver, bob: Any, alice: str, bob_events: list[Any]) -> None:
    from chatview_client import NewMessage

    bob_key = bob.public_key
    await bob.add_friend(alice, "Alice")
    greeting = "你好 Alice 👋 👨‍👩‍👧 第35条"
    for number in range(1, 35):
        await bob.send_message(alice, f"旧消息 {number}")
    await bob.send_message(alice, greeting)
    await d.until(lambda: not bob.outbox(), "Bob's outbox to drain", 60)

    # The stranger who wrote is listed, with an unread badge and a preview.
    await d.until(lambda: (row_data(d, bob_key) or {}).get("badge") == "35", "badge 35", 30)
    row = row_data(d, bob_key)
    assert row is not None
    d.check("stranger_row", {k: row[k] for k in ("title", "subtitle", "badge", "preview")})
    await d.shot("server_friends_unread_zh")

    # Open it: the newest page shows, scrolling up loads the rest.
    views = d.screen("friends").ids.list.children[0].children
    view = next(v for v in views if v.public_key == bob_key)
    await d.tap(view)
    chat = d.screen("chat")
    await d.until(lambda: d.current == "chat" and len(chat.ids.messages.children) >= 30, "page")
    d.check("first_page_bubbles", len(chat.ids.messages.children))
    d.check("newest_bubble", list(chat.ids.messages.children[0].pieces))
    d.check("newest_bubble_own", bool(chat.ids.messages.children[0].own))
    chat.ids.scroll.scroll_y = 1
    await d.until(lambda: len(chat.ids.messages.children) == 35, "older page", 20)
    d.check("bubbles_after_scroll_up", len(chat.ids.messages.children))
    d.check("oldest_bubble", list(chat.ids.messages.children[-1].pieces))

    # Shown means read: the badge goes and the server's cursor moves.
    await d.until(
        lambda: (d.app.friends_model.get(bob_key) or object()).unread == 0,  # type: ignore[attr-defined]
        "unread 0",
        20,
    )
    d.check("unread_after_open", d.app.friends_model.get(bob_key).unread)  # type: ignore[union-attr]

    # Reply with Enter; the bubble goes from sending to sent; Bob gets the same bytes.
    reply = "收到 😀 see you 明天见"
    await d.type_text(chat.ids.composer, reply)
    await d.key(13)
    await d.until(lambda: chat.ids.messages.children[0].status == tr._("Sent"), "sent", 30)
    d.check("reply_status", chat.ids.messages.children[0].status)
    await d.until(
        lambda: any(isinstance(e, NewMessage) and e.message.text == reply for e in bob_events),
        "Bob to receive the reply",
        30,
    )
    d.check("bob_received_reply", True)
    chat.ids.scroll.scroll_y = 0
    await d.shot("server_chat_zh")

    # Add Bob as a friend through the popup.
    await d.tap(chat.ids.back_button)
    friends = d.screen("friends")
    await d.tap(friends.ids.add_friend_button)
    await d.frames(5)
    popup = next(w for w in Window.children if type(w).__name__ == "AddFriendPopup")
    await d.type_text(popup.ids.key, bob_key)
    await d.type_text(popup.ids.alias, "鲍勃 Bob")
    await d.tap(popup.ids.add_button)
    await d.until(lambda: (row_data(d, bob_key) or {}).get("title") == "鲍勃 Bob", "alias", 20)
    d.check("friend_row", {k: row_data(d, bob_key)[k] for k in ("title", "subtitle", "badge")})  # type: ignore[index]

    # A broadcast shows as a banner.
    notice = "系统维护通知：今晚 23:00–23:30 服务暂停"
    await bob.broadcast(notice)
    await d.until(lambda: notice in d.app.broadcast_text, "broadcast banner", 20)
    d.check("broadcast_banner", d.app.broadcast_text)
    await d.shot("server_broadcast_zh")

    # Banned: back to the PIN screen with the reason.
    await bob.ban(alice)
    await d.until(lambda: d.current == "unlock", "forced offline", 30)
    d.check("forced_offline_reason", d.screen("unlock").reason)
    await d.shot("server_banned_zh")


SCENARIOS: dict[str, Callable[[Driver], Awaitable[None]]] = {
    "first_start": scenario_first_start,
    "server_chat": scenario_server_chat,
    "unlock": scenario_unlock,
}


async def _run(
    scenario: str, app: ChatViewApp, out_dir: Path, server: str | None
) -> dict[str, Any]:
    driver = Driver(app, out_dir, server)

    async def play() -> None:
        try:
            await driver.until(lambda: app.manager is not None, "the window", 60)
            await driver.frames(5)
            await SCENARIOS[scenario](driver)
        except Exception:
            driver.result["error"] = traceback.format_exc()
        finally:
            app.stop()

    player = asyncio.ensure_future(play())
    await run_app(app)
    await player
    return driver.result


def main() -> int:
    # A hang prints every thread's stack and ends the process, for the test to show.
    faulthandler.dump_traceback_later(240, exit=True)
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--server")
    args = parser.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)

    Window.size = (1280, 800)
    app = build_app(data_dir=args.data_dir, server=args.server)
    result = asyncio.run(_run(args.scenario, app, args.out_dir, args.server))
    (args.out_dir / "result.json").write_text(
        json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8"
    )
    return 1 if "error" in result else 0


if __name__ == "__main__":
    sys.exit(main())
