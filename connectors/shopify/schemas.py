"""Shopify's payload shapes, validated into store records.

Webhook payloads (REST-style, snake_case) and the Admin GraphQL shapes read by the backfill and
the reconciliation (camelCase, global ids) both end as the same records. Unknown fields are
excluded: Shopify adds fields between API versions, and a new field must not fail a delivery.

Consent mapping (Shopify's email marketing state to ours): `subscribed` is subscribed;
`not_subscribed` and `pending` are unknown; `unsubscribed`, `redacted` and `invalid` are
unsubscribed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load, pre_load, validate

from connectors import quick
from connectors.times import UTCTime, not_ahead, parse_instant
from integration.contract import CheckoutRecord, CustomerRecord, LineItemRecord, OrderRecord, RefundRecord
from integration.settings import get_settings
from integration.store.models import SubscriptionStatus

CONSENT = {
    "subscribed": SubscriptionStatus.SUBSCRIBED,
    "not_subscribed": SubscriptionStatus.UNKNOWN,
    "pending": SubscriptionStatus.UNKNOWN,
    "unsubscribed": SubscriptionStatus.UNSUBSCRIBED,
    "redacted": SubscriptionStatus.UNSUBSCRIBED,
    "invalid": SubscriptionStatus.UNSUBSCRIBED,
}
GID_PREFIX = "gid://shopify/"
# What Shopify sends, bounded: amounts (totals, prices, discounts, refunds paid) are never negative
# (an order's negative adjustments are not read), and a trillion of any currency's unit is far
# beyond any order, even in currencies of large nominal values (VND, IRR).
MAX_AMOUNT = Decimal(10) ** 12
# Line quantities are whole and never negative (0 after an edit removed the line); a million of one
# line is beyond any real order.
MAX_QUANTITY = 1_000_000
NO_CURRENCY = "XXX"


def consent_status(state: str | None) -> SubscriptionStatus | None:
    """Map a Shopify email marketing state (any case) to a subscription status; None when absent."""
    if not state:
        return None
    try:
        return CONSENT[state.lower()]
    except KeyError as exc:
        raise ValidationError(f"unknown email marketing state {state!r}") from exc


def numeric_id(value: Any) -> str:
    """Return the numeric id of a Shopify id given as a number, a string or a global id."""
    text = str(value)
    if text.startswith(GID_PREFIX):
        text = text.rsplit("/", 1)[-1].split("?", 1)[0]
    if not text.isdigit():
        raise ValidationError(f"not a Shopify id: {value!r}")
    return text


class ShopifyId(fields.Field):  # type: ignore[type-arg]
    """A Shopify id (number, numeric string or gid) loaded as its numeric string."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        return numeric_id(value)


class _Payload(Schema):
    class Meta:
        unknown = EXCLUDE


def _time(**kwargs: Any) -> UTCTime:
    # Shopify's records describe the past: a time beyond our clock plus a small skew is refused.
    return UTCTime(latest=not_ahead(), **kwargs)


def _utc(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC) if value is not None else None


def _utc_all(data: dict[str, Any]) -> dict[str, Any]:
    return {k: _utc(v) if isinstance(v, datetime) else v for k, v in data.items()}


def _amount(value: Decimal) -> None:
    if value < 0:
        raise ValidationError("Must be greater than or equal to 0.")
    if value >= MAX_AMOUNT:
        raise ValidationError(f"Must be less than {MAX_AMOUNT:f}.")


def _money(**kwargs: Any) -> fields.Decimal:
    return fields.Decimal(allow_nan=False, validate=_amount, **kwargs)


def _quantity(**kwargs: Any) -> fields.Integer:
    return fields.Integer(strict=True, validate=validate.Range(min=0, max=MAX_QUANTITY), **kwargs)


class CustomerRef(_Payload):
    id = ShopifyId(allow_none=True)
    email = fields.String(allow_none=True)


class ConsentSchema(_Payload):
    state = fields.String(allow_none=True)
    opt_in_level = fields.String(allow_none=True)
    consent_updated_at = _time(allow_none=True)


# --- webhooks -------------------------------------------------------------------------------


class DiscountAllocation(_Payload):
    amount = _money(allow_none=True)
    amount_set = fields.Dict(allow_none=True)


