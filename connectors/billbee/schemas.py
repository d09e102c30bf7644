"""Billbee's API v1 shapes (PascalCase, as `GET /api/v1/orders` and `/customers` return them),
validated into store records.

An order is kept under its `BillBeeOrderId` (Billbee's own; `Id` and `OrderNumber` are the
marketplace's, shown as the order's number), its time is `CreatedAt` and its version
`LastModifiedAt`. `TotalCost` is the order's gross total (shipping included, per the official C#
SDK); `ShippingCost` is kept beside it. The shop it came from (`Seller.Platform` and
`Seller.BillbeeShopName`) is its source. The buyer is Billbee's customer (`Customer.Id`) with its
email, else the marketplace buyer's or the invoice address's email. Times without a zone are read
as UTC.

How a state (`OrderStateEnum`) counts, in storepulse's terms of a placed order and its revenue:
- paid: 3 paid, and any state once `PayedAt` is set;
- shipped (paid, fulfilled): 4 shipped, 7 completed, 9 archived, 10 rated, 13 packed, 16 in
  fulfilment;
- placed, not yet paid (revenue like any pending payment until cancelled): 1 ordered,
  2 confirmed, 11 and 12 dunning, 15 payment reminder;
- returned (placed, no revenue): 5 complaint;
- cancelled (neither): 8 cancelled, and 6 deleted;
- not an order (neither): 14 offered (a quote).
A line's quantity is a decimal in Billbee (12.0; 1.5 for goods sold by weight): it is kept as
the nearest whole number, at least 1, while the line's money stays exact.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load, validate

from connectors.times import EARLIEST, not_ahead, within
from integration.contract import CustomerRecord, LineItemRecord, OrderRecord
from integration.store.types import utcnow

MAX_AMOUNT = Decimal(10) ** 12
PAID, PENDING, REFUNDED, VOIDED = "paid", "pending", "refunded", "voided"
SHIPPED = {4, 7, 9, 10, 13, 16}
UNPAID = {1, 2, 11, 12, 15}
RETURNED = {5}
CANCELLED = {6, 8}
OFFERED = {14}


class BillbeeTime(fields.Field):  # type: ignore[type-arg]
    """An ISO 8601 time; without a zone, UTC."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        if not isinstance(value, str):
            raise ValidationError("Not a valid datetime.")
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError as exc:
            raise ValidationError("Not a valid datetime.") from exc
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        try:
            return within(moment, EARLIEST, not_ahead()())
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc


def _amount(value: Decimal) -> None:
    if not -MAX_AMOUNT < value < MAX_AMOUNT:
        raise ValidationError(f"Must lie between -{MAX_AMOUNT:f} and {MAX_AMOUNT:f}.")


def _money(**kwargs: Any) -> fields.Decimal:
    return fields.Decimal(allow_nan=False, validate=_amount, **kwargs)


