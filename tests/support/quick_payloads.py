"""Payload values for the property tests of the quick readers (`connectors.quick`): the plain
values a platform sends, and every kind of value its schema treats apart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st
from marshmallow import Schema, ValidationError

MISSING = object()  # the field left out

texts = st.one_of(st.text(max_size=8), st.none(), st.integers(), st.booleans(), st.just(["a"]), st.just({}))
amounts = st.one_of(
    st.decimals(min_value=0, max_value=10**12, places=2).map(str),
    st.sampled_from(
        ["0", "-0", "-1.00", "1e3", "1E-2", " 5.5 ", "1_000", "NaN", "sNaN", "Infinity", "-inf", "", "abc"]
    ),
    st.sampled_from(["999999999999.99", "1000000000000", "1000000000000.00", "0.000001"]),
    st.integers(min_value=-5, max_value=10**13),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.just({"amount": "1"}),
)
# Hypothesis takes naive bounds and adds the zones itself.
moments = st.datetimes(
    min_value=datetime(1980, 1, 1),  # noqa: DTZ001
    max_value=datetime(2200, 1, 1),  # noqa: DTZ001
    timezones=st.sampled_from([UTC, None]),
)
times = st.one_of(
    moments.map(lambda moment: moment.isoformat()),  # naive ones, before 1990 and far ahead too
    st.sampled_from(
        [
            "2026-07-10T12:00:00-04:00",
            "2026-07-10T12:00:00.123456+02:00",
            "2026-07-10T12:00:00.5Z",
            "2026-07-10T12:00:00Z",
            "2026-07-10 12:00:00+00:00",
            "2026-07-10",
            "20260710T120000+0000",
            " 2026-07-10T12:00:00Z",
            "2026-07-10T12:00:00",
            "0001-01-01T00:00:00+01:00",
            "9999-12-31T23:59:59-01:00",
            "",
            "yesterday",
        ]
    ),
    st.integers(min_value=0, max_value=2**31),
    st.none(),
    st.booleans(),
)
# Plain values, to be drawn as often as all the others together: the quick way must be taken
# often enough for its records to be compared.
plain_ids = st.integers(min_value=0, max_value=2**63)
plain_texts = st.text(max_size=8)
plain_amounts = st.decimals(min_value=0, max_value=10**6, places=2).map(str)
plain_times = st.datetimes(
    min_value=datetime(1990, 1, 2),  # noqa: DTZ001
    max_value=datetime(2026, 1, 1),  # noqa: DTZ001
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=-4)), timezone(timedelta(hours=5, minutes=30))]),
).map(lambda moment: moment.isoformat())


quantities = st.one_of(
    st.integers(min_value=-2, max_value=2_000_000), st.sampled_from(["3", 2.0, 2.5, True, None])
)


def set_field(target: dict[str, Any], key: str, value: Any) -> None:
    """Give a field a value, or leave it out (MISSING)."""
    if value is MISSING:
        target.pop(key, None)
    else:
        target[key] = value


def maybe(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A field's value, or the field left out."""
    return st.one_of(values, st.just(MISSING))


def schema_outcome(schema: Schema, body: Any) -> tuple[str, Any]:
    """What the schema makes of a payload: its record, or its refusal's messages."""
    try:
        return "record", schema.load(body)
    except ValidationError as exc:
        return "refused", exc.normalized_messages()