class WebhookLineItem(_Payload):
    external_id = ShopifyId(data_key="id", allow_none=True)
    product_id = ShopifyId(allow_none=True)
    variant_id = ShopifyId(allow_none=True)
    sku = fields.String(allow_none=True)
    title = fields.String(required=True)
    variant_title = fields.String(allow_none=True)
    quantity = _quantity(required=True)
    unit_price = _money(data_key="price", required=True)
    total_discount = _money(allow_none=True)
    discount_allocations = fields.List(fields.Nested(DiscountAllocation), load_default=list)

    @post_load
    def _build(self, data: dict[str, Any], **_: Any) -> LineItemRecord:
        return _webhook_line(data)


def _webhook_line(data: dict[str, Any]) -> LineItemRecord:
    """A webhook's loaded line item as its record."""
    allocations = data.pop("discount_allocations")
    if allocations:
        # Shopify's reference: `total_discount` is set only by draft orders, scripts or the API
        # and `discount_allocations` carries the same information; orders show 0.00 there while
        # the allocations hold the discount. The allocations, in shop money, are the line's discount.
        data["total_discount"] = sum(
            (_shop_amount(a.get("amount_set")) or a.get("amount") or Decimal(0) for a in allocations),
            Decimal(0),
        )
        try:  # shop money is read as it comes: held to the bounds of every other amount
            _amount(data["total_discount"])
        except ValidationError as exc:
            raise ValidationError(exc.messages, "discount_allocations") from exc
    return _line_item(data)


class RefundTransaction(_Payload):
    kind = fields.String(allow_none=True)
    status = fields.String(allow_none=True)
    amount = _money(allow_none=True)
    currency = fields.String(allow_none=True)


class RefundWebhook(_Payload):
    """`refunds/create` and each of an order's `refunds`: what its successful refund transactions paid."""

    external_id = ShopifyId(data_key="id", required=True)
    order_external_id = ShopifyId(data_key="order_id", required=True)
    created_at = _time(required=True)
    processed_at = _time(allow_none=True)
    transactions = fields.List(fields.Nested(RefundTransaction), load_default=list)

    @post_load
    def _build(self, data: dict[str, Any], **_: Any) -> RefundRecord:
        return _webhook_refund(data)


def _webhook_refund(data: dict[str, Any]) -> RefundRecord:
    """A webhook's loaded refund as its record."""
    returned = [
        t
        for t in data["transactions"]
        if t.get("kind") == "refund" and t.get("status") == "success" and t.get("amount") is not None
    ]
    # One refund is paid out in one currency; "XXX" (ISO 4217: no currency) when nothing was paid.
    currency = next((t["currency"] for t in returned if t.get("currency")), None) or NO_CURRENCY
    paid = [t["amount"] for t in returned if (t.get("currency") or currency) == currency]
    return RefundRecord(
        external_id=data["external_id"],
        order_external_id=data["order_external_id"],
        amount=sum(paid, Decimal(0)),
        currency=currency,
        created_at=_utc(data.get("processed_at") or data["created_at"]),  # type: ignore[arg-type]
    )


class OrderWebhook(_Payload):
    """`orders/create|updated|paid|cancelled`: the order, its line items and its customer."""

    external_id = ShopifyId(data_key="id", required=True)
    name = fields.String(allow_none=True)
    order_number = fields.Integer(allow_none=True)
    email = fields.String(allow_none=True)
    contact_email = fields.String(allow_none=True)
    customer = fields.Nested(CustomerRef, allow_none=True)
    created_at = _time(required=True)
    updated_at = _time(required=True)
    processed_at = _time(allow_none=True)
    cancelled_at = _time(allow_none=True)
    financial_status = fields.String(allow_none=True)
    fulfillment_status = fields.String(allow_none=True)
    currency = fields.String(required=True)
    total_price = _money(required=True)
    subtotal_price = _money(allow_none=True)
    total_discounts = _money(allow_none=True)
    total_tax = _money(allow_none=True)
    total_shipping_price_set = fields.Dict(allow_none=True)
    checkout_token = fields.String(allow_none=True)
    cart_token = fields.String(allow_none=True)
    source_name = fields.String(allow_none=True)
    line_items = fields.List(fields.Nested(WebhookLineItem), load_default=list)
    refunds = fields.List(fields.Nested(RefundWebhook), load_default=list)

    @post_load
    def _build(self, data: dict[str, Any], **_: Any) -> OrderRecord:
        return _webhook_order(data)


