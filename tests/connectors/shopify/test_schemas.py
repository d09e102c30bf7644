"""Shopify payload shapes into records: ids, consent, money, times and the contact's email."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from marshmallow import ValidationError

from connectors.shopify import schemas
from integration.store.models import SubscriptionStatus
from tests.support.shopify import payload


@given(st.integers(min_value=1, max_value=2**63))
def test_ids_load_the_same_from_numbers_strings_and_global_ids(number: int) -> None:
    for given_as in (
        number,
        str(number),
        f"gid://shopify/Customer/{number}",
        f"gid://shopify/Order/{number}?x=1",
    ):
        assert schemas.numeric_id(given_as) == str(number)


@pytest.mark.parametrize("bad", ["", "abc", "gid://shopify/Customer/", "12a", "-5", None])
def test_anything_else_is_not_an_id(bad: object) -> None:
    with pytest.raises(ValidationError):
        schemas.numeric_id(bad)


@pytest.mark.parametrize(
    ("state", "status"),
    [
        ("subscribed", SubscriptionStatus.SUBSCRIBED),
        ("SUBSCRIBED", SubscriptionStatus.SUBSCRIBED),
        ("not_subscribed", SubscriptionStatus.UNKNOWN),
        ("pending", SubscriptionStatus.UNKNOWN),
        ("unsubscribed", SubscriptionStatus.UNSUBSCRIBED),
        ("redacted", SubscriptionStatus.UNSUBSCRIBED),
        ("INVALID", SubscriptionStatus.UNSUBSCRIBED),
        (None, None),
    ],
)
def test_consent_states_map_to_subscription_statuses(
    state: str | None, status: SubscriptionStatus | None
) -> None:
    assert schemas.consent_status(state) == status


def test_an_unknown_consent_state_is_an_error_not_a_guess() -> None:
    with pytest.raises(ValidationError):
        schemas.consent_status("double_opt_in_maybe")


def test_the_documented_order_loads_and_unknown_fields_are_ignored() -> None:
    body = payload("orders_create")
    body["a_field_from_a_future_api_version"] = {"nested": True}
    order = schemas.ORDER.load(body)
    assert (order.external_id, order.customer_id, order.email) == (
        "820982911946154508",
        "115310627314723954",
        "john@example.com",
    )
    assert (order.currency, order.total_price, order.subtotal_price) == (
        "USD",
        Decimal("403.00"),
        Decimal("388.00"),
    )
    assert order.created_at.utcoffset().total_seconds() == 0
    assert order.line_items[0].variant_title is None  # Shopify's null, and "" as well


def test_a_customer_without_an_email_falls_back_to_the_orders_email() -> None:
    body = payload("orders_create")
    body["customer"]["email"] = None
    assert schemas.ORDER.load(body).email == "jon@example.com"


@pytest.mark.parametrize("missing", ["id", "created_at", "updated_at", "currency", "total_price"])
def test_an_order_missing_a_required_field_is_refused_by_name(missing: str) -> None:
    body = payload("orders_create")
    del body[missing]
    with pytest.raises(ValidationError) as raised:
        schemas.ORDER.load(body)
    assert missing in raised.value.messages


def test_a_naive_time_is_refused() -> None:
    body = payload("orders_create")
    body["updated_at"] = "2026-07-10T12:00:01"
    with pytest.raises(ValidationError):
        schemas.ORDER.load(body)


def test_a_checkout_is_keyed_by_its_token_and_blank_skus_are_none() -> None:
    body = payload("checkouts_create")
    body["line_items"][0]["sku"] = ""
    checkout = schemas.CHECKOUT.load(body)
    assert (checkout.token, checkout.customer_id, checkout.email) == (
        "123123123",
        "603851970716743426",
        "example@email.com",
    )
    # The customer's email finds the contact, as for orders; the checkout keeps its own.
    assert checkout.customer_email == "john@example.com"
    assert checkout.line_items[0].sku is None


def test_customer_payloads_of_older_versions_still_bring_consent_and_tags() -> None:
    body = payload("customers_create")
    body["tags"] = "vip, wholesale ,"
    body["email_marketing_consent"] = {"state": "subscribed", "consent_updated_at": "2024-01-01T00:00:00Z"}
    customer = schemas.CUSTOMER.load(body)
    assert customer.tags == ["vip", "wholesale"]
    assert customer.subscription_status == SubscriptionStatus.SUBSCRIBED
    current = schemas.CUSTOMER.load(payload("customers_create"))
    assert (current.tags, current.subscription_status) == (None, None)


@pytest.mark.parametrize(
    ("url", "token", "cart_token"),
    [
        ("https://shop.myshopify.com/548380009/checkouts/123123123/recover?key=k", "123123123", None),
        # Real shops name the cart: the checkout is known by its cart token until its own is known.
        (
            "https://shop.myshopify.com/59026964593/checkouts/ac/Z2NwLXVzLWVhc3QxOjAxSkJaTUVR/recover?key=k",
            "Z2NwLXVzLWVhc3QxOjAxSkJaTUVR",
            "Z2NwLXVzLWVhc3QxOjAxSkJaTUVR",
        ),
        (None, "abandoned-20", None),
    ],
)
def test_an_abandoned_checkout_read_over_graphql_gets_its_identity_from_its_recovery_url(
    url: str | None, token: str, cart_token: str | None
) -> None:
    node = {
        "id": "gid://shopify/AbandonedCheckout/20",
        "abandonedCheckoutUrl": url,
        "createdAt": "2026-10-05T10:00:00Z",
        "updatedAt": "2026-10-05T10:05:00Z",
        "completedAt": None,
        "totalPriceSet": {"shopMoney": {"amount": "12.50", "currencyCode": "EUR"}},
        "customer": None,
        "lineItems": {"edges": []},
    }
    checkout = schemas.GRAPH_SCHEMAS["checkouts"].load(node)
    assert (checkout.token, checkout.cart_token) == (token, cart_token)
    assert (checkout.currency, checkout.total_price) == ("EUR", Decimal("12.50"))


def test_an_abandoned_checkout_read_over_graphql_keeps_its_own_email_beside_its_customers() -> None:
    node = {
        "id": "gid://shopify/AbandonedCheckout/20",
        "abandonedCheckoutUrl": None,
        "createdAt": "2026-10-05T10:00:00Z",
        "updatedAt": "2026-10-05T10:05:00Z",
        "completedAt": None,
        "totalPriceSet": {"shopMoney": {"amount": "12.50", "currencyCode": "EUR"}},
        "email": "example@email.com",
        "customer": {"id": "gid://shopify/Customer/7", "email": "john@example.com"},
        "lineItems": {"edges": []},
    }
    checkout = schemas.GRAPH_SCHEMAS["checkouts"].load(node)
    assert (checkout.customer_id, checkout.email, checkout.customer_email) == (
        "7",
        "example@email.com",
        "john@example.com",
    )


def test_an_order_read_over_graphql_brings_its_refunds_and_its_lines_allocated_discounts() -> None:
    def money(amount: str) -> dict[str, dict[str, str]]:
        return {"shopMoney": {"amount": amount, "currencyCode": "USD"}}

    node = {
        "id": "gid://shopify/Order/450789469",
        "name": "#1001",
        "createdAt": "2026-10-01T10:00:00Z",
        "updatedAt": "2026-10-02T10:00:00Z",
        "displayFinancialStatus": "PARTIALLY_REFUNDED",
        "currencyCode": "USD",
        "totalPriceSet": money("598.94"),
        "totalDiscountsSet": money("10.00"),
        "refunds": [
            {
                "id": "gid://shopify/Refund/509562969",
                "createdAt": "2026-10-02T09:00:00Z",
                "totalRefundedSet": money("209.00"),
            }
        ],
        "lineItems": {
            "edges": [
                {
                    "node": {
                        "id": "gid://shopify/LineItem/466157049",
                        "title": "IPod Nano - 8gb",
                        "quantity": 1,
                        "originalUnitPriceSet": money("199.00"),
                        "totalDiscountSet": money("0.00"),
                        "discountAllocations": [{"allocatedAmountSet": money("3.34")}],
                    }
                },
                {
                    "node": {
                        "id": "gid://shopify/LineItem/518995019",
                        "title": "IPod Nano - 8gb",
                        "quantity": 1,
                        "originalUnitPriceSet": money("199.00"),
                        "totalDiscountSet": money("0.00"),
                        "discountAllocations": [],
                    }
                },
            ]
        },
    }
    order = schemas.GRAPH_SCHEMAS["orders"].load(node)
    [refund] = order.refunds
    assert (refund.external_id, refund.order_external_id) == ("509562969", "450789469")
    assert (refund.amount, refund.currency) == (Decimal("209.00"), "USD")
    assert [line.total_discount for line in order.line_items] == [Decimal("3.34"), Decimal("0.00")]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("totalPriceSet", {"shopMoney": {"amount": "-1.00", "currencyCode": "USD"}}),
        ("updatedAt", "2999-01-01T00:00:00Z"),
        ("createdAt", "1900-01-01T00:00:00Z"),
        ("createdAt", "0001-01-01T00:00:00+01:00"),
    ],
)
def test_an_order_read_over_graphql_is_bounded_as_a_delivered_one(field: str, value: object) -> None:
    node = {
        "id": "gid://shopify/Order/1",
        "createdAt": "2026-10-01T10:00:00Z",
        "updatedAt": "2026-10-02T10:00:00Z",
        "currencyCode": "USD",
        "totalPriceSet": {"shopMoney": {"amount": "1.00", "currencyCode": "USD"}},
        field: value,
    }
    with pytest.raises(ValidationError) as refused:
        schemas.GRAPH_SCHEMAS["orders"].load(node)
    assert field in refused.value.messages
