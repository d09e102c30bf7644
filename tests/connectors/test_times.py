"""The one bounded time parser: any ISO 8601 time is read as UTC within bounds, or refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.times import EARLIEST, LATEST, TimeOutOfRange, parse_instant

OFFSETS = st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


@given(moment=st.datetimes(timezones=OFFSETS))
def test_any_time_with_a_zone_is_read_within_bounds_or_refused_never_overflowing(moment: datetime) -> None:
    # Compared as time since year 1 (zone applied), which cannot overflow as a conversion can.
    offset = moment.utcoffset()
    assert offset is not None
    year_one = datetime(1, 1, 1, tzinfo=UTC)
    since = moment.replace(tzinfo=UTC) - year_one - offset
    within = EARLIEST - year_one <= since < LATEST - year_one
    try:
        read = parse_instant(moment.isoformat())
    except TimeOutOfRange:
        assert not within
        return
    assert within
    assert read.tzinfo == UTC
    assert read == moment


@pytest.mark.parametrize(
    "text",
    ["0001-01-01T00:00+01:00", "9999-12-31T23:59:59-01:00", "1989-12-31T23:59:59Z", "2100-01-01T00:00Z"],
)
def test_the_edges_of_the_calendar_are_refused_with_the_bounds(text: str) -> None:
    with pytest.raises(TimeOutOfRange, match="must lie between 1990-01-01 and 2100-01-01"):
        parse_instant(text)


@pytest.mark.parametrize("text", ["2026-07-10T16:15:47", "yesterday", ""])
def test_a_time_without_a_zone_or_unreadable_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - its message is Python's own
        parse_instant(text)
