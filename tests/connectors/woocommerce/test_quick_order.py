"""WooCommerce orders read the quick way give the record the schema gives (a draft's checkout too),
and anything the quick way cannot vouch for goes to the schema (which words the error)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from connectors.woocommerce import schemas
from integration.contract import CheckoutRecord, OrderRecord
from tests.support.quick_payloads import (
    MISSING,
    amounts,
    maybe,
    plain_amounts,
    plain_texts,
    quantities,
    schema_outcome,
    set_field,
    texts,
    times,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "woocommerce"


def _order() -> dict[str, Any]:
    """Order 727 of WooCommerce's REST documentation."""
    data: dict[str, Any] = json.loads((FIXTURES / "order_727.json").read_text())
    return data


ids = st.one_of(
    st.integers(min_value=1, max_value=2**63 - 1),
    st.sampled_from([0, -1, 2**63, True, "727", 7.0, None]),
)
whole = st.one_of(st.integers(min_value=0, max_value=10**6), st.sampled_from([-1, True, "3", 2.0, None]))
# WooCommerce's `_gmt` times: UTC without a zone; with one, it is honoured.
plain_gmt = st.datetimes(
    min_value=datetime(1990, 1, 2),  # noqa: DTZ001 - Hypothesis takes naive bounds
    max_value=datetime(2026, 1, 1),  # noqa: DTZ001
).map(lambda moment: moment.isoformat(timespec="seconds"))
signed_amounts = st.decimals(min_value=-(10**6), max_value=10**6, places=2).map(str)
statuses = st.sampled_from(
    ["processing", "completed", "pending", "cancelled", "refunded", "checkout-draft", "", "x" * 33, "custom"]
)
currencies = st.sampled_from(["USD", "eur", "PLN", "US", "USDX", "US1", "USD\n", "", "złt"])

ORDER_FIELDS = {
    "id": ids,
    "number": st.one_of(plain_texts, texts),
    "status": st.one_of(statuses, texts),
    "currency": st.one_of(currencies, texts),
    "date_created_gmt": st.one_of(plain_gmt, times),
    "date_modified_gmt": st.one_of(plain_gmt, times),
    "total": st.one_of(plain_amounts, amounts),
    "discount_total": st.one_of(plain_amounts, amounts),
    "shipping_total": st.one_of(signed_amounts, amounts),
    "total_tax": st.one_of(plain_amounts, amounts),
    "customer_id": whole,
}
LINE_FIELDS = {
    "id": ids,
    "name": st.one_of(plain_texts, texts),
    "product_id": whole,
    "variation_id": whole,
    "quantity": quantities,
    "sku": st.one_of(plain_texts, texts),
    "subtotal": st.one_of(signed_amounts, amounts),
    "total": st.one_of(plain_amounts, amounts),
}
billings = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            key: st.one_of(plain_texts, texts) for key in ("first_name", "last_name", "email", "phone")
        },
    ),
    st.sampled_from([None, "x", []]),
)
refunds = st.lists(
    st.one_of(
        st.fixed_dictionaries({"id": ids, "total": st.one_of(signed_amounts, amounts)}),
        st.just(None),
    ),
    max_size=2,
)


@st.composite
def orders(draw: st.DrawFn) -> Any:
    """Order 727 with one or two of its fields (its own, a line's, its billing, its refunds or
    lines) changed, dropped or mistyped: few enough that a wrong value is often the only one."""
    body = copy.deepcopy(_order())
    for _ in range(draw(st.integers(1, 2))):
        where = draw(st.sampled_from(["order", "line", "billing", "refunds", "lines", "payload"]))
        if where == "order":
            key = draw(st.sampled_from(sorted(ORDER_FIELDS)))
            set_field(body, key, draw(maybe(ORDER_FIELDS[key])))
        elif where == "line" and body.get("line_items"):
            key = draw(st.sampled_from(sorted(LINE_FIELDS)))
            line = draw(st.sampled_from(body["line_items"]))
            if isinstance(line, dict):
                set_field(line, key, draw(maybe(LINE_FIELDS[key])))
        elif where == "billing":
            set_field(body, "billing", draw(maybe(billings)))
        elif where == "refunds":
            set_field(body, "refunds", draw(maybe(st.one_of(refunds, st.none()))))
        elif where == "lines":
            set_field(body, "line_items", draw(st.sampled_from([MISSING, None, "x", [], [None]])))
        elif where == "payload" and draw(st.integers(0, 9)) == 9:
            return draw(st.sampled_from([None, [], "order", 3]))
    return body