def _webhook_order(data: dict[str, Any]) -> OrderRecord:
    """A webhook's loaded order as its record."""
    customer = data.pop("customer", None) or {}
    shipping = _shop_amount(data.pop("total_shipping_price_set", None))
    if shipping is not None:
        try:
            _amount(shipping)
        except ValidationError as exc:
            raise ValidationError(exc.messages, "total_shipping_price_set") from exc
    number = data.pop("order_number", None)
    contact_email = data.pop("contact_email", None)
    order_email = data.pop("email", None) or contact_email
    return OrderRecord(
        **_utc_all(data),
        number=str(number) if number is not None else None,
        customer_id=customer.get("id"),
        # The customer decides the contact; the order's own email only when there is none.
        email=(customer.get("email") or order_email) if customer.get("id") else order_email,
        total_shipping=shipping,
    )


# --- order deliveries, the quick way (`connectors.quick`) ---------------------------------------


def _quick_id(value: Any, *, required: bool = False) -> str | None:
    if value is None:
        if required:
            raise quick.Declined
        return None
    return numeric_id(value)  # its ValidationError: the schema's error


def _quick_amount(value: Any, *, required: bool = False) -> Decimal | None:
    return quick.amount(value, _amount, required=required)


def _quick_line(item: dict[str, Any]) -> LineItemRecord:
    quantity = item.get("quantity")
    if type(quantity) is not int or not 0 <= quantity <= MAX_QUANTITY:
        raise quick.Declined
    allocations = [
        {"amount": _quick_amount(a.get("amount")), "amount_set": quick.mapping(a.get("amount_set"))}
        for a in quick.objects(item.get("discount_allocations", []))
    ]
    return _webhook_line(
        {
            "external_id": _quick_id(item.get("id")),
            "product_id": _quick_id(item.get("product_id")),
            "variant_id": _quick_id(item.get("variant_id")),
            "sku": quick.text(item.get("sku")),
            "title": quick.text(item.get("title"), required=True),
            "variant_title": quick.text(item.get("variant_title")),
            "quantity": quantity,
            "unit_price": _quick_amount(item.get("price"), required=True),
            "total_discount": _quick_amount(item.get("total_discount")),
            "discount_allocations": allocations,
        }
    )


def _quick_refund(refund: dict[str, Any], latest: datetime) -> RefundRecord:
    transactions = [
        {
            "kind": quick.text(t.get("kind")),
            "status": quick.text(t.get("status")),
            "amount": _quick_amount(t.get("amount")),
            "currency": quick.text(t.get("currency")),
        }
        for t in quick.objects(refund.get("transactions", []))
    ]
    return _webhook_refund(
        {
            "external_id": _quick_id(refund.get("id"), required=True),
            "order_external_id": _quick_id(refund.get("order_id"), required=True),
            "created_at": quick.instant(refund.get("created_at"), latest, required=True),
            "processed_at": quick.instant(refund.get("processed_at"), latest),
            "transactions": transactions,
        }
    )


