"""The documented JSON shapes of storepulse's own API source, validated into store records.

Times must carry a time zone (they are stored in UTC); money is a decimal string or number with
an ISO 4217 currency code. Unknown fields are rejected so that a typo in a field name is an error,
not silently lost data.
"""

from __future__ import annotations

import base64
import binascii
from decimal import Decimal
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate, validates_schema

from connectors.times import UTCTime
from integration.contract import (
    CampaignRecord,
    CheckoutRecord,
    CustomerRecord,
    EventRecord,
    LineItemRecord,
    OrderRecord,
    RefundRecord,
    SendRecord,
)
from integration.store.models import CampaignChannel, InteractionType, SendStatus, SubscriptionStatus
from integration.store.types import MONEY_PRECISION, MONEY_SCALE

CURRENCY = validate.Regexp(r"^[A-Z]{3}$", error="must be an ISO 4217 code in capitals, such as EUR")
ID = validate.Length(min=1, max=64)  # ids of customers, orders, products and variants
EVENT_TYPES = [
    "email_open",
    "email_click",
    "product_view",
    "add_to_cart",
    "bounce",
    "spam_complaint",
    "unsubscribe",
    "subscribe",
    "qr_scan",
]


class _Record(Schema):
    class Meta:
        unknown = RAISE


def _needs_someone(data: dict[str, Any], noun: str) -> None:
    """Refuse a record that names nobody: it needs a customer id or an email."""
    if not data.get("customer_id") and not data.get("email"):
        raise ValidationError(f"{noun} needs customer_id or email", "customer_id")


MAX_MONEY = Decimal(10) ** (MONEY_PRECISION - MONEY_SCALE)  # amounts stay below: the store's column
MAX_QUANTITY = 2**31 - 1  # the store's integer column


def _amount(value: Decimal) -> None:
    if value < 0:
        raise ValidationError("Must be greater than or equal to 0.")
    if value >= MAX_MONEY:
        raise ValidationError(f"Must be less than {MAX_MONEY:f}.")


def _money(**kwargs: Any) -> fields.Decimal:
    # A plain validator, not validate.Range: the OpenAPI document states the bounds as numbers.
    return fields.Decimal(
        allow_nan=False,
        validate=_amount,
        metadata={"minimum": 0, "maximum": float(MAX_MONEY), "exclusiveMaximum": True},
        **kwargs,
    )


def _time(**kwargs: Any) -> UTCTime:
    return UTCTime(**kwargs)


class CustomerSchema(_Record):
    external_id = fields.String(required=True, data_key="id", validate=ID)
    email = fields.Email(allow_none=True, validate=validate.Length(max=320))
    first_name = fields.String(allow_none=True, validate=validate.Length(max=200))
    last_name = fields.String(allow_none=True, validate=validate.Length(max=200))
    phone = fields.String(allow_none=True, validate=validate.Length(max=40))
    subscription_status = fields.Enum(SubscriptionStatus, by_value=True, allow_none=True)
    subscription_changed_at = _time(allow_none=True)
    tags = fields.List(fields.String(validate=validate.Length(min=1, max=255)), allow_none=True)
    created_at = _time(allow_none=True)
    updated_at = _time(required=True)

    @post_load
    def _build(self, data: dict[str, Any], **_: Any) -> CustomerRecord:
        return CustomerRecord(**data)


class LineItemSchema(_Record):
    external_id = fields.String(data_key="id", allow_none=True, validate=ID)
    product_id = fields.String(allow_none=True, validate=ID)
    variant_id = fields.String(allow_none=True, validate=ID)
    sku = fields.String(allow_none=True, validate=validate.Length(max=255))
    title = fields.String(required=True, validate=validate.Length(min=1, max=500))
    variant_title = fields.String(allow_none=True, validate=validate.Length(max=500))
    quantity = fields.Integer(required=True, validate=validate.Range(min=1, max=MAX_QUANTITY))
    unit_price = _money(required=True, data_key="price")
    total_discount = _money(allow_none=True)

    @post_load
    def _build(self, data: dict[str, Any], **_: Any) -> LineItemRecord:
        return LineItemRecord(**data)


class OrderSchema(_Record):
    external_id = fields.String(required=True, data_key="id", validate=ID)
    name = fields.String(allow_none=True, validate=validate.Length(max=64))
    number = fields.String(allow_none=True, validate=validate.Length(max=64))
    customer_id = fields.String(allow_none=True, validate=ID)
    email = fields.Email(allow_none=True)
    created_at = _time(required=True)
    updated_at = _time(required=True)
    processed_at = _time(allow_none=True)
    cancelled_at = _time(allow_none=True)
    financial_status = fields.String(allow_none=True, validate=validate.Length(max=32))
    fulfillment_status = fields.String(allow_none=True, validate=validate.Length(max=32))
    currency = fields.String(required=True, validate=CURRENCY)
    total_price = _money(required=True)
    subtotal_price = _money(allow_none=True)
    total_discounts = _money(allow_none=True)
    total_shipping = _money(allow_none=True)
    total_tax = _money(allow_none=True)
    checkout_token = fields.String(allow_none=True, validate=validate.Length(max=255))
    cart_token = fields.String(allow_none=True, validate=validate.Length(max=255))
    source_name = fields.String(allow_none=True, validate=validate.Length(max=64))
    # Everything refunded on the order so far, in its currency.
    total_refunded = _money(allow_none=True)
    line_items = fields.List(fields.Nested(LineItemSchema), load_default=list)

    @validates_schema
    def _who(self, data: dict[str, Any], **_: Any) -> None:
        _needs_someone(data, "an order")

    @post_load
    def _build(self, data: dict[str, Any], **_: Any) -> OrderRecord:
        refunded = data.pop("total_refunded", None)
        refunds = []
        if refunded is not None:
            # The order's refunded total, restated by each version: one refund per order holds it.
            refunds.append(
                RefundRecord(
                    external_id=f"{data['external_id']}:refunded",
                    order_external_id=data["external_id"],
                    amount=refunded,
                    currency=data["currency"],
                    created_at=data["updated_at"],
                )
            )
        return OrderRecord(**data, refunds=refunds)


