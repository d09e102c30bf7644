"""Times read from platforms and files: one bounded parser for every intake and normalize path.

A time is read with its zone, converted to UTC and kept only between EARLIEST and a latest bound
(LATEST, or "now plus a skew" for records that describe the past). A time outside those bounds
is refused with a reason, never an `OverflowError`: `0001-01-01T00:00+01:00` and
`9999-12-31T23:59:59-01:00` parse as ISO 8601 but fall outside the years Python can hold in UTC.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from marshmallow import fields

from integration.errors import InvalidValue

EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)  # no shop's or email tool's record is older
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
# How far ahead of our clock a platform's "when it happened" may be (clocks drift; a record from
# the future does not exist): one hour. Beyond that a timestamp would win every newer-wins
# comparison until the day it names, freezing the record against every real update.
FUTURE_SKEW = timedelta(hours=1)


class TimeOutOfRange(InvalidValue):
    """A time that parses but falls outside the bounds storepulse keeps."""


def _shown(moment: datetime) -> str:
    return (
        moment.strftime("%Y-%m-%d")
        if moment.time() == datetime.min.time()
        else moment.isoformat("T", "seconds")
    )


def bounds_text(earliest: datetime, latest: datetime) -> str:
    """The reason given for a time outside [earliest, latest)."""
    return f"must lie between {_shown(earliest)} and {_shown(latest)}"


def within(moment: datetime, earliest: datetime = EARLIEST, latest: datetime = LATEST) -> datetime:
    """Return an aware `moment` in UTC, or raise TimeOutOfRange outside [earliest, latest)."""
    try:
        utc = moment.astimezone(UTC)
    except OverflowError as exc:  # before year 1 or after year 9999 once in UTC
        raise TimeOutOfRange(bounds_text(earliest, latest)) from exc
    if not earliest <= utc < latest:
        raise TimeOutOfRange(bounds_text(earliest, latest))
    return utc


def parse_instant(text: str, earliest: datetime = EARLIEST, latest: datetime = LATEST) -> datetime:
    """Read an ISO 8601 time with its zone as UTC; ValueError if unreadable or zoneless,
    TimeOutOfRange (a ValueError) if outside the bounds."""
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        raise ValueError("the time has no time zone")
    return within(moment, earliest, latest)


def not_ahead(skew: timedelta = FUTURE_SKEW) -> Callable[[], datetime]:
    """A latest bound of "now plus `skew`", read at each load."""
    return lambda: datetime.now(UTC) + skew


class UTCTime(fields.AwareDateTime):
    """A time with its zone, loaded as UTC; refused outside EARLIEST..`latest` (LATEST by default,
    or a callable read at each load, such as `not_ahead()`)."""

    default_error_messages = {"range": "{reason}"}

    def __init__(self, *, latest: datetime | Callable[[], datetime] = LATEST, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.latest = latest

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        aware: datetime = super()._deserialize(value, attr, data, **kwargs)
        latest = self.latest() if callable(self.latest) else self.latest
        try:
            return within(aware, EARLIEST, latest)
        except TimeOutOfRange as exc:
            raise self.make_error("range", reason=str(exc)) from exc
