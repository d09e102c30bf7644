"""WooCommerce's REST v3 shapes (webhook bodies equal the REST resource), validated into store records.

Times are read from the `_gmt` fields, which WooCommerce writes in UTC without a zone. Amounts are
strings ("29.35"); a line's `price` is a number. Product and line names are HTML-escaped in the
payload ("Ship Your Idea &ndash; Color: Black") and are stored unescaped. Unknown fields are
excluded: plugins add their own.

How an order's status counts (`STATUSES`), in storepulse's terms of a placed order (an
interaction of its buyer, in their order count) and revenue (in spend, AOV and RFM):
- `completed`, `processing` (paid, being fulfilled) and `ready-for-pickup`: placed, revenue
  (`paid`);
- `pending` (awaiting payment) and `on-hold` (awaiting a bank transfer or a check): placed and
  unpaid (`pending`), counted as revenue like any pending payment until the shop cancels or fails
  the order, which its next update tells;
- `refunded`: placed, no revenue; `cancelled`: neither (the order's last change is its
  cancellation time); `failed` (the payment failed) and `trash`: neither (`voided`);
- `checkout-draft` (the block checkout's order while the shopper is in the checkout) is no order:
  it is an open checkout, whose token is the order's id, so the order the draft becomes completes
  it (a recovered cart when it was abandoned first);
- any other status (a plugin's, such as `shipped`): placed, revenue, kept as the plugin names it.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load, validate

from connectors import quick
from connectors.times import EARLIEST, not_ahead, within
from integration.contract import CheckoutRecord, CustomerRecord, LineItemRecord, OrderRecord, RefundRecord

MAX_AMOUNT = Decimal(10) ** 12
MAX_QUANTITY = 1_000_000
UNIT_PLACES = Decimal("0.0001")
DRAFT = "checkout-draft"
PAID, PENDING, REFUNDED, VOIDED = "paid", "pending", "refunded", "voided"
# WooCommerce status → (financial status, cancelled); see the module's docstring.
STATUSES: dict[str, tuple[str, bool]] = {
    "completed": (PAID, False),
    "processing": (PAID, False),
    "ready-for-pickup": (PAID, False),
    "pending": (PENDING, False),
    "on-hold": (PENDING, False),
    "refunded": (REFUNDED, False),
    "cancelled": (VOIDED, True),
    "failed": (VOIDED, False),
    "trash": (VOIDED, False),
}
FULFILLED = {"completed": "fulfilled"}


class GmtTime(fields.Field):  # type: ignore[type-arg]
    """A `_gmt` time: ISO 8601 in UTC without a zone (a zone, if given, is honoured)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        if not isinstance(value, str):
            raise ValidationError("Not a valid datetime.")
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError as exc:
            raise ValidationError("Not a valid datetime.") from exc
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        try:  # a record describes the past: a time beyond our clock plus a small skew is refused
            return within(moment, EARLIEST, not_ahead()())
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc


class WooId(fields.Field):  # type: ignore[type-arg]
    """A WooCommerce id (a positive whole number), loaded as its string."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if type(value) is not int or not 1 <= value < 2**63:
            raise ValidationError("Not a WooCommerce id (a positive whole number).")
        return str(value)


def _amount(value: Decimal) -> None:
    if not -MAX_AMOUNT < value < MAX_AMOUNT:
        raise ValidationError(f"Must lie between -{MAX_AMOUNT:f} and {MAX_AMOUNT:f}.")


def _money(**kwargs: Any) -> fields.Decimal:
    return fields.Decimal(allow_nan=False, validate=_amount, **kwargs)


def _text(value: str | None) -> str | None:
    """A payload's text unescaped and trimmed; None when empty."""
    if value is None:
        return None
    text = html.unescape(value).strip()
    return text or None


class _Payload(Schema):
    class Meta:
        unknown = EXCLUDE


class Billing(_Payload):
    first_name = fields.String(load_default=None, allow_none=True)
    last_name = fields.String(load_default=None, allow_none=True)
    email = fields.String(load_default=None, allow_none=True)
    phone = fields.String(load_default=None, allow_none=True)


class LineItem(_Payload):
    id = WooId(load_default=None, allow_none=True)
    name = fields.String(required=True)
    product_id = fields.Integer(strict=True, load_default=0)
    variation_id = fields.Integer(strict=True, load_default=0)
    quantity = fields.Integer(strict=True, required=True, validate=validate.Range(min=0, max=MAX_QUANTITY))
    sku = fields.String(load_default=None, allow_none=True)
    subtotal = _money(required=True)
    total = _money(required=True)

    @post_load
    def _record(self, data: dict[str, Any], **kwargs: Any) -> LineItemRecord:
        return _line_record(data)


