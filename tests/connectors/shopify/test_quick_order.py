"""Order deliveries read the quick way give the record the schema gives, and anything the quick way
cannot vouch for goes to the schema (which words the error)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from connectors.shopify import schemas
from tests.support.shopify import payload

MISSING = object()
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
# Plain values as Shopify sends them, drawn as often as all the others together: the quick way
# must be taken often enough for its records to be compared.
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
money_sets = st.one_of(
    st.none(),
    st.builds(
        lambda amount: {"shop_money": {"amount": amount, "currency_code": "USD"}},
        st.one_of(st.decimals(min_value=0, max_value=10**6, places=2).map(str), amounts),
    ),
    st.sampled_from([{}, {"shop_money": None}, [], "10.00"]),
)


def _set(target: dict[str, Any], key: str, value: Any) -> None:
    if value is MISSING:
        target.pop(key, None)
    else:
        target[key] = value


def _maybe(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A field's value, or the field left out."""
    return st.one_of(values, st.just(MISSING))


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
        _set(body, key, draw(_maybe(ORDER_FIELDS[key])))
    if draw(st.booleans()):
        customer = draw(
            st.one_of(
                st.none(),
                st.fixed_dictionaries({}, optional={"id": ids, "email": texts}),
                st.sampled_from(["x", []]),
            )
        )
        _set(body, "customer", draw(st.one_of(st.just(customer), st.just(MISSING))))
    for line in body["line_items"]:
        for key in draw(st.sets(st.sampled_from(sorted(LINE_FIELDS)), max_size=2)):
            _set(line, key, draw(_maybe(LINE_FIELDS[key])))
        if draw(st.booleans()):
            _set(line, "discount_allocations", draw(_maybe(st.one_of(allocations, st.none()))))
    if draw(st.integers(0, 4)) == 4:
        _set(body, "line_items", draw(st.sampled_from([MISSING, None, "x", [], [None]])))
    if draw(st.booleans()):
        _set(body, "refunds", draw(_maybe(st.one_of(refunds, st.none()))))
    if draw(st.integers(0, 30)) == 30:
        return draw(st.sampled_from([None, [], "order", 3]))
    return body


def _schema_load(body: Any) -> tuple[str, Any]:
    try:
        return "record", PLAIN.load(body)
    except ValidationError as exc:
        return "refused", exc.normalized_messages()


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
