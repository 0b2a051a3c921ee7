"""Update the message catalogs from the sources and compile them.

    uv run python apps/kivy-client/scripts/build_catalogs.py          # write
    uv run python apps/kivy-client/scripts/build_catalogs.py --check  # CI: fail if stale

Writes ``locale/chatview_kivy.pot`` (every msgid found), merges it into each
``locale/<lang>/LC_MESSAGES/chatview_kivy.po`` (new msgids come in empty,
removed ones go) and compiles each ``.po`` to its ``.mo``. With ``--check`` it
writes nothing and exits 1 when any of those files would change, or when a
msgid has no translation.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from chatview_kivy._catalog import (
    compile_catalog,
    extract_msgids,
    po_bytes,
    po_path,
    read_catalog,
    template,
)
from chatview_kivy._i18n import LANGUAGES, LOCALE_DIR

_FIXED_DATE = datetime(2026, 1, 1, tzinfo=UTC)


def _write(path: Path, data: bytes, check: bool, stale: list[str]) -> None:
    if path.exists() and path.read_bytes() == data:
        return
    stale.append(str(path))
    if not check:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; fail if stale")
    args = parser.parse_args()

    pot = template(extract_msgids())
    # A fixed date keeps the files byte-stable between runs.
    pot.creation_date = pot.revision_date = _FIXED_DATE
    pot.copyright_holder = "ChatView developers"
    stale: list[str] = []
    _write(LOCALE_DIR / "chatview_kivy.pot", po_bytes(pot), args.check, stale)

    untranslated: list[str] = []
    for language in LANGUAGES:
        if language == "en":
            continue  # the msgids are English
        path = po_path(language)
        catalog = read_catalog(path) if path.exists() else template({})
        catalog.locale = language
        catalog.update(pot, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        catalog.creation_date = catalog.revision_date = pot.creation_date
        catalog.fuzzy = False
        catalog.last_translator = "ChatView developers"
        catalog.language_team = f"{LANGUAGES[language]} ({language})"
        catalog.copyright_holder = "ChatView developers"
        _write(path, po_bytes(catalog), args.check, stale)
        _write(path.with_suffix(".mo"), compile_catalog(catalog), args.check, stale)
        untranslated += [f"{language}: {m.id}" for m in catalog if m.id and not m.string]

    for name in stale:
        print(f"{'stale' if args.check else 'wrote'}: {name}")
    for entry in untranslated:
        print(f"untranslated: {entry}")
    return 1 if args.check and (stale or untranslated) else 0


if __name__ == "__main__":
    sys.exit(main())
