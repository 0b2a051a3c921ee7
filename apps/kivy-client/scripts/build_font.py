"""Build the bundled CJK font: a subset of Noto Sans CJK SC, renamed.

Kivy's default font has no Chinese glyphs, so the app ships its own. The full
Noto Sans CJK collection is about 19 MB; the subset keeps what Chinese chat
needs and weighs about 4 MB:

- Latin, Latin-1, Latin Extended-A/B (pinyin tone marks), general punctuation,
  CJK symbols and punctuation, half- and full-width forms;
- every character of GB 2312 (6763 hanzi: everyday simplified Chinese);
- Big5 level 1 (5401 frequent traditional hanzi), so that traditional text
  from friends in Taiwan or Hong Kong also renders;
- a short list of rarer characters that real names use.

The family is renamed, as the SIL Open Font License asks of modified versions.

Usage (Debian: ``apt-get install fonts-noto-cjk`` provides the source)::

    uv run python apps/kivy-client/scripts/build_font.py [SOURCE.ttc]
"""

from __future__ import annotations

import sys
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTFont

SOURCE = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
# Face order inside the Noto Sans CJK collection: JP, KR, SC, TC, HK.
SC_FACE = 2
TARGET = Path(__file__).parent.parent / "src/chatview_kivy/fonts/ChatViewSansSC-Regular.otf"
FAMILY = "ChatView Sans SC"
POSTSCRIPT_NAME = "ChatViewSansSC-Regular"

RANGES = (
    (0x0020, 0x024F),  # Basic Latin to Latin Extended-B
    (0x02C6, 0x02DD),  # spacing modifiers used in pinyin and typography
    (0x0300, 0x036F),  # combining accents (a decomposed é keeps its accent)
    (0x0391, 0x03C9),  # Greek letters that appear in GB 2312
    (0x0401, 0x0451),  # Cyrillic letters that appear in GB 2312
    (0x2000, 0x206F),  # general punctuation
    (0x2100, 0x214F),  # letterlike symbols
    (0x2190, 0x21FF),  # arrows
    (0x2460, 0x24FF),  # enclosed numbers
    (0x25A0, 0x25FF),  # geometric shapes
    (0x2600, 0x26FF),  # miscellaneous symbols
    (0x3000, 0x303F),  # CJK symbols and punctuation
    (0x3040, 0x30FF),  # kana, which Chinese chats quote often enough
    (0x3100, 0x312F),  # bopomofo
    (0xFE30, 0xFE4F),  # CJK compatibility forms
    (0xFF00, 0xFFEF),  # half- and full-width forms
)

# Characters outside both charsets that show up in names and tests of font coverage.
EXTRA = "㑇𠮷堃喆昇珺瑄玥頔犇淼鑫焱垚"


def _double_byte_charset(codec: str, leads: range, trails: list[int]) -> set[str]:
    chars: set[str] = set()
    for lead in leads:
        for trail in trails:
            try:
                chars.add(bytes((lead, trail)).decode(codec))
            except UnicodeDecodeError:
                continue
    return chars


def wanted_characters() -> set[str]:
    """Return every character the bundled font should cover."""
    chars = {chr(cp) for low, high in RANGES for cp in range(low, high + 1)}
    chars |= _double_byte_charset("gb2312", range(0xA1, 0xF8), list(range(0xA1, 0xFF)))
    big5_trails = [*range(0x40, 0x7F), *range(0xA1, 0xFF)]
    chars |= _double_byte_charset("big5", range(0xA4, 0xC7), big5_trails)
    chars |= set(EXTRA)
    return chars


def _rename(font: TTFont) -> None:
    names = font["name"]
    for record in list(names.names):
        if record.nameID in (1, 4, 16, 21):
            names.setName(
                FAMILY if record.nameID != 4 else f"{FAMILY} Regular",
                record.nameID,
                record.platformID,
                record.platEncID,
                record.langID,
            )
        elif record.nameID == 3:
            names.setName(
                f"{POSTSCRIPT_NAME};subset", 3, record.platformID, record.platEncID, record.langID
            )
        elif record.nameID == 6:
            names.setName(POSTSCRIPT_NAME, 6, record.platformID, record.platEncID, record.langID)
    # Names in other languages (for example the Chinese family name) would still
    # carry the original family; drop them rather than leave two identities.
    names.names = [r for r in names.names if r.langID in (0, 0x409) or r.nameID not in (1, 4, 16)]
    if "CFF " in font:
        cff = font["CFF "].cff
        cff.fontNames = [POSTSCRIPT_NAME]
        top = cff.topDictIndex[0]
        top.FullName = f"{FAMILY} Regular"
        top.FamilyName = FAMILY


def build(source: Path, target: Path) -> None:
    """Write the subset font to ``target``."""
    font = TTFont(source, fontNumber=SC_FACE if source.suffix == ".ttc" else -1)
    cmap = font.getBestCmap()
    unicodes = sorted(ord(c) for c in wanted_characters() if ord(c) in cmap)

    options = subset.Options()
    options.layout_features = ["*"]
    options.name_IDs = ["*"]
    options.name_languages = ["*"]
    options.hinting = False
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=unicodes)
    subsetter.subset(font)
    _rename(font)

    target.parent.mkdir(parents=True, exist_ok=True)
    font.save(target)
    print(f"{target}: {len(unicodes)} characters, {target.stat().st_size} bytes")


if __name__ == "__main__":
    build(Path(sys.argv[1]) if len(sys.argv) > 1 else SOURCE, TARGET)
