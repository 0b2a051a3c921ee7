"""Message catalog upkeep: find msgids in the sources, merge and compile catalogs.

Used by ``scripts/build_catalogs.py`` and by the tests that keep the Chinese
catalog complete. Every translatable string is a plain double-quoted literal
as the only argument of ``tr._`` (or ``self._tr._``), in Python and in kv
alike, so one pattern finds them all.
"""

from __future__ import annotations

import ast
import io
import re
import string
from collections.abc import Iterable
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from ._i18n import DOMAIN, LOCALE_DIR

__all__ = [
    "PACKAGE_DIR",
    "compile_catalog",
    "extract_msgids",
    "placeholders",
    "po_bytes",
    "po_path",
    "read_catalog",
    "template",
]

PACKAGE_DIR = Path(__file__).parent

# An underscore call on one string literal, after a non-word character; the
# literal may hold escaped quotes.
_MSGID = re.compile(r'(?<![\w])_\(\s*"((?:[^"\\\n]|\\.)*)"\s*\)')


def extract_msgids(sources: Iterable[Path] | None = None) -> dict[str, list[str]]:
    """Return every msgid in ``sources`` with the places (``file:line``) using it.

    Args:
        sources: files to scan; None scans the package's ``.py`` and ``.kv`` files.
    """
    if sources is None:
        sources = sorted([*PACKAGE_DIR.glob("*.py"), *PACKAGE_DIR.glob("*.kv")])
    found: dict[str, list[str]] = {}
    for path in sources:
        text = path.read_text(encoding="utf-8")
        for match in _MSGID.finditer(text):
            # The literal is Python string syntax (kv expressions are Python too).
            msgid = ast.literal_eval(f'"{match.group(1)}"')
            line = text.count("\n", 0, match.start()) + 1
            found.setdefault(msgid, []).append(f"{path.name}:{line}")
    return found


def placeholders(text: str) -> set[str]:
    """Return the ``str.format`` field names in ``text``."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def po_path(language: str, locale_dir: Path = LOCALE_DIR) -> Path:
    """Where the ``.po`` source of ``language`` lives."""
    return locale_dir / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def read_catalog(path: Path) -> Catalog:
    """Read a ``.po`` file."""
    with path.open("rb") as handle:
        return read_po(handle, domain=DOMAIN)


def template(msgids: dict[str, list[str]]) -> Catalog:
    """Build the template catalog (the ``.pot``) from extracted msgids."""
    catalog = Catalog(domain=DOMAIN, project="chatview-kivy", version="0.1.0")
    for msgid, places in sorted(msgids.items()):
        locations = [(place.split(":")[0], int(place.split(":")[1])) for place in places]
        catalog.add(msgid, locations=locations)
    return catalog


def compile_catalog(catalog: Catalog) -> bytes:
    """Return the ``.mo`` bytes of ``catalog`` (fuzzy entries left out)."""
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    return buffer.getvalue()


def po_bytes(catalog: Catalog) -> bytes:
    """Return ``catalog`` as ``.po`` text, without the volatile creation date."""
    buffer = io.BytesIO()
    # Without line numbers, so moving code does not make the catalogs stale.
    write_po(buffer, catalog, width=100, sort_output=True, include_lineno=False)
    return buffer.getvalue()