def quick_order(payload: Any, latest: datetime | None = None) -> OrderRecord | None:
    """An order delivery's record when the payload is in Shopify's plain shape (the record `ORDER`
    loads); None when only the schema can decide. A record it returns holds no time at or after
    `latest` (now plus FUTURE_SKEW by default, the schema's own bound): such a payload is left to
    the schema and the caller's checks."""
    if type(payload) is not dict:
        return None
    latest = latest or not_ahead()()
    try:
        customer = payload.get("customer")
        if customer is not None:
            if type(customer) is not dict:
                raise quick.Declined
            customer = {"id": _quick_id(customer.get("id")), "email": quick.text(customer.get("email"))}
        number = payload.get("order_number")
        if number is not None and type(number) is not int:
            raise quick.Declined  # the schema reads "12" or 12.0 as 12, and words what it cannot read
        return _webhook_order(
            {
                "external_id": _quick_id(payload.get("id"), required=True),
                "name": quick.text(payload.get("name")),
                "order_number": number,
                "email": quick.text(payload.get("email")),
                "contact_email": quick.text(payload.get("contact_email")),
                "customer": customer,
                "created_at": quick.instant(payload.get("created_at"), latest, required=True),
                "updated_at": quick.instant(payload.get("updated_at"), latest, required=True),
                "processed_at": quick.instant(payload.get("processed_at"), latest),
                "cancelled_at": quick.instant(payload.get("cancelled_at"), latest),
                "financial_status": quick.text(payload.get("financial_status")),
                "fulfillment_status": quick.text(payload.get("fulfillment_status")),
                "currency": quick.text(payload.get("currency"), required=True),
                "total_price": _quick_amount(payload.get("total_price"), required=True),
                "subtotal_price": _quick_amount(payload.get("subtotal_price")),
                "total_discounts": _quick_amount(payload.get("total_discounts")),
                "total_tax": _quick_amount(payload.get("total_tax")),
                "total_shipping_price_set": quick.mapping(payload.get("total_shipping_price_set")),
                "checkout_token": quick.text(payload.get("checkout_token")),
                "cart_token": quick.text(payload.get("cart_token")),
                "source_name": quick.text(payload.get("source_name")),
                "line_items": [_quick_line(item) for item in quick.objects(payload.get("line_items", []))],
                "refunds": [_quick_refund(r, latest) for r in quick.objects(payload.get("refunds", []))],
            }
        )
    except (quick.Declined, ValidationError, *quick.GIVE_UP):
        return None  # the schema loads it, or says what is wrong


class CheckoutWebhook(_Payload):
    """`checkouts/create|update`: keyed by token (checkouts carry no id since 2026-04)."""

    token = fields.String(required=True)
    cart_token = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    customer = fields.Nested(CustomerRef, allow_none=True)
    created_at = _time(required=True)
    updated_at = _time(required=True)
    completed_at = _time(allow_none=True)
    currency = fields.String(required=True)
    total_price = _money(required=True)
    recovery_url = fields.String(data_key="abandoned_checkout_url", allow_none=True)
    line_items = fields.List(fields.Nested(WebhookLineItem), load_default=list)

    @post_load
    def _build(self, data: dict[str, Any], **_: Any) -> CheckoutRecord:
        customer = data.pop("customer", None) or {}
        email = data.pop("email", None) or customer.get("email")
        return CheckoutRecord(
            **_utc_all(data),
            customer_id=customer.get("id"),
            email=email,
            customer_email=customer.get("email"),
        )


class CustomerWebhook(_Payload):
    """`customers/create|update`; versions before 2025-01 also carried consent and tags."""

    external_id = ShopifyId(data_key="id", required=True)
    email = fields.String(allow_none=True)
    first_name = fields.String(allow_none=True)
    last_name = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    created_at = _time(allow_none=True)
    updated_at = _time(required=True)
    tags = fields.String(allow_none=True)
    email_marketing_consent = fields.Nested(ConsentSchema, allow_none=True)

    @post_load
    def _build(self, data: dict[str, Any], **_: Any) -> CustomerRecord:
        tags = data.pop("tags", None)
        consent = data.pop("email_marketing_consent", None) or {}
        return CustomerRecord(
            **_utc_all(data),
            tags=merchant_tags(split_tags(tags)) if tags is not None else None,
            subscription_status=consent_status(consent.get("state")),
            subscription_changed_at=_utc(consent.get("consent_updated_at")),
        )


class ConsentWebhook(_Payload):
    """The email marketing consent topic: `{customer_id, email_address, email_marketing_consent}`."""

    customer_id = ShopifyId(required=True)
    email_address = fields.String(allow_none=True)
    email_marketing_consent = fields.Nested(ConsentSchema, required=True)

    @post_load
    def _build(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        consent = data["email_marketing_consent"]
        return {
            "customer_id": data["customer_id"],
            "email": data.get("email_address"),
            "status": consent_status(consent.get("state")),
            "changed_at": _utc(consent.get("consent_updated_at")),
        }


class TagsWebhook(_Payload):
    """`customer.tags_added` / `customer.tags_removed`: `{customerId, tags, occurredAt}`."""

    customer_id = ShopifyId(data_key="customerId", required=True)
    tags = fields.List(fields.String(), required=True)
    occurred_at = _time(data_key="occurredAt", allow_none=True)


class IdPayload(_Payload):
    """`orders/delete`, `customers/delete`: the deleted resource's id."""

    id = ShopifyId(required=True)


class CheckoutDeletePayload(_Payload):
    token = fields.String(allow_none=True)
    cart_token = fields.String(allow_none=True)


class ComplianceCustomer(_Payload):
    id = ShopifyId(allow_none=True)
    email = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)


