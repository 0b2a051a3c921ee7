"""The real Kivy window under Xvfb, driven like a person would (see gui_driver.py).

Each scenario runs in its own process (Kivy allows one app per process) on an
Xvfb display these tests start and stop themselves. Set
``CHATVIEW_SCREENSHOT_DIR`` to keep the screenshots; otherwise they live in
pytest's temporary directory.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chatview_kivy._i18n import Translator

DRIVER = Path(__file__).with_name("gui_driver.py")
ADMIN_KEY = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
ZH = Translator("zh_CN")


@pytest.fixture(name="display", scope="module")
def fixture_display() -> Iterator[str]:
    """Start a private Xvfb display and stop it after the module."""
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        pytest.skip("Xvfb is not installed (Debian: apt-get install xvfb); no window to test")
    read_end, write_end = os.pipe()
    process = subprocess.Popen(
        [xvfb, "-displayfd", str(write_end), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
        pass_fds=(write_end,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    try:
        with os.fdopen(read_end) as pipe:
            number = pipe.readline().strip()
        assert number, "Xvfb did not report a display number"
        yield f":{number}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def run_scenario(
    display: str, scenario: str, data_dir: Path, out_dir: Path, server: str | None = None
) -> dict[str, Any]:
    """Run one driver scenario and return its findings."""
    out_dir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "DISPLAY": display,
        "KIVY_HOME": str(out_dir / "kivy-home"),
        "LANG": "en_US.UTF-8",
        "LANGUAGE": "",
        "LC_ALL": "",
    }
    command = [
        sys.executable,
        str(DRIVER),
        scenario,
        "--data-dir",
        str(data_dir),
        "--out-dir",
        str(out_dir),
    ]
    if server is not None:
        command += ["--server", server]
    # Output goes to a file, not a pipe: the xclip helper that holds a copied
    # text outlives the driver and would keep a pipe open until Xvfb stops.
    log = out_dir / "driver.log"
    with log.open("wb") as sink:
        done = subprocess.run(
            command, env=env, stdout=sink, stderr=subprocess.STDOUT, timeout=280, check=False
        )
    result_file = out_dir / "result.json"
    if not result_file.exists():
        tail = log.read_text(encoding="utf-8", errors="replace")[-4000:]
        pytest.fail(f"driver wrote no result (exit {done.returncode}):\n{tail}")
    result: dict[str, Any] = json.loads(result_file.read_text(encoding="utf-8"))
    keep = os.environ.get("CHATVIEW_SCREENSHOT_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        for shot in result["screenshots"]:
            shutil.copy(shot, keep)
    assert "error" not in result, result.get("error")
    return result


class TestWindow:
    def test_first_start_and_unlock(self, display: str, tmp_path: Path) -> None:
        """Create an identity, switch to Chinese, write offline; restart and unlock."""
        data = tmp_path / "data"
        first = run_scenario(display, "first_start", data, tmp_path / "first")["checks"]

        # Identity creation: PIN twice, refused when they differ, no frozen window.
        assert "welcome" == first["first_screen"]
        assert "The two PINs differ. Type the same PIN twice." == first["mismatch_error"]
        assert "friends" == first["screen_after_create"]
        assert first["busy_seen"]
        # Argon2 run inline would block the loop for the whole derivation, leaving at
        # most one tick of the 10 ms watcher; stall lengths depend on machine load.
        assert first["ticks_while_busy"] >= 3
        assert 64 == len(first["public_key"])

        # The language switch applies at once, is stored, and renders without boxes.
        assert ("zh_CN", "zh_CN") == (first["language_after_switch"], first["stored_language"])
        assert (ZH._("Back"), ZH._("Conversations")) == (
            first["settings_back_label"],
            first["friends_title_zh"],
        )
        for report in ("friends_glyphs", "identity_glyphs", "rare_glyphs", "emoji_glyphs"):
            assert [] == first[report]["like_tofu"], report
            assert first[report]["chars"] == first[report]["distinct_bitmaps"], report
        assert first["friends_glyphs"]["chars"] > 5

        # Own key: QR texture and clipboard.
        assert first["qr_texture_size"][0] > 100
        assert first["clipboard_is_key"]

        # Composer: Shift+Enter is a new line, Enter sends; the bubble is pending.
        assert "第一行\nsecond line 😀" == first["composer_after_shift_enter"]
        assert "" == first["composer_after_enter"]
        assert ["第一行\nsecond line 😀"] == first["bubble_pieces"]
        assert (True, True) == (first["bubble_own"], first["bubble_right_aligned"])
        assert ZH._("Sending…") == first["bubble_status"]
        assert [["好的👍 👍🏻 👨\u200d👩\u200d👧 🇨🇳 ❤️"]] == first["sample_bubbles"][3:4]

        # Very long messages are split into visible pieces without freezing.
        assert first["long_pieces"][0] >= 25
        assert first["long_pieces"][1] >= 3
        for textures in first["long_label_textures"]:
            assert all(size is not None and 0 < size[1] < 16384 for size in textures)
        # A generous bound: a busy CI machine stretches stalls, a frozen window is seconds.
        assert first["longest_stall_with_long_messages"] < 3.0

        # Soft keyboard: the composer sits on top of it, and the window comes back.
        assert "below_target" == first["softinput_mode"]
        assert first["composer_bottom_on_screen"] >= 360
        assert 0 == first["shift_after_keyboard_hidden"]
        assert first["send_button_right"] <= first["narrow_window"][0]
        # Rotating and resizing reflows the chat and keeps the list at its end.
        for layout in first["resize_layouts"]:
            assert layout["send_right"] <= layout["size"][0], layout
            assert layout["composer_bottom"] >= 0, layout
            assert layout["scroll_y"] <= 0.01, layout
        assert first["window_size"] == first["resize_layouts"][-1]["size"]

        # Second start: wrong PIN, retry, queued messages kept.
        second = run_scenario(display, "unlock", data, tmp_path / "second")["checks"]
        assert ("unlock", "zh_CN") == (second["first_screen"], second["language_at_start"])
        assert ZH._("Wrong PIN. Try again.") == second["wrong_pin_error"]
        assert ("unlock", True) == (second["screen_after_wrong_pin"], second["pin_cleared"])
        assert [] == second["unlock_glyphs"]["like_tofu"]
        assert "friends" == second["screen_after_unlock"]
        assert 8 == len(second["queued_after_restart"])
        assert {ZH._("Sending…")} == set(second["queued_after_restart"])

    def test_chat_with_server(self, display: str, tmp_path: Path) -> None:
        """Bob (client library) and Alice (the window) talk through a real server."""
        testing = pytest.importorskip("chatview_server.testing")
        with testing.ServerProcess(config={"admin_pub_key": ADMIN_KEY}) as server:
            checks = run_scenario(
                display, "server_chat", tmp_path / "data", tmp_path / "out", server.address
            )["checks"]

        assert ZH._("Online") == checks["status_online"]
        assert {
            "title": "d75a9801…511a",
            "subtitle": ZH._("Not in your friends"),
            "badge": "35",
            "preview": "你好 Alice 👋 👨\u200d👩\u200d👧 第35条",
        } == checks["stranger_row"]
        assert 30 == checks["first_page_bubbles"]
        assert (["你好 Alice 👋 👨\u200d👩\u200d👧 第35条"], False) == (
            checks["newest_bubble"],
            checks["newest_bubble_own"],
        )
        assert (35, ["旧消息 1"]) == (checks["bubbles_after_scroll_up"], checks["oldest_bubble"])
        assert 0 == checks["unread_after_open"]
        assert (ZH._("Sent"), True) == (checks["reply_status"], checks["bob_received_reply"])
        assert {"title": "鲍勃 Bob", "subtitle": "d75a9801…511a", "badge": ""} == checks[
            "friend_row"
        ]
        assert "公告：系统维护通知：今晚 23:00–23:30 服务暂停" == checks["broadcast_banner"]
        assert ZH._("An administrator has banned this account.") == checks["forced_offline_reason"]