def _line_record(data: dict[str, Any]) -> LineItemRecord:
    """A loaded line item as its record."""
    quantity = data["quantity"]
    # `subtotal` is the line before discounts, `total` after: the unit price is the first's share.
    unit = (data["subtotal"] / quantity).quantize(Decimal("0.0001")).normalize() if quantity else Decimal(0)
    discount = data["subtotal"] - data["total"]
    return LineItemRecord(
        title=_text(data["name"]) or "",
        quantity=quantity,
        unit_price=unit,
        external_id=data["id"],
        product_id=str(data["product_id"]) if data["product_id"] else None,
        variant_id=str(data["variation_id"]) if data["variation_id"] else None,
        sku=_text(data["sku"]),
        total_discount=discount if discount > 0 else None,
    )


class Refund(_Payload):
    id = WooId(required=True)
    total = _money(required=True)  # negative: money going back


class OrderSchema(_Payload):
    """An order (`order.created`, `order.updated`, the REST list): an OrderRecord, or a
    CheckoutRecord while it is the block checkout's draft."""

    id = WooId(required=True)
    number = fields.String(load_default=None, allow_none=True)
    status = fields.String(required=True, validate=validate.Length(min=1, max=32))
    currency = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z]{3}$"))
    date_created_gmt = GmtTime(required=True)
    date_modified_gmt = GmtTime(required=True)
    total = _money(required=True)
    discount_total = _money(load_default=None)
    shipping_total = _money(load_default=None)
    total_tax = _money(load_default=None)
    customer_id = fields.Integer(strict=True, load_default=0, validate=validate.Range(min=0))
    billing = fields.Nested(Billing, load_default=dict)
    line_items = fields.List(fields.Nested(LineItem), load_default=list)
    refunds = fields.List(fields.Nested(Refund), load_default=list)

    @post_load
    def _record(self, data: dict[str, Any], **kwargs: Any) -> OrderRecord | CheckoutRecord:
        return _order_record(data)


def _order_record(data: dict[str, Any]) -> OrderRecord | CheckoutRecord:
    """A loaded order as its record, or as a checkout while it is the block checkout's draft."""
    billing = data["billing"]
    email = _text(billing.get("email"))
    customer = str(data["customer_id"]) if data["customer_id"] else None
    currency = data["currency"].upper()
    shared: dict[str, Any] = {
        "created_at": data["date_created_gmt"],
        "updated_at": data["date_modified_gmt"],
        "currency": currency,
        "total_price": data["total"],
        "customer_id": customer,
        "email": email,
        "line_items": data["line_items"],
    }
    if data["status"] == DRAFT:
        return CheckoutRecord(token=data["id"], customer_email=email if customer else None, **shared)
    financial, cancelled = STATUSES.get(data["status"], (data["status"], False))
    return OrderRecord(
        external_id=data["id"],
        name=f"#{data['number'] or data['id']}",
        number=data["number"] or data["id"],
        **shared,
        cancelled_at=data["date_modified_gmt"] if cancelled else None,
        financial_status=financial,
        fulfillment_status=FULFILLED.get(data["status"]),
        total_discounts=data["discount_total"],
        total_shipping=data["shipping_total"],
        total_tax=data["total_tax"],
        checkout_token=data["id"],  # a block checkout's draft had this order's id
        refunds=[
            RefundRecord(
                external_id=refund["id"],
                order_external_id=data["id"],
                amount=abs(refund["total"]),
                currency=currency,
                created_at=data["date_modified_gmt"],  # the order's summary gives no refund time
            )
            for refund in data["refunds"]
        ],
    )


# --- orders, the quick way (`connectors.quick`) -------------------------------------------------

_CURRENCY = re.compile(r"^[A-Za-z]{3}$")  # as `validate.Regexp` matches it
BILLING_FIELDS = ("first_name", "last_name", "email", "phone")


def _quick_id(value: Any, *, required: bool = False) -> str | None:
    if value is None and not required:
        return None
    if type(value) is not int or not 1 <= value < 2**63:
        raise quick.Declined
    return str(value)


def _quick_whole(value: Any, low: int = 0, high: int | None = None) -> int:
    """A strict `Integer` (null refused; the caller gives the default of an absent one)."""
    if type(value) is not int or value < low or (high is not None and value > high):
        raise quick.Declined
    return value


