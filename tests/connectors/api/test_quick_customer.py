"""Customers read the quick way (CSV rows, mostly) give the record `CustomerSchema` gives, and anything
the quick way cannot vouch for goes to the schema (which words the error)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from connectors.api.schemas import SCHEMAS, quick_customer
from tests.support.quick_payloads import MISSING, maybe, plain_times, schema_outcome, set_field, texts, times

SCHEMA = SCHEMAS["customers"]
PLAIN = {
    "id": "1001",
    "email": "anna.nowak@example.com",
    "first_name": "Anna",
    "last_name": "Nowak",
    "phone": "+48 600 000 001",
    "subscription_status": "subscribed",
    "subscription_changed_at": "2026-03-01T09:00:00+01:00",
    "tags": ["vip", "b2b"],
    "created_at": "2025-01-01T00:00:00Z",
    "updated_at": "2026-04-01T10:00:00+02:00",
}
emails = st.one_of(
    st.emails().map(str),
    st.sampled_from(
        [
            "a@b.c",
            "a..b@example.com",
            ".a@example.com",
            "a@example",
            "a@localhost",
            "a@[127.0.0.1]",
            '"quoted name"@example.com',
            "Ünï@exämple.com",
            "a@-example.com",
            "a@example.com ",
            "@example.com",
            "a@",
            "x" * 310 + "@example.com",
            "x" * 320 + "@example.com",
        ]
    ),
    texts,
)


def lengths(most: int) -> st.SearchStrategy[Any]:
    """Texts around a `Length(max=most)` bound, and every other kind of value."""
    return st.one_of(
        st.text(max_size=8),
        st.sampled_from(["", "x" * most, "x" * (most + 1), "ż" * most]),
        texts,
    )


FIELDS = {
    "id": st.one_of(lengths(64), st.integers()),
    "email": emails,
    "first_name": lengths(200),
    "last_name": lengths(200),
    "phone": lengths(40),
    "subscription_status": st.sampled_from(
        ["subscribed", "unsubscribed", "unknown", "pending", "Subscribed", "", None, 1, ["subscribed"]]
    ),
    "subscription_changed_at": st.one_of(plain_times, times),
    "tags": st.one_of(
        st.lists(st.one_of(st.text(max_size=4), st.sampled_from(["", "x" * 255, "x" * 256, None, 3]))),
        st.none(),
        st.sampled_from(["vip", {}, ("a",)]),
    ),
    "created_at": st.one_of(plain_times, times),
    "updated_at": st.one_of(plain_times, times),
}


@st.composite
def customers(draw: st.DrawFn) -> Any:
    """A plain customer record with some of its fields changed, dropped or mistyped."""
    body = dict(PLAIN)
    for key in draw(st.sets(st.sampled_from(sorted(FIELDS)), max_size=4)):
        set_field(body, key, draw(maybe(FIELDS[key])))
    if draw(st.integers(0, 20)) == 20:
        body[draw(st.sampled_from(["Email", "note", "external_id"]))] = "x"
    if draw(st.integers(0, 40)) == 40:
        return draw(st.sampled_from([None, [], "customer", 3]))
    return body


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(customers())
@example(PLAIN)
@example({"id": "1", "updated_at": "2026-04-01T10:00:00+02:00"})
def test_the_quick_way_and_the_schema_agree(body: Any) -> None:
    quick = quick_customer(body)
    outcome, expected = schema_outcome(SCHEMA, body)
    if quick is not None:
        assert outcome == "record"
        assert repr(quick) == repr(expected)


def test_a_plain_row_is_read_the_quick_way() -> None:
    quick = quick_customer(PLAIN)
    assert quick is not None
    assert repr(quick) == repr(SCHEMA.load(PLAIN))
    assert quick_customer({"id": "1", "updated_at": "2026-04-01T10:00:00+02:00"}) is not None


def test_what_the_schema_refuses_is_left_to_it() -> None:
    for key, value in (
        ("email", "not an address"),
        ("updated_at", "2026-04-01T10:00:00"),
        ("subscription_status", "maybe"),
        ("tags", ["ok", ""]),
        ("phone", "1" * 41),
    ):
        body = dict(PLAIN)
        set_field(body, key, value)
        assert quick_customer(body) is None, key
        assert schema_outcome(SCHEMA, body)[0] == "refused", key
    body = dict(PLAIN)
    set_field(body, "id", MISSING)
    assert quick_customer(body) is None
