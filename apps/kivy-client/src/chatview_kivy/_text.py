"""Text helpers that keep user text intact on screen.

Invariants:

1. Nothing here ever splits a grapheme cluster: a ZWJ family, a flag, a
   letter with its combining accent or a skin-toned thumb stays whole or goes
   whole. Cuts use the ``regex`` module's ``\\X``.
2. Every function returns valid text: a lone surrogate (which a clipboard or
   a JSON decoder can produce) becomes U+FFFD, because SDL would refuse to
   encode it and take the window down.
3. The stored message text is never changed; these helpers only make what is
   shown.
"""

from __future__ import annotations

import regex

__all__ = [
    "ELLIPSIS",
    "chunk_for_display",
    "escape_markup",
    "graphemes",
    "preview_text",
    "replace_lone_surrogates",
    "short_key",
    "truncate_graphemes",
]

ELLIPSIS = "…"

_GRAPHEME = regex.compile(r"\X")
_LONE_SURROGATE = regex.compile(r"[\ud800-\udfff]")
_WHITESPACE_RUN = regex.compile(r"\s+")


def replace_lone_surrogates(text: str) -> str:
    """Return ``text`` with every unpaired surrogate replaced by U+FFFD."""
    return str(_LONE_SURROGATE.sub("\ufffd", text))


def graphemes(text: str) -> list[str]:
    """Split ``text`` into extended grapheme clusters."""
    return list(_GRAPHEME.findall(text))


def truncate_graphemes(text: str, limit: int, ellipsis: str = ELLIPSIS) -> str:
    """Shorten ``text`` to at most ``limit`` grapheme clusters.

    Args:
        text: any text.
        limit: the most clusters the result may have, the ellipsis included.
        ellipsis: what marks a cut.

    Returns:
        ``text`` itself when it fits, otherwise its first clusters and the
        ellipsis.

    Raises:
        ValueError: when ``limit`` is smaller than 1.
    """
    if limit < 1:
        msg = f"limit must be at least 1, got {limit}"
        raise ValueError(msg)
    text = replace_lone_surrogates(text)
    clusters = graphemes(text)
    if len(clusters) <= limit:
        return text

    keep = max(limit - len(graphemes(ellipsis)), 0)
    return "".join(clusters[:keep]).rstrip() + ellipsis


def preview_text(text: str, limit: int = 40) -> str:
    """Make a one-line preview: whitespace runs become one space, then truncate."""
    one_line = _WHITESPACE_RUN.sub(" ", text).strip()
    return truncate_graphemes(one_line, limit)


def short_key(public_key: str) -> str:
    """Shorten a hex public key for display, for example ``d75a9801…511a``."""
    if len(public_key) <= 14:
        return public_key
    return f"{public_key[:8]}{ELLIPSIS}{public_key[-4:]}"


def escape_markup(text: str) -> str:
    """Escape the three characters that Kivy markup treats specially."""
    return text.replace("&", "&amp;").replace("[", "&bl;").replace("]", "&br;")


def chunk_for_display(text: str, max_lines: int = 40, max_chars: int = 1500) -> list[str]:
    """Split a long message into pieces that each fit one Kivy label.

    A Kivy label draws its text into one texture; past the GPU's texture size or
    roughly a thousand lines it silently shows nothing. Long messages are
    therefore shown as a column of labels. Pieces end at line breaks where
    possible and never inside a grapheme cluster.

    Args:
        text: the message text.
        max_lines: the most line breaks one piece holds.
        max_chars: the most grapheme clusters one piece holds.

    Returns:
        The pieces in order, at least one. Joined with ``"\\n"`` they give
        ``text`` back, with one extra line break wherever a single over-long
        line had to be cut, and without a piece that trailing line breaks alone
        would fill.
    """
    text = replace_lone_surrogates(text)
    pieces: list[str] = []
    current: list[str] = []
    current_chars = 0
    for line in text.split("\n"):
        clusters = graphemes(line)
        # A single line longer than a piece is cut at cluster boundaries.
        while len(clusters) > max_chars:
            if current:
                pieces.append("\n".join(current))
                current, current_chars = [], 0
            pieces.append("".join(clusters[:max_chars]))
            clusters = clusters[max_chars:]
        if current and (len(current) >= max_lines or current_chars + len(clusters) > max_chars):
            pieces.append("\n".join(current))
            current, current_chars = [], 0
        current.append("".join(clusters))
        current_chars += len(clusters)
    pieces.append("\n".join(current))
    # A trailing line break would make a piece with nothing to draw.
    while len(pieces) > 1 and not pieces[-1]:
        pieces.pop()
    return pieces