def _text(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


class _Payload(Schema):
    class Meta:
        unknown = EXCLUDE


class Product(_Payload):
    Id = fields.String(load_default=None, allow_none=True)
    Title = fields.String(load_default=None, allow_none=True)
    SKU = fields.String(load_default=None, allow_none=True)


class OrderItem(_Payload):
    BillbeeId = fields.Integer(load_default=None, allow_none=True)
    Product = fields.Nested(Product, load_default=dict)
    Quantity = fields.Decimal(required=True, allow_nan=False, validate=validate.Range(min=0, max=1_000_000))
    TotalPrice = _money(required=True)
    UnrebatedTotalPrice = _money(load_default=None, allow_none=True)

    @post_load
    def _record(self, data: dict[str, Any], **kwargs: Any) -> LineItemRecord:
        product = data["Product"]
        quantity = max(1, round(data["Quantity"]))
        before = (
            data["UnrebatedTotalPrice"] if data["UnrebatedTotalPrice"] is not None else data["TotalPrice"]
        )
        discount = before - data["TotalPrice"]
        return LineItemRecord(
            title=_text(product.get("Title")) or _text(product.get("SKU")) or "",
            quantity=quantity,
            unit_price=(before / quantity).quantize(Decimal("0.0001")).normalize(),
            external_id=str(data["BillbeeId"]) if data["BillbeeId"] else None,
            product_id=_text(product.get("Id")),
            sku=_text(product.get("SKU")),
            total_discount=discount if discount > 0 else None,
        )


class Person(_Payload):
    Platform = fields.String(load_default=None, allow_none=True)
    BillbeeShopName = fields.String(load_default=None, allow_none=True)
    Id = fields.Raw(load_default=None, allow_none=True)
    FirstName = fields.String(load_default=None, allow_none=True)
    LastName = fields.String(load_default=None, allow_none=True)
    Email = fields.String(load_default=None, allow_none=True)


class Address(_Payload):
    FirstName = fields.String(load_default=None, allow_none=True)
    LastName = fields.String(load_default=None, allow_none=True)
    Email = fields.String(load_default=None, allow_none=True)
    Phone = fields.String(load_default=None, allow_none=True)


class MailAddress(_Payload):
    Value = fields.String(load_default=None, allow_none=True)


class CustomerSchema(_Payload):
    """A Billbee customer (`GET /api/v1/customers`, or an order's `Customer`). Billbee gives a
    customer no change time: `updated_at` is the time it was read, or its order's."""

    Id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    Name = fields.String(load_default=None, allow_none=True)
    Email = fields.String(load_default=None, allow_none=True)
    Tel1 = fields.String(load_default=None, allow_none=True)
    DefaultMailAddress = fields.Nested(MailAddress, load_default=None, allow_none=True)

    @post_load
    def _record(self, data: dict[str, Any], **kwargs: Any) -> CustomerRecord:
        mail = data["DefaultMailAddress"] or {}
        return CustomerRecord(
            external_id=str(data["Id"]),
            updated_at=utcnow(),  # read now: Billbee keeps no change time of a customer
            email=_text(data["Email"]) or _text(mail.get("Value")),
            first_name=_text(data["Name"]),
            phone=_text(data["Tel1"]),
        )


class OrderSchema(_Payload):
    """An order: the OrderRecord with its buyer's CustomerRecord (None without a Billbee customer)."""

    BillBeeOrderId = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    Id = fields.String(load_default=None, allow_none=True)
    OrderNumber = fields.String(load_default=None, allow_none=True)
    State = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=99))
    CreatedAt = BillbeeTime(required=True)
    LastModifiedAt = BillbeeTime(load_default=None, allow_none=True)
    UpdatedAt = BillbeeTime(load_default=None, allow_none=True)
    PayedAt = BillbeeTime(load_default=None, allow_none=True)
    ShippedAt = BillbeeTime(load_default=None, allow_none=True)
    Currency = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z]{3}$"))
    TotalCost = _money(required=True)
    ShippingCost = _money(load_default=None, allow_none=True)
    OrderItems = fields.List(fields.Nested(OrderItem), load_default=list)
    Seller = fields.Nested(Person, load_default=dict, allow_none=True)
    Buyer = fields.Nested(Person, load_default=dict, allow_none=True)
    InvoiceAddress = fields.Nested(Address, load_default=dict, allow_none=True)
    Customer = fields.Nested(CustomerSchema, load_default=None, allow_none=True)

    @post_load
    def _record(self, data: dict[str, Any], **kwargs: Any) -> tuple[OrderRecord, CustomerRecord | None]:
        state = data["State"]
        changed = data["LastModifiedAt"] or data["UpdatedAt"] or data["CreatedAt"]
        buyer, invoice = data["Buyer"] or {}, data["InvoiceAddress"] or {}
        customer: CustomerRecord | None = data["Customer"]
        if customer is not None:
            names = (
                _text(buyer.get("FirstName")) or _text(invoice.get("FirstName")),
                _text(buyer.get("LastName")),
            )
            customer = CustomerRecord(
                external_id=customer.external_id,
                updated_at=changed,
                email=customer.email or _text(buyer.get("Email")) or _text(invoice.get("Email")),
                first_name=names[0] or customer.first_name,
                last_name=names[1] or _text(invoice.get("LastName")),
                phone=customer.phone or _text(invoice.get("Phone")),
            )
        if state in CANCELLED or state in OFFERED:
            financial = VOIDED
        elif state in RETURNED:
            financial = REFUNDED
        elif data["PayedAt"] is not None or state not in UNPAID:
            financial = PAID
        else:
            financial = PENDING
        seller = data["Seller"] or {}
        shop = " · ".join(
            p for p in (_text(seller.get("Platform")), _text(seller.get("BillbeeShopName"))) if p
        )
        number = _text(data["OrderNumber"]) or _text(data["Id"]) or str(data["BillBeeOrderId"])
        order = OrderRecord(
            external_id=str(data["BillBeeOrderId"]),
            created_at=data["CreatedAt"],
            updated_at=changed,
            currency=data["Currency"].upper(),
            total_price=data["TotalCost"],
            name=f"#{number}",
            number=number[:64],
            customer_id=customer.external_id if customer is not None else None,
            email=(customer.email if customer is not None else None)
            or _text(buyer.get("Email"))
            or _text(invoice.get("Email")),
            processed_at=data["PayedAt"],
            cancelled_at=changed if state in CANCELLED else None,
            financial_status=financial,
            fulfillment_status="fulfilled" if state in SHIPPED or data["ShippedAt"] is not None else None,
            total_shipping=data["ShippingCost"],
            source_name=shop[:100] or None,
            line_items=data["OrderItems"],
        )
        return order, customer


ORDER = OrderSchema()
CUSTOMER = CustomerSchema()
