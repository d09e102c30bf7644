"""Calendar periods of the leaderboard: weeks (from Monday), months, quarters and years of a local date,
the time frames that name them, and which periods are kept."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo


class TimeFrame(StrEnum):
    LAST_WEEK = "last_week"
    LAST_MONTH = "last_month"
    MONTH_TO_DATE = "month_to_date"
    LAST_QUARTER = "last_quarter"
    QUARTER_TO_DATE = "quarter_to_date"
    LAST_YEAR = "last_year"
    YEAR_TO_DATE = "year_to_date"


def period_keys(day: date) -> tuple[str, str, str, str]:
    """The week, month, quarter and year a local date belongs to."""
    year, week, _ = day.isocalendar()
    return (
        f"w{year}-{week:02}",
        f"m{day.year}-{day.month:02}",
        f"q{day.year}-{(day.month - 1) // 3 + 1}",
        f"y{day.year}",
    )


@dataclass(frozen=True)
class Period:
    key: str
    start: date  # first local day
    end: date  # last local day


def period_of(frame: TimeFrame, today: date) -> Period:
    """The calendar period a time frame names, seen from a local date."""
    if frame == TimeFrame.LAST_WEEK:
        start = today - timedelta(days=today.weekday() + 7)
        return Period(period_keys(start)[0], start, start + timedelta(days=6))
    if frame in (TimeFrame.MONTH_TO_DATE, TimeFrame.LAST_MONTH):
        first = today.replace(day=1)
        if frame == TimeFrame.LAST_MONTH:
            end = first - timedelta(days=1)
            return Period(period_keys(end)[1], end.replace(day=1), end)
        return Period(period_keys(first)[1], first, today)
    if frame in (TimeFrame.QUARTER_TO_DATE, TimeFrame.LAST_QUARTER):
        first = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
        if frame == TimeFrame.LAST_QUARTER:
            end = first - timedelta(days=1)
            return Period(period_keys(end)[2], date(end.year, 3 * ((end.month - 1) // 3) + 1, 1), end)
        return Period(period_keys(first)[2], first, today)
    first = date(today.year, 1, 1)
    if frame == TimeFrame.LAST_YEAR:
        return Period(f"y{today.year - 1}", date(today.year - 1, 1, 1), date(today.year - 1, 12, 31))
    return Period(f"y{today.year}", first, today)


def kept_periods(zones: Iterable[ZoneInfo], now: datetime) -> set[str]:
    """The periods a leaderboard can name now or once the current ones end, in these time zones."""
    keys: set[str] = set()
    for zone in zones:
        today = now.astimezone(zone).date()
        keys.update(period_of(frame, today).key for frame in TimeFrame)
        keys.add(period_keys(today)[0])  # this week: next week's last week
    return keys


def horizon(now: datetime) -> datetime:
    """Orders placed before this fall in no kept period (the start of last year, a day early for zones)."""
    return datetime(now.year - 1, 1, 1, tzinfo=now.tzinfo) - timedelta(days=2)
