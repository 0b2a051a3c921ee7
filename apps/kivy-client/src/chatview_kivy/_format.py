"""Formatting of times, counts and keys for display, per language."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo

from babel.dates import format_date, format_skeleton, format_time

from ._i18n import Translator

__all__ = ["format_list_time", "format_message_time", "unread_badge"]

# A badge wider than three characters no longer fits the circle it sits in.
_BADGE_CAP = 99


def unread_badge(count: int) -> str:
    """Return the text of an unread badge: empty for none, ``99+`` past 99."""
    if count <= 0:
        return ""
    if count > _BADGE_CAP:
        return f"{_BADGE_CAP}+"
    return str(count)


def _local(moment: datetime, tz: tzinfo | None) -> datetime:
    if moment.tzinfo is None:
        # The client library's times are UTC; a naive one is read as UTC too.
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(tz)


def format_message_time(moment: datetime, tr: Translator, tz: tzinfo | None = None) -> str:
    """Return the clock time of a message in the local zone, for example ``14:05``."""
    return format_time(_local(moment, tz), "HH:mm", locale=tr.language)


def format_list_time(
    moment: datetime, now: datetime, tr: Translator, tz: tzinfo | None = None
) -> str:
    """Return a short time for the conversation list, relative to ``now``.

    Today gives the clock time, yesterday the word for yesterday, the last
    week the weekday, this year the month and day, older the full date; each
    in the translator's language (``3月5日`` in Chinese).
    """
    local = _local(moment, tz)
    today = _local(now, tz).date()
    day = local.date()
    if day == today:
        return format_time(local, "HH:mm", locale=tr.language)
    if day == today - timedelta(days=1):
        return tr._("Yesterday")
    if today - timedelta(days=6) <= day < today:
        return format_date(day, "EEEE", locale=tr.language)
    if day.year == today.year:
        return format_skeleton("MMMd", local, locale=tr.language)
    return format_skeleton("yMMMd", local, locale=tr.language)