class CustomerCompliance(_Payload):
    """`customers/data_request` and `customers/redact`."""

    shop_domain = fields.String(required=True)
    customer = fields.Nested(ComplianceCustomer, required=True)
    orders_requested = fields.List(ShopifyId(), load_default=list)
    orders_to_redact = fields.List(ShopifyId(), load_default=list)
    data_request = fields.Dict(allow_none=True)


class BulkFinished(_Payload):
    """`bulk_operations/finish`."""

    operation_id = fields.String(data_key="admin_graphql_api_id", required=True)
    status = fields.String(required=True)
    error_code = fields.String(allow_none=True)
    type = fields.String(allow_none=True)


def _line_item(data: dict[str, Any]) -> LineItemRecord:
    # Shopify sends "" for a missing SKU or variant title.
    for blank in ("sku", "variant_title"):
        data[blank] = data.get(blank) or None
    return LineItemRecord(**data)


def merchant_tags(tags: Iterable[str]) -> list[str]:
    """The merchant's tags: those storepulse writes itself (under its prefix) left out."""
    prefix = get_settings().tag_prefix.lower()
    return [t for t in tags if not t.lower().startswith(prefix)]


def split_tags(value: str) -> list[str]:
    """Split Shopify's comma-separated tag string."""
    return [t.strip() for t in value.split(",") if t.strip()]


def _shop_amount(money_set: dict[str, Any] | None) -> Decimal | None:
    if not money_set:
        return None
    try:
        amount = Decimal(str(money_set["shop_money"]["amount"]))
    except (KeyError, TypeError, ArithmeticError):
        return None
    return amount if amount.is_finite() else None  # "NaN" or "Infinity" is no amount either


ORDER = OrderWebhook()
CHECKOUT = CheckoutWebhook()
REFUND = RefundWebhook()
CUSTOMER = CustomerWebhook()
CONSENT_UPDATE = ConsentWebhook()
TAGS = TagsWebhook()
ID_PAYLOAD = IdPayload()
CHECKOUT_DELETE = CheckoutDeletePayload()
COMPLIANCE = CustomerCompliance()
BULK_FINISHED = BulkFinished()


# --- Admin GraphQL (backfill and reconciliation) ----------------------------------------------


def _shop_money(value: Any) -> Any:
    """`{shopMoney: {amount, currencyCode}}` → the amount; anything else unchanged."""
    if isinstance(value, dict) and isinstance(value.get("shopMoney"), dict):
        return value["shopMoney"].get("amount")
    return value


def _nodes(value: Any) -> Any:
    """A connection (`{edges: [{node}]}` or `{nodes: [...]}`) → its list of nodes."""
    if isinstance(value, dict):
        if "edges" in value:
            return [edge["node"] for edge in value["edges"]]
        if "nodes" in value:
            return value["nodes"]
    return value


class _Graph(_Payload):
    MONEY: tuple[str, ...] = ()

    @pre_load
    def _flatten(self, data: Any, **_: Any) -> Any:
        if not isinstance(data, dict):
            return data
        flat = {k: _shop_money(v) if k in self.MONEY else v for k, v in data.items()}
        if "lineItems" in flat:
            flat["lineItems"] = _nodes(flat["lineItems"]) or []
        for key in ("product", "variant"):
            if key in flat:
                flat[key] = (flat[key] or {}).get("id")
        if isinstance(flat.get("customer"), dict):
            customer = flat["customer"]
            flat["customer"] = {"id": customer.get("id"), "email": _email_of(customer)}
        return flat


def _email_of(node: dict[str, Any]) -> str | None:
    address = node.get("defaultEmailAddress") or {}
    return address.get("emailAddress") or node.get("email")