def _quick_time(value: Any, latest: datetime) -> datetime:
    if type(value) is not str:
        raise quick.Declined
    moment = datetime.fromisoformat(value.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return within(moment, EARLIEST, latest)  # TimeOutOfRange, a ValueError, when outside


def _quick_line(item: dict[str, Any]) -> LineItemRecord:
    return _line_record(
        {
            "id": _quick_id(item.get("id")),
            "name": quick.text(item.get("name"), required=True),
            "product_id": _quick_whole(item.get("product_id", 0)),
            "variation_id": _quick_whole(item.get("variation_id", 0)),
            "quantity": _quick_whole(item.get("quantity"), high=MAX_QUANTITY),
            "sku": quick.text(item.get("sku")),
            "subtotal": quick.amount(item.get("subtotal"), _amount, required=True),
            "total": quick.amount(item.get("total"), _amount, required=True),
        }
    )


def quick_order(payload: Any, latest: datetime | None = None) -> OrderRecord | CheckoutRecord | None:
    """An order's record (a draft's checkout) when the payload is in WooCommerce's plain shape: the
    record `ORDER` loads. None when only the schema can decide; times at or after `latest` (now
    plus FUTURE_SKEW by default, the schema's bound) are among those."""
    if type(payload) is not dict:
        return None
    latest = latest or not_ahead()()
    try:
        status = quick.text(payload.get("status"), required=True)
        currency = quick.text(payload.get("currency"), required=True)
        if not status or len(status) > 32 or not _CURRENCY.match(currency or ""):
            raise quick.Declined
        billing = payload.get("billing", {})
        if type(billing) is not dict:
            raise quick.Declined
        if billing:  # given, each of its fields is read (an absent one as null)
            billing = {key: quick.text(billing.get(key)) for key in BILLING_FIELDS}
        return _order_record(
            {
                "id": _quick_id(payload.get("id"), required=True),
                "number": quick.text(payload.get("number")),
                "status": status,
                "currency": currency,
                "date_created_gmt": _quick_time(payload.get("date_created_gmt"), latest),
                "date_modified_gmt": _quick_time(payload.get("date_modified_gmt"), latest),
                "total": quick.amount(payload.get("total"), _amount, required=True),
                "discount_total": quick.amount(payload.get("discount_total"), _amount),
                "shipping_total": quick.amount(payload.get("shipping_total"), _amount),
                "total_tax": quick.amount(payload.get("total_tax"), _amount),
                "customer_id": _quick_whole(payload.get("customer_id", 0)),
                "billing": billing,
                "line_items": [_quick_line(item) for item in quick.objects(payload.get("line_items", []))],
                "refunds": [
                    {
                        "id": _quick_id(refund.get("id"), required=True),
                        "total": quick.amount(refund.get("total"), _amount, required=True),
                    }
                    for refund in quick.objects(payload.get("refunds", []))
                ],
            }
        )
    except (quick.Declined, ValidationError, *quick.GIVE_UP):
        return None  # the schema loads it, or says what is wrong


class CustomerSchema(_Payload):
    """A registered customer (`customer.created`, `customer.updated`, the REST list)."""

    id = WooId(required=True)
    email = fields.String(load_default=None, allow_none=True)
    first_name = fields.String(load_default=None, allow_none=True)
    last_name = fields.String(load_default=None, allow_none=True)
    billing = fields.Nested(Billing, load_default=dict)
    date_created_gmt = GmtTime(load_default=None, allow_none=True)
    date_modified_gmt = GmtTime(load_default=None, allow_none=True)

    @post_load
    def _record(self, data: dict[str, Any], **kwargs: Any) -> CustomerRecord:
        updated = data["date_modified_gmt"] or data["date_created_gmt"]
        if updated is None:
            raise ValidationError(
                "a customer carries date_modified_gmt or date_created_gmt", "date_modified_gmt"
            )
        billing = data["billing"]
        return CustomerRecord(
            external_id=data["id"],
            updated_at=updated,
            email=_text(data["email"]) or _text(billing.get("email")),
            first_name=_text(data["first_name"]) or _text(billing.get("first_name")),
            last_name=_text(data["last_name"]) or _text(billing.get("last_name")),
            phone=_text(billing.get("phone")),
            created_at=data["date_created_gmt"],
            # WooCommerce keeps no marketing consent of its own: the subscription is left as it is.
        )


class Deleted(_Payload):
    """A deletion's body: `{"id": N}`."""

    id = WooId(required=True)


ORDER = OrderSchema()
CUSTOMER = CustomerSchema()
DELETED = Deleted()
