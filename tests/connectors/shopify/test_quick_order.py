"""Order deliveries read the quick way give the record the schema gives, and anything the quick way
cannot vouch for goes to the schema (which words the error)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from connectors.shopify import schemas
from tests.support.quick_payloads import (
    MISSING,
    amounts,
    maybe,
    plain_amounts,
    plain_ids,
    plain_texts,
    plain_times,
    quantities,
    schema_outcome,
    set_field,
    texts,
    times,
)
from tests.support.shopify import payload

PLAIN = schemas.ORDER

# Values a field may be given: the plain ones Shopify sends and every kind the schema treats apart.
ids = st.one_of(
    st.integers(min_value=0, max_value=2**63),
    st.integers(max_value=-1),
    st.sampled_from(
        ["12", "gid://shopify/Order/12", "gid://shopify/Order/12?x=1", "", "12a", "-3", "１２", "²"]
    ),
    st.booleans(),
    st.floats(allow_nan=True),
    st.none(),
)
money_sets = st.one_of(
    st.none(),
    st.builds(
        lambda amount: {"shop_money": {"amount": amount, "currency_code": "USD"}},
        st.one_of(st.decimals(min_value=0, max_value=10**6, places=2).map(str), amounts),
    ),
    st.sampled_from([{}, {"shop_money": None}, [], "10.00"]),
)


ORDER_FIELDS = {
    "id": st.one_of(plain_ids, ids),
    "name": st.one_of(plain_texts, texts),
    "order_number": st.one_of(st.integers(), st.sampled_from(["12", 12.0, 12.5, True, None, "x"])),
    "email": st.one_of(plain_texts, texts),
    "contact_email": st.one_of(plain_texts, texts),
    "created_at": st.one_of(plain_times, times),
    "updated_at": st.one_of(plain_times, times),
    "processed_at": st.one_of(plain_times, times),
    "cancelled_at": st.one_of(plain_times, times),
    "financial_status": st.one_of(plain_texts, texts),
    "fulfillment_status": st.one_of(plain_texts, texts),
    "currency": st.one_of(plain_texts, texts),
    "total_price": st.one_of(plain_amounts, amounts),
    "subtotal_price": st.one_of(plain_amounts, amounts),
    "total_discounts": st.one_of(plain_amounts, amounts),
    "total_tax": st.one_of(plain_amounts, amounts),
    "total_shipping_price_set": money_sets,
    "checkout_token": st.one_of(plain_texts, texts),
    "cart_token": st.one_of(plain_texts, texts),
    "source_name": st.one_of(plain_texts, texts),
}
LINE_FIELDS = {
    "id": st.one_of(plain_ids, ids),
    "product_id": st.one_of(plain_ids, ids),
    "variant_id": st.one_of(plain_ids, ids),
    "sku": st.one_of(plain_texts, texts),
    "title": st.one_of(plain_texts, texts),
    "variant_title": st.one_of(plain_texts, texts),
    "quantity": quantities,
    "price": st.one_of(plain_amounts, amounts),
    "total_discount": st.one_of(plain_amounts, amounts),
}
allocations = st.lists(
    st.one_of(
        st.fixed_dictionaries(
            {}, optional={"amount": st.one_of(plain_amounts, amounts), "amount_set": money_sets}
        ),
        st.sampled_from([None, "x", []]),
    ),
    max_size=2,
)
transactions = st.lists(
    st.one_of(
        st.fixed_dictionaries(
            {
                "kind": st.sampled_from(["refund", "sale", None, 3]),
                "status": st.sampled_from(["success", "failure", None]),
            },
            optional={"amount": amounts, "currency": st.sampled_from(["USD", "EUR", "", None, 1])},
        ),
        st.just("x"),
    ),
    max_size=3,
)
refunds = st.lists(
    st.one_of(
        st.fixed_dictionaries(
            {"id": ids, "order_id": ids, "created_at": times},
            optional={"processed_at": times, "transactions": st.one_of(transactions, st.none())},
        ),
        st.just(None),
    ),
    max_size=2,
)


@st.composite
def orders(draw: st.DrawFn) -> Any:
    """The documented `orders/create` payload with some of its fields changed, dropped or mistyped."""
    body = copy.deepcopy(payload("orders_create"))
    for key in draw(st.sets(st.sampled_from(sorted(ORDER_FIELDS)), max_size=4)):
        set_field(body, key, draw(maybe(ORDER_FIELDS[key])))
    if draw(st.booleans()):
        customer = draw(
            st.one_of(
                st.none(),
                st.fixed_dictionaries({}, optional={"id": ids, "email": texts}),
                st.sampled_from(["x", []]),
            )
        )
        set_field(body, "customer", draw(st.one_of(st.just(customer), st.just(MISSING))))
    for line in body["line_items"]:
        for key in draw(st.sets(st.sampled_from(sorted(LINE_FIELDS)), max_size=2)):
            set_field(line, key, draw(maybe(LINE_FIELDS[key])))
        if draw(st.booleans()):
            set_field(line, "discount_allocations", draw(maybe(st.one_of(allocations, st.none()))))
    if draw(st.integers(0, 4)) == 4:
        set_field(body, "line_items", draw(st.sampled_from([MISSING, None, "x", [], [None]])))
    if draw(st.booleans()):
        set_field(body, "refunds", draw(maybe(st.one_of(refunds, st.none()))))
    if draw(st.integers(0, 30)) == 30:
        return draw(st.sampled_from([None, [], "order", 3]))
    return body


def _schema_load(body: Any) -> tuple[str, Any]:
    return schema_outcome(PLAIN, body)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(orders())
@example(payload("orders_create"))
def test_the_quick_way_and_the_schema_agree(body: Any) -> None:
    quick = schemas.quick_order(body)
    outcome, expected = _schema_load(body)
    if quick is not None:
        # the same record down to each amount's digits and each time's zone
        assert outcome == "record"
        assert repr(quick) == repr(expected)


@pytest.mark.parametrize("name", ["orders_create", "rest_order", "pixel_testing_rs_orders_create"])
def test_documented_orders_are_read_the_quick_way(name: str) -> None:
    body = payload(name)
    body = body.get("order", body)
    quick = schemas.quick_order(body)
    assert quick is not None
    assert repr(quick) == repr(PLAIN.load(body))


def test_an_order_with_lines_discounts_and_a_refund_is_read_the_quick_way() -> None:
    body = payload("orders_create")
    body["line_items"][0]["discount_allocations"] = [
        {"amount": "5.00", "amount_set": {"shop_money": {"amount": "4.50", "currency_code": "USD"}}},
        {"amount": "1.25"},
    ]
    body["refunds"] = [
        {
            "id": 509562969,
            "order_id": body["id"],
            "created_at": "2026-07-11T10:00:00-04:00",
            "processed_at": "2026-07-11T10:00:05-04:00",
            "transactions": [
                {"kind": "refund", "status": "success", "amount": "41.94", "currency": "USD"},
                {"kind": "refund", "status": "failure", "amount": "9.00", "currency": "USD"},
            ],
        }
    ]
    quick = schemas.quick_order(body)
    assert quick is not None
    assert quick.line_items[0].total_discount == schemas.Decimal("5.75")
    assert [(r.amount, r.currency, r.created_at) for r in quick.refunds] == [
        (schemas.Decimal("41.94"), "USD", datetime(2026, 7, 11, 14, 0, 5, tzinfo=UTC))
    ]
    assert repr(quick) == repr(PLAIN.load(body))


def test_a_time_ahead_of_the_clock_is_left_to_the_schema_which_refuses_it() -> None:
    body = payload("orders_create")
    body["updated_at"] = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    assert schemas.quick_order(body) is None
    with pytest.raises(ValidationError) as refused:
        schemas.ORDER.load(body)
    assert "updated_at" in refused.value.normalized_messages()


def test_a_time_at_or_after_the_given_bound_is_left_to_the_caller() -> None:
    body = payload("orders_create")  # updated at 2026-07-10T16:00:01Z
    updated = datetime(2026, 7, 10, 16, 0, 1, tzinfo=UTC)
    assert schemas.quick_order(body, latest=updated) is None
    taken = schemas.quick_order(body, latest=updated + timedelta(microseconds=1))
    assert taken is not None
    assert taken.updated_at == updated


@pytest.mark.parametrize("shop_amount", ["-5.00", "1000000000000"])
def test_a_line_discounted_below_zero_or_beyond_the_bound_is_refused_on_both_ways(shop_amount: str) -> None:
    body = payload("orders_create")
    body["line_items"][0]["discount_allocations"] = [
        {"amount": "1.00", "amount_set": {"shop_money": {"amount": shop_amount, "currency_code": "USD"}}}
    ]
    assert schemas.quick_order(body) is None
    with pytest.raises(ValidationError) as refused:
        schemas.ORDER.load(body)
    assert "discount_allocations" in str(refused.value.normalized_messages())