class GraphLineItem(_Graph):
    MONEY = ("originalUnitPriceSet", "totalDiscountSet")

    @pre_load
    def _allocations(self, data: Any, **_: Any) -> Any:
        # As in webhooks: the allocated discounts (shop money) are the line's discount when there are any.
        if isinstance(data, dict) and data.get("discountAllocations"):
            amounts = [_shop_money(a.get("allocatedAmountSet")) for a in data["discountAllocations"]]
            total = sum((Decimal(str(a)) for a in amounts if a is not None), Decimal(0))
            data = {k: v for k, v in data.items() if k != "discountAllocations"}
            data["totalDiscountSet"] = str(total)
        elif isinstance(data, dict):
            data = {k: v for k, v in data.items() if k != "discountAllocations"}
        return data

    external_id = ShopifyId(data_key="id", allow_none=True)
    product_id = ShopifyId(data_key="product", allow_none=True)
    variant_id = ShopifyId(data_key="variant", allow_none=True)
    sku = fields.String(allow_none=True)
    title = fields.String(required=True)
    variant_title = fields.String(data_key="variantTitle", allow_none=True)
    quantity = _quantity(required=True)
    unit_price = _money(data_key="originalUnitPriceSet", required=True)
    total_discount = _money(data_key="totalDiscountSet", allow_none=True)

    @post_load
    def _build(self, data: dict[str, Any], **_: Any) -> LineItemRecord:
        return _line_item(data)


class GraphCustomer(_Graph):
    external_id = ShopifyId(data_key="id", required=True)
    first_name = fields.String(data_key="firstName", allow_none=True)
    last_name = fields.String(data_key="lastName", allow_none=True)
    created_at = _time(data_key="createdAt", allow_none=True)
    updated_at = _time(data_key="updatedAt", required=True)
    tags = fields.List(fields.String(), allow_none=True)
    default_email = fields.Dict(data_key="defaultEmailAddress", allow_none=True)
    default_phone = fields.Dict(data_key="defaultPhoneNumber", allow_none=True)
    email = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)

    @post_load
    def _build(self, data: dict[str, Any], **_: Any) -> CustomerRecord:
        address = data.pop("default_email", None) or {}
        phone = data.pop("default_phone", None) or {}
        email = address.get("emailAddress") or data.pop("email", None)
        data.pop("email", None)
        changed = address.get("marketingUpdatedAt")
        if data.get("tags") is not None:
            data["tags"] = merchant_tags(data["tags"])
        return CustomerRecord(
            **_utc_all({k: v for k, v in data.items() if k != "phone"}),
            email=email,
            phone=phone.get("phoneNumber") or data.get("phone"),
            subscription_status=consent_status(address.get("marketingState")),
            subscription_changed_at=_marketing_time(changed) if changed else None,
        )


def _marketing_time(text: str) -> datetime:
    try:
        return parse_instant(text, latest=not_ahead()())
    except ValueError as exc:
        raise ValidationError(f"marketingUpdatedAt {exc}", "defaultEmailAddress") from exc


class GraphRefund(_Graph):
    MONEY = ("totalRefundedSet",)

    external_id = ShopifyId(data_key="id", required=True)
    created_at = _time(data_key="createdAt", required=True)
    amount = _money(data_key="totalRefundedSet", required=True)


class GraphOrder(_Graph):
    MONEY = ("totalPriceSet", "subtotalPriceSet", "totalDiscountsSet", "totalTaxSet", "totalShippingPriceSet")

    external_id = ShopifyId(data_key="id", required=True)
    name = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    customer = fields.Nested(CustomerRef, allow_none=True)
    created_at = _time(data_key="createdAt", required=True)
    updated_at = _time(data_key="updatedAt", required=True)
    processed_at = _time(data_key="processedAt", allow_none=True)
    cancelled_at = _time(data_key="cancelledAt", allow_none=True)
    financial_status = fields.String(data_key="displayFinancialStatus", allow_none=True)
    fulfillment_status = fields.String(data_key="displayFulfillmentStatus", allow_none=True)
    currency = fields.String(data_key="currencyCode", required=True)
    total_price = _money(data_key="totalPriceSet", required=True)
    subtotal_price = _money(data_key="subtotalPriceSet", allow_none=True)
    total_discounts = _money(data_key="totalDiscountsSet", allow_none=True)
    total_tax = _money(data_key="totalTaxSet", allow_none=True)
    total_shipping = _money(data_key="totalShippingPriceSet", allow_none=True)
    checkout_token = fields.String(data_key="checkoutToken", allow_none=True)
    cart_token = fields.String(data_key="cartToken", allow_none=True)
    source_name = fields.String(data_key="sourceName", allow_none=True)
    line_items = fields.List(fields.Nested(GraphLineItem), data_key="lineItems", load_default=list)
    refunds = fields.List(fields.Nested(GraphRefund), load_default=list)

    @post_load
    def _build(self, data: dict[str, Any], **_: Any) -> OrderRecord:
        customer = data.pop("customer", None) or {}
        order_email = data.pop("email", None)
        # A refund's totalRefundedSet is read in shop money: the order's currency.
        data["refunds"] = [
            RefundRecord(
                external_id=r["external_id"],
                order_external_id=data["external_id"],
                amount=r["amount"],
                currency=data["currency"],
                created_at=_utc(r["created_at"]),  # type: ignore[arg-type]
            )
            for r in data["refunds"]
        ]
        for key in ("financial_status", "fulfillment_status"):
            # GraphQL's display enums (PAID, PARTIALLY_REFUNDED) are the webhooks' values in capitals.
            data[key] = data[key].lower() if data.get(key) else None
        return OrderRecord(
            **_utc_all(data),
            number=(data.get("name") or "").lstrip("#") or None,
            customer_id=customer.get("id"),
            email=(customer.get("email") or order_email) if customer.get("id") else order_email,
        )


