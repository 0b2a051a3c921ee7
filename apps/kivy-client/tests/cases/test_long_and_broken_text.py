"""Text the window could show blank, cut badly, or leave unsendable: a label past the
GPU texture limit, previews cut through an emoji, and a composer left holding half a
ZWJ sequence after Backspace.

Long messages are split into label-sized pieces; previews are cut on grapheme
clusters with an ellipsis; what Backspace leaves is still valid, sendable text. The
window itself is exercised by ``tests/test_gui.py`` (long bubbles' textures, the
emoji and CJK glyph checks, the soft keyboard and narrow window).
"""

from __future__ import annotations

import pytest
import regex

from chatview_kivy._text import ELLIPSIS, chunk_for_display, preview_text

FAMILY = "👨\u200d👩\u200d👧\u200d👦"
PREVIEW = 20
LAST_MESSAGES = ["a" * 19 + FAMILY, "中" * 19 + "🇨🇳", "b" * 19 + "e\u0301", "文" * 40]


def clusters(text: str) -> list[str]:
    return list(regex.findall(r"\X", text))


class TestLongMessagesVisible:
    @pytest.mark.parametrize("text", ["中" * 4000, "第x行\n" * 1000, "😀" * 4000])
    def test_split_into_drawable_pieces(self, text: str) -> None:
        """Each piece stays far below the ~1000 lines and texture size that go blank."""
        pieces = chunk_for_display(text)

        assert all(piece.count("\n") < 40 for piece in pieces)
        assert all(len(clusters(piece)) <= 1500 for piece in pieces)
        assert text.replace("\n", "") == "".join(pieces).replace("\n", "")


class TestPreviewCut:
    @pytest.mark.parametrize("text", LAST_MESSAGES)
    def test_preview_keeps_whole_graphemes(self, text: str) -> None:
        """A preview is a prefix of whole clusters plus an ellipsis, with no new U+FFFD."""
        preview = preview_text(text, PREVIEW)

        kept = preview.removesuffix(ELLIPSIS)
        assert "\ufffd" not in preview
        assert clusters(text)[: len(clusters(kept))] == clusters(kept)
        assert len(clusters(preview)) <= PREVIEW
        preview.encode("utf-8")


class TestBackspaceAfterZwj:
    def test_what_backspace_leaves_is_sendable(self) -> None:
        """Deleting the last code point of a ZWJ family leaves valid text that sends."""
        composer = "好的" + "👨\u200d👩\u200d👧"

        after = composer[:-1]  # Kivy's TextInput deletes one code point

        # What the client library checks before queueing: encodable, not blank.
        assert after == after.encode("utf-8").decode("utf-8")
        assert after.strip()
        assert "好的👨\u200d👩\u200d" == after
