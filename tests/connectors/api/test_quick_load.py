"""Records read the quick way (CSV rows, mostly) give the record the API's schema gives, and anything
the quick way cannot vouch for goes to the schema (which words the error)."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from connectors.api.quick_load import quick_load
from connectors.api.schemas import SCHEMAS
from tests.support.quick_payloads import (
    MISSING,
    amounts,
    maybe,
    plain_amounts,
    plain_times,
    quantities,
    schema_outcome,
    set_field,
    texts,
    times,
)

SCHEMA = SCHEMAS["customers"]


def quick_customer(body: Any) -> Any:
    return quick_load(SCHEMA, body)


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


ORDERS = SCHEMAS["orders"]
PLAIN_ORDER = {
    "id": "1001",
    "number": "1001",
    "name": "#1001",
    "customer_id": "c1",
    "email": "anna.nowak@example.com",
    "created_at": "2026-03-01T09:00:00+01:00",
    "updated_at": "2026-03-02T09:00:00+01:00",
    "financial_status": "paid",
    "currency": "EUR",
    "total_price": "59.80",
    "total_refunded": "5.00",
    "line_items": [
        {"title": "Linen shirt", "quantity": "1", "price": "29.90", "product_id": "p1", "sku": "LS-1"},
        {"title": "Scarf", "quantity": "2", "price": "14.95", "total_discount": "1.00"},
    ],
}
ORDER_FIELDS = {
    "id": st.one_of(lengths(64), st.integers()),
    "number": lengths(64),
    "name": lengths(64),
    "customer_id": st.one_of(lengths(64), st.none()),
    "email": emails,
    "created_at": st.one_of(plain_times, times),
    "updated_at": st.one_of(plain_times, times),
    "processed_at": st.one_of(plain_times, times),
    "cancelled_at": st.one_of(plain_times, times),
    "financial_status": lengths(32),
    "fulfillment_status": lengths(32),
    "currency": st.sampled_from(["EUR", "eur", "EURO", "EUR\n", "", None, 978]),
    "total_price": st.one_of(plain_amounts, amounts),
    "subtotal_price": st.one_of(plain_amounts, amounts),
    "total_discounts": amounts,
    "total_shipping": amounts,
    "total_tax": amounts,
    "checkout_token": lengths(255),
    "cart_token": lengths(255),
    "source_name": lengths(64),
    "total_refunded": st.one_of(plain_amounts, amounts),
    "line_items": st.sampled_from([[], None, "x", [None], [{}]]),
}
LINE_FIELDS = {
    "id": lengths(64),
    "title": st.one_of(lengths(500), st.just("")),
    "quantity": st.one_of(
        quantities,
        st.sampled_from(["1", "01", " 1", "1.0", "-1", "0", "2147483647", "2147483648", "１", "1_000"]),
    ),
    "price": st.one_of(plain_amounts, amounts),
    "total_discount": amounts,
    "product_id": lengths(64),
    "variant_id": lengths(64),
    "sku": lengths(255),
    "variant_title": lengths(500),
}


@st.composite
def orders(draw: st.DrawFn) -> Any:
    """A plain order with some of its fields, and its lines' fields, changed, dropped or mistyped."""
    body = copy.deepcopy(PLAIN_ORDER)
    for key in draw(st.sets(st.sampled_from(sorted(ORDER_FIELDS)), max_size=3)):
        set_field(body, key, draw(maybe(ORDER_FIELDS[key])))
    if isinstance(body.get("line_items"), list):
        for line in body["line_items"]:
            if isinstance(line, dict):
                for key in draw(st.sets(st.sampled_from(sorted(LINE_FIELDS)), max_size=2)):
                    set_field(line, key, draw(maybe(LINE_FIELDS[key])))
                if draw(st.integers(0, 30)) == 30:
                    line["colour"] = "blue"
    if draw(st.integers(0, 20)) == 20:
        body.pop("customer_id", None)
        body[draw(st.sampled_from(["email", "customer_id"]))] = draw(st.sampled_from(["", None]))
    return body


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(orders())
@example(PLAIN_ORDER)
def test_orders_the_quick_way_and_the_schema_agree(body: Any) -> None:
    quick = quick_load(ORDERS, body)
    outcome, expected = schema_outcome(ORDERS, body)
    if quick is not None:
        assert outcome == "record"
        assert repr(quick) == repr(expected)


def test_a_plain_order_is_read_the_quick_way() -> None:
    quick = quick_load(ORDERS, PLAIN_ORDER)
    assert quick is not None
    assert repr(quick) == repr(ORDERS.load(PLAIN_ORDER))
    assert [line.quantity for line in quick.line_items] == [1, 2]
    assert [refund.external_id for refund in quick.refunds] == ["1001:refunded"]


def test_an_order_naming_nobody_is_left_to_the_schema() -> None:
    body = copy.deepcopy(PLAIN_ORDER)
    del body["customer_id"], body["email"]
    assert quick_load(ORDERS, body) is None
    assert schema_outcome(ORDERS, body)[0] == "refused"
