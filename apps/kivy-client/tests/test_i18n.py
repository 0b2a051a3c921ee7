"""Every msgid has a Chinese translation with the same placeholders; catalogs are current."""

from __future__ import annotations

import gettext

import pytest

from chatview_kivy._catalog import (
    compile_catalog,
    extract_msgids,
    placeholders,
    po_path,
    read_catalog,
)
from chatview_kivy._i18n import (
    DOMAIN,
    LOCALE_DIR,
    Translator,
    detect_system_language,
    normalize_language,
)

MSGIDS = extract_msgids()
ZH = read_catalog(po_path("zh_CN"))


class TestCatalog:
    def test_msgids_found(self) -> None:
        """The extractor finds the app's strings (a broken pattern would find none)."""
        assert "Wrong PIN. Try again." in MSGIDS
        assert len(MSGIDS) > 80

    @pytest.mark.parametrize("msgid", sorted(MSGIDS))
    def test_translated(self, msgid: str) -> None:
        """Each msgid in the code has a non-empty, non-fuzzy Chinese translation."""
        message = ZH.get(msgid)
        assert message is not None, f"{msgid!r} is missing; run scripts/build_catalogs.py"
        assert message.string, f"{msgid!r} has an empty translation"
        assert not message.fuzzy

    @pytest.mark.parametrize("msgid", sorted(MSGIDS))
    def test_same_placeholders(self, msgid: str) -> None:
        """The translation names exactly the placeholders of the msgid."""
        message = ZH.get(msgid)
        assert message is not None
        assert placeholders(msgid) == placeholders(str(message.string))

    def test_no_stale_entries(self) -> None:
        """The catalog holds no msgid that the code no longer uses."""
        assert set() == {str(m.id) for m in ZH if m.id} - set(MSGIDS)

    def test_mo_matches_po(self) -> None:
        """The shipped .mo is the compiled .po (compile after every edit)."""
        shipped = gettext.GNUTranslations(po_path("zh_CN").with_suffix(".mo").open("rb"))
        fresh = compile_catalog(ZH)
        assert fresh == po_path("zh_CN").with_suffix(".mo").read_bytes()
        assert "PIN 错误，请重试。" == shipped.gettext("Wrong PIN. Try again.")


class TestPlaceholderCheck:
    def test_detects_renamed_field(self) -> None:
        """A translation with a different field name is caught by the comparison."""
        assert placeholders("Not sent: {reason}") != placeholders("未发送：{text}")


class TestTranslator:
    def test_switch_translates(self) -> None:
        """Switching to zh_CN translates; back to en returns the msgid."""
        tr = Translator("zh_CN")
        assert "设置" == tr._("Settings")
        tr.switch("en")
        assert "Settings" == tr._("Settings")

    def test_listeners_told(self) -> None:
        """Listeners hear every switch with the new language."""
        heard: list[str] = []
        tr = Translator()
        tr.add_listener(heard.append)
        tr.switch("zh_CN")
        tr.remove_listener(heard.append)
        tr.switch("en")
        assert ["zh_CN"] == heard

    def test_unknown_language_refused(self) -> None:
        """An unshipped language is refused by name."""
        with pytest.raises(ValueError, match=r"^unknown language 'fr'; choose one of"):
            Translator("fr")

    def test_catalog_found_by_gettext(self) -> None:
        """The compiled catalog sits where gettext looks for it."""
        found = gettext.find(DOMAIN, localedir=LOCALE_DIR, languages=["zh_CN"])
        assert found is not None


class TestLanguageDetection:
    @pytest.mark.parametrize(
        ("environ", "expected"),
        [
            ({"LANG": "zh_CN.UTF-8"}, "zh_CN"),
            ({"LANG": "zh_TW.UTF-8"}, "zh_CN"),
            ({"LANGUAGE": "zh_CN:en_US", "LANG": "en_US.UTF-8"}, "zh_CN"),
            ({"LC_ALL": "en_GB.UTF-8", "LANG": "zh_CN.UTF-8"}, "en"),
            ({"LANG": "C.UTF-8", "LC_MESSAGES": "zh_CN.UTF-8"}, "zh_CN"),
            ({"LANG": "fr_FR.UTF-8"}, "en"),
            ({}, "en"),
        ],
    )
    def test_from_environment(self, environ: dict[str, str], expected: str) -> None:
        """The gettext variables pick the language, in gettext's order."""
        assert expected == detect_system_language(environ)

    @pytest.mark.parametrize(
        ("tag", "expected"),
        [("zh-Hans", "zh_CN"), ("zh_CN.GB2312", "zh_CN"), ("en-US", "en"), ("de", None)],
    )
    def test_normalize(self, tag: str, expected: str | None) -> None:
        """Locale tags in several spellings map to a shipped language."""
        assert expected == normalize_language(tag)
