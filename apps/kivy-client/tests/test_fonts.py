"""The bundled font covers Chinese; the chain picks a face per character (C19, C20)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fontTools.fontBuilder import FontBuilder
from fontTools.pens.ttGlyphPen import TTGlyphPen
from fontTools.ttLib import TTFont
from fontTools.ttLib.tables.DefaultTable import DefaultTable

from chatview_kivy._catalog import po_path, read_catalog
from chatview_kivy._fonts import BUNDLED_FONT, FontChain, FontFace, discover_font_chain

PRIMARY = FontFace.load("ChatViewSans", BUNDLED_FONT)

# Strings from real chats that have shown as boxes in Kivy apps.
C19_STRINGS = (
    "你好，世界！",
    "們這個",
    "杀艳㑇",
    "（全角括号）【】《》……——",
    "Hello 中文 123",
    "繁體字測試",
    "𠮷",
)


def _gb2312_level1() -> list[str]:
    # Level 1 hanzi: rows 0xB0 to 0xD7 (3755 characters).
    chars = []
    for lead in range(0xB0, 0xD8):
        for trail in range(0xA1, 0xFF):
            try:
                chars.append(bytes((lead, trail)).decode("gb2312"))
            except UnicodeDecodeError:
                continue
    return chars


def _face(name: str, chars: str) -> FontFace:
    return FontFace(
        name=name, path=Path(f"/fonts/{name}.ttf"), codepoints=frozenset(map(ord, chars))
    )


class TestBundledFont:
    def test_gb2312_level1_covered(self) -> None:
        """All 3755 level-1 hanzi of GB 2312 have glyphs; misses are listed."""
        chars = _gb2312_level1()
        assert 3755 == len(chars)
        assert [] == [c for c in chars if not PRIMARY.has(c)]

    @pytest.mark.parametrize("text", C19_STRINGS)
    def test_case_strings_covered(self, text: str) -> None:
        """Traditional, rare, Extension B and full-width text has glyphs."""
        assert [] == [c for c in text if not c.isspace() and not PRIMARY.has(c)]

    def test_every_translation_covered(self) -> None:
        """Every character of the Chinese catalog draws with the bundled font."""
        catalog = read_catalog(po_path("zh_CN"))
        text = "".join(str(m.string) for m in catalog if m.id)
        assert [] == sorted({c for c in text if not c.isspace() and not PRIMARY.has(c)})

    def test_license_shipped(self) -> None:
        """The OFL text travels with the font."""
        license_text = (BUNDLED_FONT.parent / "OFL.txt").read_text(encoding="utf-8")
        assert "SIL OPEN FONT LICENSE Version 1.1" in license_text

    def test_renamed(self) -> None:
        """The subset carries its own family name, as the OFL asks of modified fonts."""
        with TTFont(BUNDLED_FONT, lazy=True) as font:
            assert "ChatView Sans SC" == font["name"].getDebugName(1)


class TestFontChain:
    def test_primary_text_plain(self) -> None:
        """Text the primary face has needs no markup, only escaping."""
        chain = FontChain(primary=_face("P", "ab中[]"))
        assert "ab中&bl;&br;" == chain.markup("ab中[]")

    def test_fallback_run(self) -> None:
        """A run the primary lacks is wrapped in the first fallback that has it."""
        chain = FontChain(primary=_face("P", "好的 "), fallbacks=(_face("E", "👍😀"),))
        assert "好的 [font=E]👍😀[/font]" == chain.markup("好的 👍😀")

    def test_zwj_sequence_one_face(self) -> None:
        """A ZWJ family goes to one face whole, joiners included, when that face has them."""
        family = "👨\u200d👩\u200d👧"
        chain = FontChain(primary=_face("P", "a\u200d"), fallbacks=(_face("E", family),))
        assert f"a[font=E]{family}[/font]" == chain.markup("a" + family)

    def test_invisible_dropped_when_nobody_has_it(self) -> None:
        """A variation selector no face has is left out instead of drawn as a box."""
        chain = FontChain(primary=_face("P", "x"), fallbacks=(_face("E", "❤"),))
        assert "x[font=E]❤[/font]" == chain.markup("x❤\ufe0f")

    def test_skin_tone_left_out(self) -> None:
        """A skin tone after an emoji is not drawn as a separate swatch."""
        chain = FontChain(primary=_face("P", "x"), fallbacks=(_face("E", "👍\U0001f3fb"),))
        assert "[font=E]👍[/font]" == chain.markup("👍\U0001f3fb")

    def test_unknown_stays_primary(self) -> None:
        """A character no face has stays with the primary face: a box, not a crash."""
        chain = FontChain(primary=_face("P", "a"))
        assert "a\U0010fffd" == chain.markup("a\U0010fffd")

    def test_missing_lists_once(self) -> None:
        """`missing` names each uncovered character once, in order."""
        chain = FontChain(primary=_face("P", "ab"))
        assert ["c", "d"] == chain.missing("abcdc d")

    def test_lone_surrogate_made_valid(self) -> None:
        """A lone surrogate never reaches SDL; it shows as U+FFFD."""
        chain = FontChain(primary=_face("P", "a\ufffd"))
        assert "a\ufffd" == chain.markup("a\ud83d")


class TestDiscovery:
    def test_no_fallbacks_found(self, tmp_path: Path) -> None:
        """With no system fonts the chain is the bundled font alone."""
        chain = discover_font_chain(cjk_candidates=[], emoji_candidates=[tmp_path / "none.ttf"])
        assert BUNDLED_FONT == chain.primary.path
        assert () == chain.fallbacks

    def test_bitmap_colour_font_refused(self, tmp_path: Path) -> None:
        """A font with colour bitmaps only (CBDT) is no fallback: SDL draws it huge."""
        path = _tiny_font(tmp_path / "bitmap.ttf", with_cbdt=True)
        with pytest.raises(ValueError, match="holds only colour bitmaps"):
            FontFace.load("x", path)

    def test_outline_fallback_found(self, tmp_path: Path) -> None:
        """An outline font with the emoji sample becomes the emoji fallback."""
        path = _tiny_font(tmp_path / "emoji.ttf", with_cbdt=False)
        chain = discover_font_chain(cjk_candidates=[], emoji_candidates=[path])
        assert [path] == [face.path for face in chain.fallbacks]

    def test_unreadable_primary(self, tmp_path: Path) -> None:
        """A primary that is no font is refused with its path in the message."""
        bad = tmp_path / "bad.ttf"
        bad.write_bytes(b"not a font")
        with pytest.raises(ValueError, match=r"^cannot read font .*bad\.ttf"):
            discover_font_chain(bad, cjk_candidates=[], emoji_candidates=[])


def _tiny_font(path: Path, *, with_cbdt: bool) -> Path:
    # One empty glyph mapped from 😀; enough for the checks FontFace makes.
    builder = FontBuilder(1000, isTTF=True)
    builder.setupGlyphOrder([".notdef", "smile"])
    builder.setupCharacterMap({0x1F600: "smile"})
    pen = TTGlyphPen(None)
    builder.setupGlyf({".notdef": pen.glyph(), "smile": pen.glyph()})
    builder.setupHorizontalMetrics({".notdef": (500, 0), "smile": (500, 0)})
    builder.setupHorizontalHeader(ascent=800, descent=-200)
    builder.setupNameTable({"familyName": "Tiny", "styleName": "Regular"})
    builder.setupOS2()
    builder.setupPost()
    if with_cbdt:
        table = DefaultTable("CBDT")
        table.data = b"\x00\x03\x00\x00"
        builder.font["CBDT"] = table
    builder.save(str(path))
    return path
