"""Translations: English msgids, a Simplified Chinese gettext catalog.

Every string a person reads goes through ``tr._`` called on a double-quoted
literal (in Python and in the kv rules alike), so ``scripts/build_catalogs.py``
and the tests find every msgid with one pattern. Placeholders use
``str.format`` names, filled in after translation with ``.format(count=3)``.

Switching the language takes effect at once: the Kivy layer re-runs every kv
rule that reads ``tr._`` and rebuilds the rows it made in Python.
"""

from __future__ import annotations

import gettext
import locale
import os
from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path

import structlog

__all__ = [
    "DOMAIN",
    "LANGUAGES",
    "LOCALE_DIR",
    "Translator",
    "detect_system_language",
    "normalize_language",
]

_log = structlog.get_logger("chatview_kivy.i18n")

DOMAIN = "chatview_kivy"
LOCALE_DIR = Path(str(resources.files("chatview_kivy") / "locale"))

# Language codes the app ships, with their names as their readers write them.
LANGUAGES: Mapping[str, str] = {"en": "English", "zh_CN": "简体中文"}


def normalize_language(tag: str | None) -> str | None:
    """Map a locale tag (``zh_CN.UTF-8``, ``zh-Hans``, ``en_US``) to a shipped language.

    Returns:
        ``"zh_CN"`` for any Chinese tag (the app has no traditional catalog and
        a traditional reader reads simplified far better than English),
        ``"en"`` for any English tag, None for anything else.
    """
    if not tag:
        return None
    base = tag.split(".")[0].split("@")[0].replace("-", "_").lower()
    if base.startswith("zh"):
        return "zh_CN"
    if base.startswith("en") or base in ("c", "posix"):
        return "en"
    return None


def _windows_ui_language() -> str | None:
    import ctypes

    # Only Windows has windll; elsewhere the environment decides.
    windll = getattr(ctypes, "windll", None)
    if windll is None:
        return None
    lang_id = windll.kernel32.GetUserDefaultUILanguage()
    # The primary language id is the low ten bits; 0x04 is Chinese.
    return "zh" if int(lang_id) & 0x3FF == 0x04 else "en"


def detect_system_language(environ: Mapping[str, str] | None = None) -> str:
    """Choose the app's language from the system locale.

    The gettext variables are read in gettext's order (``LANGUAGE``, which may
    list several, then ``LC_ALL``, ``LC_MESSAGES``, ``LANG``), then Python's
    locale, then the Windows UI language. The first that names a shipped
    language wins; English when none does.
    """
    environ = os.environ if environ is None else environ
    tags: list[str | None] = []
    tags.extend(environ.get("LANGUAGE", "").split(":"))
    tags.extend(environ.get(name) for name in ("LC_ALL", "LC_MESSAGES", "LANG"))
    if environ is os.environ:
        tags.append(locale.getlocale()[0])
        tags.append(_windows_ui_language())
    for tag in tags:
        language = normalize_language(tag)
        # "C" says nothing about what the person reads; keep looking.
        if language is not None and (tag or "").split(".")[0].upper() not in ("C", "POSIX"):
            return language
    return "en"


class Translator:
    """Looks up translations in the current language.

    Listeners added with ``add_listener`` run after every ``switch``; the
    Kivy layer uses one to re-run the kv rules that read ``tr._``. Use from
    the Kivy thread only.
    """

    def __init__(self, language: str = "en", locale_dir: Path = LOCALE_DIR) -> None:
        self._locale_dir = locale_dir
        self._listeners: list[Callable[[str], None]] = []
        self._translations: gettext.NullTranslations = gettext.NullTranslations()
        self.language = "en"
        self.switch(language)

    def _(self, msgid: str) -> str:
        """Return the translation of ``msgid``, or ``msgid`` itself."""
        return self._translations.gettext(msgid)

    def switch(self, language: str) -> None:
        """Change the language and tell every listener.

        Raises:
            ValueError: when ``language`` is not one the app ships.
        """
        if language not in LANGUAGES:
            msg = f"unknown language {language!r}; choose one of {sorted(LANGUAGES)}"
            raise ValueError(msg)
        if language == "en":
            self._translations = gettext.NullTranslations()
        else:
            self._translations = gettext.translation(
                DOMAIN, localedir=self._locale_dir, languages=[language]
            )
        self.language = language
        _log.info("i18n.language.switched", language=language)
        for listener in list(self._listeners):
            listener(language)

    def add_listener(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(language)`` after each switch."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[str], None]) -> None:
        """Stop calling ``listener``; unknown listeners are ignored."""
        if listener in self._listeners:
            self._listeners.remove(listener)
