"""Times and badges in English and Chinese."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chatview_kivy._format import format_list_time, format_message_time, unread_badge
from chatview_kivy._i18n import Translator

NOW = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)  # a Thursday


class TestUnreadBadge:
    @pytest.mark.parametrize(
        ("count", "text"), [(0, ""), (-1, ""), (1, "1"), (99, "99"), (100, "99+")]
    )
    def test_text(self, count: int, text: str) -> None:
        """No badge for none; numbers up to 99; 99+ beyond."""
        assert text == unread_badge(count)


class TestListTime:
    @pytest.mark.parametrize(
        ("delta", "en", "zh"),
        [
            (timedelta(hours=2), "10:00", "10:00"),
            (timedelta(days=1), "Yesterday", "昨天"),
            (timedelta(days=3), "Monday", "星期一"),
            (timedelta(days=30), "Feb 3", "2月3日"),
            (timedelta(days=400), "Jan 29, 2025", "2025年1月29日"),
        ],
    )
    def test_relative(self, delta: timedelta, en: str, zh: str) -> None:
        """The list shows the clock today, then words, weekdays and dates."""
        moment = NOW - delta
        assert en == format_list_time(moment, NOW, Translator("en"), UTC)
        assert zh == format_list_time(moment, NOW, Translator("zh_CN"), UTC)

    def test_naive_read_as_utc(self) -> None:
        """A time without zone is taken as UTC, as the client library stores it."""
        naive = datetime(2026, 3, 5, 9, 30)
        assert "09:30" == format_message_time(naive, Translator("en"), UTC)