# The recovery URL of an abandoned checkout names either the checkout's token
# (`.../checkouts/<token>/recover?key=...`, Shopify's sample payload) or, after a short segment such
# as `ac/`, its cart's token (`.../checkouts/ac/<cart token>/recover?...`, real shops' payloads).
RECOVERY_TOKEN = re.compile(r"/checkouts/(?:([a-z]{1,3})/)?([A-Za-z0-9_-]+)/recover")


def recovery_tokens(url: str | None) -> tuple[str | None, str | None]:
    """(checkout token, cart token) as far as a recovery URL tells; at most one of them is known."""
    match = RECOVERY_TOKEN.search(url or "")
    if match is None:
        return None, None
    segment, token = match.groups()
    return (None, token) if segment else (token, None)


class GraphCheckout(_Graph):
    """An AbandonedCheckout; it has no token field, so its identity is read from its recovery URL.

    A URL naming the checkout's token gives the record's token. A URL naming only the cart's token
    gives a record whose token *is* that cart token (with the same cart token): the store then
    treats it as the checkout of that cart (see `integration.commerce.checkout_identity`), so the
    same checkout delivered by webhook (token and cart token) or completed by an order is the same row.
    """

    MONEY = ("totalPriceSet",)

    external_id = ShopifyId(data_key="id", required=True)
    recovery_url = fields.String(data_key="abandonedCheckoutUrl", allow_none=True)
    customer = fields.Nested(CustomerRef, allow_none=True)
    email = fields.String(allow_none=True)
    created_at = _time(data_key="createdAt", required=True)
    updated_at = _time(data_key="updatedAt", required=True)
    completed_at = _time(data_key="completedAt", allow_none=True)
    total_price = _money(data_key="totalPriceSet", required=True)
    currency = fields.String(allow_none=True)
    line_items = fields.List(fields.Nested(GraphLineItem), data_key="lineItems", load_default=list)

    @pre_load
    def _currency(self, data: Any, **_: Any) -> Any:
        if isinstance(data, dict) and "currency" not in data:
            money = (data.get("totalPriceSet") or {}).get("shopMoney") or {}
            data = {**data, "currency": money.get("currencyCode")}
        return data

    @post_load
    def _build(self, data: dict[str, Any], **_: Any) -> CheckoutRecord:
        customer = data.pop("customer", None) or {}
        external_id = data.pop("external_id")
        token, cart_token = recovery_tokens(data.get("recovery_url"))
        if not data.get("currency"):
            raise ValidationError({"totalPriceSet": ["no currency"]})
        return CheckoutRecord(
            **_utc_all({k: v for k, v in data.items() if k != "email"}),
            token=token or cart_token or f"abandoned-{external_id}",
            cart_token=cart_token,
            customer_id=customer.get("id"),
            email=data.get("email") or customer.get("email"),
            customer_email=customer.get("email"),
        )


GRAPH_SCHEMAS: dict[str, Schema] = {
    "customers": GraphCustomer(),
    "customer_details": GraphCustomer(),
    "orders": GraphOrder(),
    "checkouts": GraphCheckout(),
}