class CheckoutSchema(_Record):
    token = fields.String(required=True, validate=validate.Length(min=1, max=255))
    cart_token = fields.String(allow_none=True, validate=validate.Length(max=255))
    customer_id = fields.String(allow_none=True, validate=ID)
    email = fields.Email(allow_none=True)
    created_at = _time(required=True)
    updated_at = _time(required=True)
    completed_at = _time(allow_none=True)
    currency = fields.String(required=True, validate=CURRENCY)
    total_price = _money(required=True)
    recovery_url = fields.Url(allow_none=True, schemes={"http", "https"})
    line_items = fields.List(fields.Nested(LineItemSchema), load_default=list)

    @post_load
    def _build(self, data: dict[str, Any], **_: Any) -> CheckoutRecord:
        return CheckoutRecord(**data)


class EventSchema(_Record):
    event_id = fields.String(allow_none=True, validate=validate.Length(min=1, max=255))
    customer_id = fields.String(allow_none=True, validate=ID)
    email = fields.Email(allow_none=True)
    type = fields.String(required=True, validate=validate.OneOf(EVENT_TYPES))
    bounce_type = fields.String(allow_none=True, validate=validate.OneOf(["hard", "soft"]))
    occurred_at = _time(required=True)
    campaign_id = fields.String(allow_none=True, validate=validate.Length(min=1, max=255))
    product_id = fields.String(allow_none=True, validate=ID)
    machine_open = fields.Boolean(load_default=False)

    @validates_schema
    def _consistent(self, data: dict[str, Any], **_: Any) -> None:
        _needs_someone(data, "an event")
        if data.get("type") == "bounce" and not data.get("bounce_type"):
            raise ValidationError("a bounce needs bounce_type hard or soft", "bounce_type")
        if data.get("machine_open") and data.get("type") != "email_open":
            raise ValidationError("only an email_open can be a machine open", "machine_open")

    @post_load
    def _build(self, data: dict[str, Any], **_: Any) -> EventRecord:
        kind = data.pop("type")
        bounce = data.pop("bounce_type", None)
        if kind == "bounce":
            kind = "hard_bounce" if bounce == "hard" else "soft_bounce"
        return EventRecord(type=InteractionType(kind), **data)


class CampaignSchema(_Record):
    external_id = fields.String(required=True, data_key="id", validate=validate.Length(min=1, max=255))
    channel = fields.Enum(CampaignChannel, by_value=True, required=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=300))
    preview_html = fields.String(allow_none=True)
    preview_pdf_base64 = fields.String(allow_none=True)
    created_at = _time(allow_none=True)

    @post_load
    def _build(self, data: dict[str, Any], **_: Any) -> CampaignRecord:
        html, pdf = data.pop("preview_html", None), data.pop("preview_pdf_base64", None)
        preview, content_type = None, None
        if html is not None:
            preview, content_type = html.encode(), "text/html; charset=utf-8"
        elif pdf is not None:
            try:
                preview = base64.b64decode(pdf, validate=True)
            except binascii.Error as exc:
                raise ValidationError("not valid base64", "preview_pdf_base64") from exc
            content_type = "application/pdf"
        return CampaignRecord(preview=preview, preview_content_type=content_type, **data)


class SendSchema(_Record):
    campaign_id = fields.String(required=True, validate=validate.Length(min=1, max=255))
    customer_id = fields.String(allow_none=True, validate=ID)
    email = fields.Email(allow_none=True)
    status = fields.Enum(SendStatus, by_value=True, required=True)
    queued_at = _time(allow_none=True)
    sent_at = _time(allow_none=True)
    delivered_at = _time(allow_none=True)
    returned_at = _time(allow_none=True)
    failed_at = _time(allow_none=True)

    @validates_schema
    def _who(self, data: dict[str, Any], **_: Any) -> None:
        _needs_someone(data, "a send")

    @post_load
    def _build(self, data: dict[str, Any], **_: Any) -> SendRecord:
        return SendRecord(**data)


SCHEMAS: dict[str, Schema] = {
    "customers": CustomerSchema(),
    "orders": OrderSchema(),
    "checkouts": CheckoutSchema(),
    "events": EventSchema(),
    "campaigns": CampaignSchema(),
    "campaign_sends": SendSchema(),
}
