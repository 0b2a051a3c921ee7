"""Text helpers never split a grapheme and always return valid text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chatview_kivy._text import (
    ELLIPSIS,
    chunk_for_display,
    escape_markup,
    graphemes,
    preview_text,
    replace_lone_surrogates,
    short_key,
    truncate_graphemes,
)

from .strategies import chat_text

FAMILY = "👨\u200d👩\u200d👧\u200d👦"


class TestTruncateGraphemes:
    def test_short_text_unchanged(self) -> None:
        """Text within the limit comes back as it was."""
        assert "你好👋" == truncate_graphemes("你好👋", 3)

    def test_cut_before_zwj_family(self) -> None:
        """A ZWJ family at the cut is dropped whole, never half-kept."""
        assert "a" * 19 + ELLIPSIS == truncate_graphemes("a" * 19 + FAMILY + "b", 20)

    def test_zwj_family_kept_whole(self) -> None:
        """A ZWJ family that fits stays intact, every joiner included."""
        assert "a" * 18 + FAMILY + ELLIPSIS == truncate_graphemes("a" * 18 + FAMILY + "bc", 20)

    def test_flag_not_split(self) -> None:
        """A flag's two regional indicators stay together."""
        result = truncate_graphemes("中" * 19 + "🇨🇳" + "!", 20)
        assert "中" * 19 + ELLIPSIS == result

    def test_combining_accent_stays(self) -> None:
        """An NFD accent stays with its letter."""
        assert "b" * 18 + "e\u0301" + ELLIPSIS == truncate_graphemes("b" * 18 + "e\u0301xy", 20)

    def test_cjk_counted_per_character(self) -> None:
        """Forty hanzi shortened to twenty clusters, the ellipsis included."""
        assert "文" * 19 + ELLIPSIS == truncate_graphemes("文" * 40, 20)

    def test_lone_surrogate_replaced(self) -> None:
        """A lone surrogate becomes U+FFFD, so the result encodes as UTF-8."""
        result = truncate_graphemes("bad \ud83d end", 20)
        assert "bad \ufffd end" == result

    def test_limit_below_one_refused(self) -> None:
        """A limit of zero is a caller error, named in the message."""
        with pytest.raises(ValueError, match=r"^limit must be at least 1, got 0$"):
            truncate_graphemes("x", 0)

    @given(text=chat_text, limit=st.integers(min_value=1, max_value=30))
    def test_prefix_of_whole_clusters(self, text: str, limit: int) -> None:
        """The result is whole clusters of the input, at most `limit` of them, valid UTF-8."""
        result = truncate_graphemes(text, limit)
        result.encode("utf-8")
        assert len(graphemes(result)) <= limit
        kept = result if result == text else result.removesuffix(ELLIPSIS)
        assert text.startswith(kept)
        assert graphemes(text)[: len(graphemes(kept))] == graphemes(kept)


class TestPreviewText:
    def test_one_line(self) -> None:
        """Line breaks and runs of spaces become single spaces."""
        assert "第一行 第二行" == preview_text("第一行\n\n  第二行\n")

    def test_mixed_cjk_emoji_cut(self) -> None:
        """A long mixed preview ends with an ellipsis after whole clusters."""
        result = preview_text("哈哈😂" * 20, 10)
        assert "哈哈😂哈哈😂哈哈😂" + ELLIPSIS == result


class TestChunkForDisplay:
    def test_short_text_one_piece(self) -> None:
        """A short message is one piece."""
        assert ["你好\n世界"] == chunk_for_display("你好\n世界")

    def test_many_lines_split(self) -> None:
        """A thousand lines become pieces of at most forty lines."""
        pieces = chunk_for_display("第x行\n" * 1000, max_lines=40)
        assert 25 == len(pieces)
        assert all(piece.count("\n") < 40 for piece in pieces)

    def test_long_line_split_on_clusters(self) -> None:
        """One line of 4000 emoji is cut into pieces of whole emoji."""
        pieces = chunk_for_display("😀" * 4000, max_chars=1500)
        assert [1500, 1500, 1000] == [len(p) for p in pieces]

    def test_trailing_newline_makes_no_empty_piece(self) -> None:
        """A trailing line break adds no piece with nothing to draw."""
        assert all(chunk_for_display("a\n" * 50, max_lines=10))

    @given(text=chat_text)
    def test_round_trip_without_long_lines(self, text: str) -> None:
        """Joined with newlines, the pieces give the text back (no line over the limit)."""
        pieces = chunk_for_display(text, max_lines=3, max_chars=1000)
        assert text.rstrip("\n") == "\n".join(pieces).rstrip("\n")


class TestSmallHelpers:
    def test_short_key(self) -> None:
        """A hex key shows its first eight and last four digits."""
        key = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        assert "d75a9801…511a" == short_key(key)

    def test_escape_markup(self) -> None:
        """Kivy markup characters in user text are escaped."""
        assert "&bl;b&br;x&amp;y&bl;/b&br;" == escape_markup("[b]x&y[/b]")

    def test_replace_lone_surrogates_keeps_pairs(self) -> None:
        """Only unpaired surrogates are replaced; real emoji pass."""
        assert "😀\ufffd" == replace_lone_surrogates("😀\udc00")