def _agree(body: Any) -> None:
    quick = schemas.quick_order(body)
    outcome, expected = schema_outcome(schemas.ORDER, body)
    if quick is not None:
        # the same record down to each amount's digits and each time's zone
        assert outcome == "record"
        assert repr(quick) == repr(expected)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(orders())
@example(_order())
def test_the_quick_way_and_the_schema_agree(body: Any) -> None:
    _agree(body)


# Each value at an edge of what the schema takes, alone in the order: drawn above only now and then.
ORDER_EDGES = [
    ("status", "x" * 32),
    ("status", "x" * 33),
    ("status", ""),
    ("currency", "usd"),
    ("currency", "USD\n"),
    ("currency", "US"),
    ("id", 0),
    ("id", True),
    ("id", 2**63 - 1),
    ("id", 2**63),
    ("number", 727),
    ("number", None),
    ("customer_id", -1),
    ("customer_id", True),
    ("customer_id", None),
    ("total", "-999999999999.99"),
    ("total", "-1000000000000"),
    ("total", " 5 "),
    ("total", "NaN"),
    ("total", 29.35),
    ("discount_total", None),
    ("date_created_gmt", "2026-07-10T12:00:00+02:00"),
    ("date_created_gmt", " 2017-03-22T19:28:02 "),
    ("date_created_gmt", "1989-12-31T23:59:59"),
    ("date_created_gmt", "2017-03-22"),
    ("billing", {}),
    ("billing", None),
    ("billing", {"email": 3}),
]
LINE_EDGES = [
    ("quantity", 0),
    ("quantity", -1),
    ("quantity", 1_000_000),
    ("quantity", 1_000_001),
    ("quantity", True),
    ("product_id", None),
    ("product_id", -1),
    ("variation_id", 7),
    ("id", 0),
    ("id", None),
    ("name", None),
    ("sku", None),
    ("subtotal", "-1.00"),
    ("total", "7.00"),
]


@pytest.mark.parametrize(("field", "value"), ORDER_EDGES)
def test_an_order_field_at_an_edge_agrees(field: str, value: Any) -> None:
    body = _order()
    body[field] = value
    _agree(body)


@pytest.mark.parametrize(("field", "value"), LINE_EDGES)
def test_a_line_field_at_an_edge_agrees(field: str, value: Any) -> None:
    body = _order()
    body["line_items"][0][field] = value
    _agree(body)


def test_the_documented_order_is_read_the_quick_way() -> None:
    quick = schemas.quick_order(_order())
    assert isinstance(quick, OrderRecord)
    assert repr(quick) == repr(schemas.ORDER.load(_order()))


def test_a_block_checkouts_draft_is_read_the_quick_way_as_a_checkout() -> None:
    body = _order()
    body.update(status="checkout-draft", customer_id=5, refunds=[])
    quick = schemas.quick_order(body)
    assert isinstance(quick, CheckoutRecord)
    assert repr(quick) == repr(schemas.ORDER.load(body))


def test_an_order_with_a_refund_and_a_discount_is_read_the_quick_way() -> None:
    body = _order()
    body["line_items"][0].update(subtotal="6.00", total="4.50")
    body["refunds"] = [{"id": 726, "reason": "", "total": "-10.00"}]
    quick = schemas.quick_order(body)
    assert isinstance(quick, OrderRecord)
    assert [(r.external_id, r.amount) for r in quick.refunds] == [("726", schemas.Decimal("10.00"))]
    assert quick.line_items[0].total_discount == schemas.Decimal("1.50")
    assert repr(quick) == repr(schemas.ORDER.load(body))


@pytest.mark.parametrize("ahead", [timedelta(hours=2), timedelta(days=400)])
def test_a_time_ahead_of_the_clock_is_left_to_the_schema_which_refuses_it(ahead: timedelta) -> None:
    body = _order()
    body["date_modified_gmt"] = (datetime.now(UTC) + ahead).replace(tzinfo=None).isoformat()
    assert schemas.quick_order(body) is None
    outcome, messages = schema_outcome(schemas.ORDER, body)
    assert outcome == "refused"
    assert "date_modified_gmt" in messages
