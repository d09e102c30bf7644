"""WooCommerce's documented order and customer shapes, read into store records."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from marshmallow import ValidationError

from connectors.woocommerce.schemas import CUSTOMER, ORDER
from integration.commerce.orders import is_placed
from integration.contract import CheckoutRecord, OrderRecord
from integration.store.models import NON_REVENUE_FINANCIAL_STATUSES, Platform
from integration.web.admin.setup import PLATFORM_NAMES
from tests.support.woocommerce import document


def test_a_guests_order_is_read_with_its_lines_and_buyer_address() -> None:
    record = ORDER.load(document("order_727"))
    assert isinstance(record, OrderRecord)
    assert (record.external_id, record.number, record.customer_id, record.email) == (
        "727",
        "727",
        None,  # customer_id 0: a guest, found by the billing address
        "john.doe@example.com",
    )
    assert (record.currency, record.total_price, record.total_shipping, record.total_tax) == (
        "USD",
        Decimal("29.35"),
        Decimal("10.00"),
        Decimal("1.35"),
    )
    assert record.created_at == datetime(2017, 3, 22, 19, 28, 2, tzinfo=UTC)  # the _gmt time, as UTC
    assert record.updated_at == datetime(2017, 3, 22, 19, 28, 8, tzinfo=UTC)
    assert (record.financial_status, record.cancelled_at, record.checkout_token) == ("paid", None, "727")
    single, variation = record.line_items
    assert (single.title, single.quantity, single.unit_price, single.product_id, single.variant_id) == (
        "Woo Single #1",
        2,
        Decimal("3.0000"),
        "93",
        None,
    )
    assert (variation.title, variation.sku, variation.variant_id, variation.external_id) == (
        "Ship Your Idea – Color: Black, Size: M Test",  # the payload's &ndash;, unescaped
        "Bar3",
        "23",
        "316",
    )
    assert single.sku is None  # "" is no SKU


def test_a_customers_completed_order_carries_its_refunds() -> None:
    record = ORDER.load(document("order_723"))
    assert isinstance(record, OrderRecord)
    assert (record.customer_id, record.fulfillment_status, record.financial_status) == (
        "26",
        "fulfilled",
        "paid",
    )
    assert [(r.external_id, r.amount, r.currency) for r in record.refunds] == [
        ("726", Decimal("10.00"), "USD"),
        ("724", Decimal("9.00"), "USD"),
    ]


@pytest.mark.parametrize(
    ("status", "financial", "cancelled", "placed", "revenue"),
    [
        ("completed", "paid", False, True, True),
        ("processing", "paid", False, True, True),
        ("ready-for-pickup", "paid", False, True, True),
        ("pending", "pending", False, True, True),
        ("on-hold", "pending", False, True, True),
        ("refunded", "refunded", False, True, False),
        ("cancelled", "voided", True, False, False),
        ("failed", "voided", False, False, False),
        ("trash", "voided", False, False, False),
        ("shipped", "shipped", False, True, True),  # a plugin's status: kept as it is named
    ],
)
def test_each_status_counts_as_the_module_says(
    status: str, financial: str, cancelled: bool, placed: bool, revenue: bool
) -> None:
    record = ORDER.load(document("order_723", status=status))
    assert isinstance(record, OrderRecord)
    assert record.financial_status == financial
    assert (record.cancelled_at is not None) == cancelled
    assert is_placed(record) == placed
    assert (placed and financial not in NON_REVENUE_FINANCIAL_STATUSES) == revenue


def test_a_block_checkout_draft_is_an_open_checkout_named_by_the_orders_id() -> None:
    record = ORDER.load(document("order_727", status="checkout-draft"))
    assert isinstance(record, CheckoutRecord)
    assert (record.token, record.email, record.customer_id, record.total_price) == (
        "727",
        "john.doe@example.com",
        None,
        Decimal("29.35"),
    )
    assert [line.title for line in record.line_items] == [
        "Woo Single #1",
        "Ship Your Idea – Color: Black, Size: M Test",
    ]
    assert record.completed_at is None


def test_a_customer_is_read_with_the_billing_phone() -> None:
    record = CUSTOMER.load(document("customer_25"))
    assert (record.external_id, record.email, record.first_name, record.last_name, record.phone) == (
        "25",
        "john.doe@example.com",
        "John",
        "Doe",
        "(555) 555-5555",
    )
    assert record.updated_at == datetime(2017, 3, 21, 19, 9, 30, tzinfo=UTC)
    assert record.subscription_status is None  # WooCommerce keeps no marketing consent


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"date_modified_gmt": "soon"}, "date_modified_gmt"),
        ({"date_modified_gmt": "2999-01-01T00:00:00"}, "date_modified_gmt"),  # beyond our clock
        ({"total": "many"}, "total"),
        ({"id": 0}, "id"),
        ({"currency": "dollars"}, "currency"),
        ({"line_items": [{"name": "x", "quantity": -1, "subtotal": "1", "total": "1"}]}, "line_items"),
    ],
)
def test_a_malformed_order_is_refused_with_the_field_at_fault(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        ORDER.load(document("order_727", **changes))
    assert field in refused.value.messages_dict


def test_the_stores_list_names_every_platform() -> None:
    assert set(PLATFORM_NAMES) == set(Platform)
