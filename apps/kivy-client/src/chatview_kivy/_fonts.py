"""Fonts: which files draw the app's text, and which face draws each character.

Kivy's SDL2 text provider draws a label with exactly one font file and has no
fallback, so a character that file lacks becomes a box. The app therefore:

1. uses a bundled subset of Noto Sans CJK SC (``fonts/``, OFL) as the primary
   face of every widget, so Chinese renders on a machine with no CJK fonts;
2. looks for fallback faces on the system: a full CJK font for characters the
   subset leaves out (rare names, CJK Extension B) and a monochrome emoji font;
3. for labels (bubbles, previews, banners) splits the text into runs and wraps
   each run that the primary face lacks in ``[font=...]`` markup naming the
   first fallback that has it. SDL2_ttf does not shape, so a skin tone after
   an emoji is left out and a ZWJ family shows its members side by side. Text
   inputs take no markup and use the primary face only: an emoji typed into
   the composer shows as a box there, but its characters are kept and the
   sent bubble shows it.

Colour emoji fonts that hold only bitmaps (CBDT, sbix) are not used as
fallbacks: SDL2_ttf draws their fixed 128-pixel strike at any font size.

Nothing in this module imports Kivy; ``chatview_kivy._widgets`` registers the
faces with Kivy's ``LabelBase``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import unicodedata
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path

import attrs
import structlog
from fontTools.ttLib import TTFont, TTLibError

from ._text import escape_markup, graphemes, replace_lone_surrogates

__all__ = [
    "BUNDLED_FONT",
    "CJK_FALLBACK_CANDIDATES",
    "EMOJI_FALLBACK_CANDIDATES",
    "FontChain",
    "FontFace",
    "discover_font_chain",
]

_log = structlog.get_logger("chatview_kivy.fonts")

BUNDLED_FONT = Path(str(resources.files("chatview_kivy") / "fonts" / "ChatViewSansSC-Regular.otf"))

# Full CJK fonts that the common systems ship, best first. A .ttc opens at its
# first face, which for Noto's collection is the Japanese one: its glyph shapes
# differ in details but it covers the same characters, which is all a fallback
# for characters the bundled subset lacks needs.
CJK_FALLBACK_CANDIDATES: tuple[str, ...] = (
    # Linux
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/adobe-source-han-sans/SourceHanSansSC-Regular.otf",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    # Windows
    "C:/Windows/Fonts/msyh.ttc",
    "C:/Windows/Fonts/simsun.ttc",
    "C:/Windows/Fonts/simsunb.ttf",
    # macOS
    "/System/Library/Fonts/PingFang.ttc",
    "/System/Library/Fonts/STHeiti Light.ttc",
    "/Library/Fonts/Arial Unicode.ttf",
    # Android
    "/system/fonts/NotoSansCJK-Regular.ttc",
    "/system/fonts/DroidSansFallback.ttf",
)

# Emoji fonts with outlines; SDL2_ttf draws them in the label's colour.
EMOJI_FALLBACK_CANDIDATES: tuple[str, ...] = (
    "/usr/share/fonts/truetype/noto/NotoEmoji-Regular.ttf",
    "/usr/share/fonts/truetype/ancient-scripts/Symbola_hint.ttf",
    "/usr/share/fonts/TTF/Symbola.ttf",
    "/usr/share/fonts/gdouros-symbola/Symbola.ttf",
    "C:/Windows/Fonts/seguiemj.ttf",
    "C:/Windows/Fonts/seguisym.ttf",
    "/System/Library/Fonts/Apple Symbols.ttf",
    "/system/fonts/NotoSansSymbols-Regular-Subsetted2.ttf",
)

# Tables that mark a bitmap-only colour font.
_BITMAP_TABLES = ("CBDT", "sbix")


@attrs.frozen(eq=False)
class FontFace:
    """One font file and the code points it has glyphs for.

    Attributes:
        name: the name the face is registered under in Kivy.
        path: the font file.
        codepoints: every code point the file maps to a glyph.
    """

    name: str
    path: Path
    codepoints: frozenset[int] = attrs.field(repr=False)

    @classmethod
    def load(cls, name: str, path: Path) -> FontFace:
        """Read the character map of ``path``.

        Raises:
            ValueError: when the file is not a font fontTools can read, or is a
                bitmap-only colour font.
        """
        try:
            # A collection opens at its first face, as SDL2_ttf does.
            font = TTFont(path, fontNumber=0, lazy=True)
        except (OSError, TTLibError) as exc:
            msg = f"cannot read font {path}: {exc}; pick another font file"
            raise ValueError(msg) from exc
        with font:
            if any(table in font for table in _BITMAP_TABLES):
                msg = f"{path} holds only colour bitmaps, which Kivy draws at a fixed size"
                raise ValueError(msg)
            cmap = font.getBestCmap() or {}
            return cls(name=name, path=path, codepoints=frozenset(cmap))

    def has(self, char: str) -> bool:
        """Tell whether this face has a glyph for every code point of ``char``."""
        return all(ord(c) in self.codepoints for c in char)


def _is_invisible(cp: int) -> bool:
    # Joiners, variation selectors and tags steer shaping in fonts that do it;
    # SDL2_ttf draws them as boxes when the face lacks them, so they are left
    # out of what is shown when no face has them.
    return unicodedata.category(chr(cp)) == "Cf" or 0xFE00 <= cp <= 0xFE0F


def _is_modifier(cp: int) -> bool:
    # Skin tones colour the emoji before them only in a shaping renderer;
    # SDL2_ttf would draw each as a separate swatch after a plain thumb.
    return 0x1F3FB <= cp <= 0x1F3FF


@attrs.frozen
class FontChain:
    """The primary face and the fallbacks tried, in order, for a missing character.

    Attributes:
        primary: the face every widget uses.
        fallbacks: faces used, through markup, for what the primary lacks.
    """

    primary: FontFace
    fallbacks: tuple[FontFace, ...] = ()

    def face_for(self, char: str) -> FontFace | None:
        """Return the first face that has ``char``, or None when none has it."""
        for face in (self.primary, *self.fallbacks):
            if face.has(char):
                return face
        return None

    def missing(self, text: str) -> list[str]:
        """List the characters of ``text`` that no face in the chain has (in order, once each)."""
        seen: dict[str, None] = {}
        for char in text:
            if char.isspace() or _is_invisible(ord(char)):
                continue
            if self.face_for(char) is None:
                seen.setdefault(char, None)
        return list(seen)

    def markup(self, text: str) -> str:
        """Return Kivy markup that draws ``text`` with the best face per character.

        The result is meant for a label with ``markup: True``; it escapes the
        markup characters of ``text`` itself.
        """
        text = replace_lone_surrogates(text)
        runs: list[tuple[FontFace, list[str]]] = []

        def add(face: FontFace, piece: str) -> None:
            if runs and runs[-1][0] is face:
                runs[-1][1].append(piece)
            else:
                runs.append((face, [piece]))

        # Whole clusters go to one face, so a ZWJ sequence is not torn
        # between fonts; a cluster no face has whole is placed char by char.
        for cluster in graphemes(text):
            if len(cluster) > 1:
                cluster = "".join(c for c in cluster if not _is_modifier(ord(c))) or cluster
            face = self._face_for_cluster(cluster)
            if face is not None:
                add(face, self._drop_missing_invisibles(face, cluster))
                continue
            for char in cluster:
                char_face = self.face_for(char)
                if char_face is None and _is_invisible(ord(char)):
                    continue
                # A character nobody has stays with the primary face: a box, not a crash.
                add(char_face or self.primary, char)

        out: list[str] = []
        for face, pieces in runs:
            chunk = escape_markup("".join(pieces))
            out.append(chunk if face is self.primary else f"[font={face.name}]{chunk}[/font]")
        return "".join(out)

    def _face_for_cluster(self, cluster: str) -> FontFace | None:
        visible = "".join(c for c in cluster if not _is_invisible(ord(c)))
        if not visible or cluster.isspace():
            return self.primary
        for face in (self.primary, *self.fallbacks):
            if face.has(visible):
                return face
        return None

    @staticmethod
    def _drop_missing_invisibles(face: FontFace, cluster: str) -> str:
        return "".join(c for c in cluster if not _is_invisible(ord(c)) or face.has(c))


def _fc_match(pattern: str) -> str | None:
    fc_match = shutil.which("fc-match")
    if fc_match is None:
        return None
    try:
        done = subprocess.run(  # noqa: S603 - fixed arguments, no shell
            [fc_match, "-f", "%{file}", pattern],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None


def _system_candidates(fixed: Sequence[str], fc_pattern: str) -> list[Path]:
    paths = [Path(p) for p in fixed]
    if sys.platform.startswith("linux"):
        found = _fc_match(fc_pattern)
        if found:
            paths.insert(0, Path(found))
    windir = os.environ.get("WINDIR")
    if windir:
        paths = [Path(str(p).replace("C:/Windows", windir)) for p in paths]
    return paths


def _load_first(
    name: str, candidates: Iterable[Path], primary: FontFace, required: str
) -> FontFace | None:
    for path in candidates:
        if not path.is_file() or path == primary.path:
            continue
        try:
            face = FontFace.load(name, path)
        except ValueError as exc:
            _log.info("fonts.fallback.skipped", path=str(path), reason=str(exc))
            continue
        # fc-match answers with its best guess even when nothing fits, so a
        # candidate must hold the sample and add something the primary lacks.
        if face.has(required) and face.codepoints - primary.codepoints:
            return face
    return None


def discover_font_chain(
    primary_path: Path | None = None,
    *,
    cjk_candidates: Iterable[Path] | None = None,
    emoji_candidates: Iterable[Path] | None = None,
) -> FontChain:
    """Build the font chain for this machine.

    Args:
        primary_path: the primary font; defaults to ``$CHATVIEW_FONT`` and then
            to the bundled subset.
        cjk_candidates: where to look for a full CJK font; defaults to the
            usual system paths and ``fc-match :lang=zh-cn``.
        emoji_candidates: where to look for an emoji font; defaults to the
            usual system paths and ``fc-match emoji``.

    Returns:
        The chain; with no fallback found it holds only the primary face.

    Raises:
        ValueError: when the primary font cannot be read.
    """
    if primary_path is None:
        override = os.environ.get("CHATVIEW_FONT")
        primary_path = Path(override) if override else BUNDLED_FONT
    primary = FontFace.load("ChatViewSans", primary_path)

    if cjk_candidates is None:
        cjk_candidates = _system_candidates(CJK_FALLBACK_CANDIDATES, ":lang=zh-cn")
    if emoji_candidates is None:
        emoji_candidates = _system_candidates(EMOJI_FALLBACK_CANDIDATES, "emoji")

    fallbacks = [
        face
        for face in (
            _load_first("ChatViewCJKFallback", cjk_candidates, primary, "中文"),
            _load_first("ChatViewEmoji", emoji_candidates, primary, "\U0001f600"),
        )
        if face is not None
    ]
    _log.info(
        "fonts.chain.ready",
        primary=str(primary.path),
        fallbacks=[str(face.path) for face in fallbacks],
    )
    return FontChain(primary=primary, fallbacks=tuple(fallbacks))
