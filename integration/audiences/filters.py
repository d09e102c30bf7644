"""The one filter language for contacts: a validated JSON structure compiled to SQL with bound values.

Lists, statistics and saved segments all use it. A filter is a condition:

    {"all": [condition, ...]}      every one holds          {"any": [condition, ...]}   at least one
    {"not": condition}             it does not hold
    {"engagement": ["engaged", "unengaged", "blocked"]}      {"subscription": ["subscribed", ...]}
    {"blocked_reason": ["hard_bounce", "spam_complaint"]}
    {"interacted_within_days": 30}        {"not_interacted_within_days": 90}
    {"contacted_within_days": 14}         {"not_contacted_within_days": 14}
    {"opened_within_days": 30}    {"clicked_within_days": 30}    {"scanned_within_days": 30}
    {"bought_product": {"product_id": "632910392", "within_days": 90}}    (or "sku"; days optional)
    {"orders_count": {"min": 1, "max": 5}}
    {"total_spent": {"currency": "EUR", "min": "100.00", "max": null}}
    {"store_id": 3}    {"has_open_abandoned_checkout": true}    {"tag": "vip"}    {"created_within_days": 7}
    {"rfm_segment": ["Champions", "Prospects"]}    {"spender_tier": ["big"]}    {"frequent_buyer": true}
    {"rfm_recency": [4, 5]}    {"rfm_frequency": [1]}    (RFM scores 1-5; one R×F cell: both in "all")

A contact without orders has no RFM scores: it matches neither score condition (it is a prospect).
Orders count and total spent are over revenue orders (not cancelled, voided or refunded); a contact
without orders has 0 of each. A bought product counts over placed orders (not cancelled or voided).
Contacted means a campaign or message was sent or delivered to the contact; opened counts opens by
a person, not a mail client's automatic fetch. A contact with no such interaction (never contacted,
never opened) does not match the `..._within_days` conditions and matches the `not_..._within_days`
ones.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import ColumnElement, and_, exists, false, func, not_, or_, select, true, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from integration.campaigns import sends as campaigns
from integration.commerce import orders as order_rules
from integration.store.models import (
    BlockedReason,
    Buyer,
    CampaignSend,
    Checkout,
    CheckoutState,
    Contact,
    ContactTotals,
    EngagementStatus,
    InteractionEvent,
    InteractionType,
    Order,
    OrderLineItem,
    RfmScore,
    StoreCustomer,
    SubscriptionStatus,
)
from integration.store.types import MAX_ID

MAX_DEPTH = 8
MAX_CONDITIONS = 100  # in one filter, groups included: each is part of every query that uses it
MAX_CHOICES = 100  # values in one list condition
PROSPECTS = "Prospects"  # the RFM segment of contacts with no order (see integration.analytics.rfm)
MAX_DAYS = 3650
MAX_COUNT = 2**31 - 1  # more orders than one contact can hold in the store's counters
MAX_AMOUNT = Decimal(10) ** 14  # the store's amounts stay below this (as the record schemas bound them)
AMOUNT_PATTERN = r"^-?[0-9]{1,14}(\.[0-9]{1,4})?$"
TIERS = ("big", "medium", "low")


class _Strict(Schema):
    """A condition's value object: unknown keys are refused."""

    class Meta:
        unknown = RAISE


class OrdersCountSchema(_Strict):
    min = fields.Integer(allow_none=True, strict=True, validate=validate.Range(0, MAX_COUNT))
    max = fields.Integer(allow_none=True, strict=True, validate=validate.Range(0, MAX_COUNT))


def _bounded_amount(value: Decimal) -> None:
    if not -MAX_AMOUNT < value < MAX_AMOUNT:
        raise ValidationError(f"must lie between -{MAX_AMOUNT:f} and {MAX_AMOUNT:f}, both excluded")


def _amount() -> fields.Decimal:
    return fields.Decimal(
        allow_none=True,
        as_string=True,
        allow_nan=False,
        validate=_bounded_amount,
        # Documented as the decimal text the API uses for money; a JSON number is taken too.
        metadata={
            "type": "string",
            "pattern": AMOUNT_PATTERN,
            "description": 'a decimal amount, e.g. "100.00"',
        },
    )


class TotalSpentSchema(_Strict):
    currency = fields.String(required=True, validate=validate.Regexp(r"^[A-Z]{3}$"))
    min = _amount()
    max = _amount()


class BoughtProductSchema(_Strict):
    product_id = fields.String(validate=validate.Length(min=1, max=64))
    sku = fields.String(validate=validate.Length(min=1, max=255))
    within_days = fields.Integer(
        allow_none=True,
        strict=True,
        validate=validate.Range(0, MAX_DAYS),
        metadata={"description": "only orders placed within this many days; omitted or null: ever"},
    )

    @validates_schema
    def _one_product(self, data: dict[str, Any], **kwargs: Any) -> None:
        if ("product_id" in data) == ("sku" in data):
            raise ValidationError("name the product by exactly one of product_id or sku")


def _days(description: str) -> fields.Integer:
    return fields.Integer(
        strict=True, validate=validate.Range(0, MAX_DAYS), metadata={"description": description}
    )


def _choices(values: Any, description: str) -> fields.List[Any]:
    return fields.List(
        values, validate=validate.Length(min=1, max=MAX_CHOICES), metadata={"description": description}
    )


# Each condition of the language: its name and the field that validates (and documents) its value.
LEAVES: dict[str, fields.Field[Any]] = {
    "engagement": _choices(
        fields.Enum(EngagementStatus, by_value=True), "the contact's engagement group is one of these"
    ),
    "subscription": _choices(
        fields.Enum(SubscriptionStatus, by_value=True), "the contact's subscription status is one of these"
    ),
    "blocked_reason": _choices(
        fields.Enum(BlockedReason, by_value=True), "the contact is blocked for one of these reasons"
    ),
    "interacted_within_days": _days("a counted interaction within this many days"),
    "not_interacted_within_days": _days("no counted interaction within this many days (or never)"),
    "contacted_within_days": _days("a campaign or message went out to the contact within this many days"),
    "not_contacted_within_days": _days("nothing went out to the contact within this many days (or ever)"),
    "opened_within_days": _days("opened an email within this many days (opens by a person)"),
    "clicked_within_days": _days("clicked a link in an email within this many days"),
    "scanned_within_days": _days("scanned a letter's QR code within this many days"),
    "created_within_days": _days("first seen within this many days"),
    "bought_product": fields.Nested(
        BoughtProductSchema,
        metadata={"description": "placed an order with this product (by product id or SKU)"},
    ),
    "orders_count": fields.Nested(
        OrdersCountSchema,
        metadata={"description": "revenue orders, all stores and currencies (bounds inclusive)"},
    ),
    "total_spent": fields.Nested(
        TotalSpentSchema, metadata={"description": "revenue in one currency, all stores (bounds inclusive)"}
    ),
    "store_id": fields.Integer(
        strict=True,
        validate=validate.Range(min=1, max=MAX_ID),
        metadata={"description": "a customer of this store, or ordered in it"},
    ),
    "has_open_abandoned_checkout": fields.Boolean(
        metadata={"description": "has (true) or has not (false) an abandoned checkout not yet recovered"}
    ),
    "tag": fields.String(validate=validate.Length(min=1, max=255), metadata={"description": "has this tag"}),
    "rfm_segment": _choices(
        fields.String(validate=validate.Length(min=1, max=60)),
        "in one of these RFM segments (Prospects: never ordered)",
    ),
    "spender_tier": _choices(fields.String(validate=validate.OneOf(TIERS)), "in one of these spender tiers"),
    "rfm_recency": _choices(
        fields.Integer(strict=True, validate=validate.Range(1, 5)),
        "the RFM recency score (5: ordered most recently) is one of these; contacts without orders have none",
    ),
    "rfm_frequency": _choices(
        fields.Integer(strict=True, validate=validate.Range(1, 5)),
        "the RFM frequency score (5: ordered most often) is one of these; contacts without orders have none",
    ),
    "frequent_buyer": fields.Boolean(
        metadata={"description": "among (true) or not among (false) the frequent buyers"}
    ),
}
GROUPS = ("all", "any", "not")


CONDITION = Schema.from_dict(
    {
        "all": fields.List(fields.Raw(), validate=validate.Length(max=MAX_CONDITIONS)),
        "any": fields.List(fields.Raw(), validate=validate.Length(max=MAX_CONDITIONS)),
        "not": fields.Raw(),
        **LEAVES,
    },
    name="Condition",
)(unknown=RAISE)


def parse(raw: Any) -> dict[str, Any]:
    """Validate a filter; raise ValidationError naming what is wrong."""
    count = [0]
    return _parse(raw, 0, count)


def _parse(raw: Any, depth: int, count: list[int]) -> dict[str, Any]:
    if depth > MAX_DEPTH:
        raise ValidationError(f"filters nest at most {MAX_DEPTH} deep")
    count[0] += 1
    if count[0] > MAX_CONDITIONS:
        raise ValidationError(f"a filter holds at most {MAX_CONDITIONS} conditions")
    if not isinstance(raw, dict) or len(raw) != 1:
        raise ValidationError("a condition is an object with exactly one key")
    data: dict[str, Any] = CONDITION.load(raw)
    for key in ("all", "any"):
        if key in data:
            data[key] = [_parse(part, depth + 1, count) for part in data[key]]
    if "not" in data:
        data["not"] = _parse(data["not"], depth + 1, count)
    return data


def canonical(condition: dict[str, Any]) -> dict[str, Any]:
    """The JSON form of a parsed filter, as it is stored: amounts as decimal strings, states by name."""
    key, value = next(iter(condition.items()))
    if key in ("all", "any"):
        return {key: [canonical(part) for part in value]}
    if key == "not":
        return {key: canonical(value)}
    dumped: dict[str, Any] = CONDITION.dump({key: value})
    return dumped


def compile_filter(session: Session, condition: dict[str, Any], now: datetime) -> ColumnElement[bool]:
    """Turn a parsed filter into a SQL condition on contacts (values are bound, never spliced in)."""
    dialect = session.get_bind().dialect.name
    return _compile(condition, now, dialect)


def _compile(c: dict[str, Any], now: datetime, dialect: str) -> ColumnElement[bool]:
    key, value = next(iter(c.items()))
    if key == "all":
        return and_(true(), *(_compile(p, now, dialect) for p in value))
    if key == "any":
        return or_(false(), *(_compile(p, now, dialect) for p in value))
    if key == "not":
        return not_(_compile(value, now, dialect))
    if key == "engagement":
        return Contact.engagement_status.in_(value)
    if key == "subscription":
        return Contact.subscription_status.in_(value)
    if key == "blocked_reason":
        return Contact.blocked_reason.in_(value)
    if key == "interacted_within_days":
        return Contact.last_interaction_at >= now - timedelta(days=value)
    if key == "not_interacted_within_days":
        return or_(
            Contact.last_interaction_at.is_(None), Contact.last_interaction_at < now - timedelta(days=value)
        )
    if key == "contacted_within_days":
        return _contacted_since(now - timedelta(days=value))
    if key == "not_contacted_within_days":
        return not_(_contacted_since(now - timedelta(days=value)))
    if key in RESPONSES:
        return exists().where(
            InteractionEvent.contact_id == Contact.id,
            InteractionEvent.type == RESPONSES[key],
            InteractionEvent.counted.is_(True),
            InteractionEvent.occurred_at >= now - timedelta(days=value),
        )
    if key == "bought_product":
        return _bought(value, now)
    if key == "created_within_days":
        return Contact.first_seen_at >= now - timedelta(days=value)
    if key == "orders_count":
        # The revenue orders kept on the buyer's one row (none: never ordered, 0).
        return _kept_within((Buyer.contact_id == Contact.id,), Buyer.revenue_orders, value)
    if key == "total_spent":
        return _spent(value)
    if key == "store_id":
        linked = exists().where(StoreCustomer.contact_id == Contact.id, StoreCustomer.store_id == value)
        ordered = exists().where(Order.contact_id == Contact.id, Order.store_id == value)
        return or_(linked, ordered)
    if key == "has_open_abandoned_checkout":
        open_cart = exists().where(
            Checkout.contact_id == Contact.id, Checkout.state == CheckoutState.ABANDONED
        )
        return open_cart if value else not_(open_cart)
    if key == "tag":
        return _has_tag(value, dialect)
    if key == "rfm_segment":
        buyers = exists().where(RfmScore.contact_id == Contact.id, RfmScore.segment.in_(value))
        if PROSPECTS in value:  # prospects have no score row: they never ordered
            return or_(buyers, ~exists().where(RfmScore.contact_id == Contact.id))
        return buyers
    if key == "spender_tier":
        return exists().where(RfmScore.contact_id == Contact.id, RfmScore.spender_tier.in_(value))
    if key == "rfm_recency":
        return exists().where(RfmScore.contact_id == Contact.id, RfmScore.r.in_(value))
    if key == "rfm_frequency":
        return exists().where(RfmScore.contact_id == Contact.id, RfmScore.f.in_(value))
    if key == "frequent_buyer":
        frequent = exists().where(RfmScore.contact_id == Contact.id, RfmScore.frequent_buyer.is_(True))
        return frequent if value else not_(frequent)
    raise ValidationError(f"unknown condition {key!r}")  # parse() admits none; a guard for callers


# The campaign responses a filter can ask for, by the interaction that records them.
RESPONSES = {
    "opened_within_days": InteractionType.EMAIL_OPEN,
    "clicked_within_days": InteractionType.EMAIL_CLICK,
    "scanned_within_days": InteractionType.QR_SCAN,
}


def _contacted_since(since: datetime) -> ColumnElement[bool]:
    """SQL: a campaign or message went out to the contact at or after `since` (as the profile counts it)."""
    return exists().where(
        CampaignSend.contact_id == Contact.id, campaigns.went_out(), campaigns.contacted_time() >= since
    )


def _bought(product: dict[str, Any], now: datetime) -> ColumnElement[bool]:
    """SQL: one of the contact's placed orders holds the product (by product id or SKU)."""
    item = (
        OrderLineItem.product_id == product["product_id"]
        if "product_id" in product
        else OrderLineItem.sku == product["sku"]
    )
    parts = [Order.contact_id == Contact.id, order_rules.placed(), item]
    if product.get("within_days") is not None:
        parts.append(Order.created_at >= now - timedelta(days=product["within_days"]))
    return exists().where(OrderLineItem.order_id == Order.id, *parts)


def _spent(bounds: dict[str, Any]) -> ColumnElement[bool]:
    """SQL: the contact's revenue in the currency (one totals row, or none: 0) lies within the bounds."""
    row = (ContactTotals.contact_id == Contact.id, ContactTotals.currency == bounds["currency"])
    return _kept_within(row, ContactTotals.revenue, bounds)


def _kept_within(row: tuple[Any, ...], value: Any, bounds: dict[str, Any]) -> ColumnElement[bool]:
    """SQL: `value` of the contact's one kept `row` (or 0 when it has none) lies within the bounds.

    Written as an EXISTS (or NOT EXISTS) on that one row, which PostgreSQL answers as a semi-join
    (anti-join) over the kept rows, instead of a lookup for each contact.
    """
    low, high = bounds.get("min"), bounds.get("max")
    if (low is None or low <= 0) and (high is None or high >= 0):
        # 0 is within: every contact matches but those whose value lies outside.
        outside = [value < low] if low is not None else []
        outside += [value > high] if high is not None else []
        if not outside:
            return true()
        return not_(exists().where(*row, or_(*outside)))
    return exists().where(*row, _in_range(value, bounds))


def _in_range(expression: Any, bounds: dict[str, Any]) -> ColumnElement[bool]:
    parts = []
    if bounds.get("min") is not None:
        parts.append(expression >= bounds["min"])
    if bounds.get("max") is not None:
        parts.append(expression <= bounds["max"])
    return and_(true(), *parts)


def _has_tag(tag: str, dialect: str) -> ColumnElement[bool]:
    if dialect == "postgresql":
        return type_coerce(Contact.tags, JSONB).contains([tag])
    each = func.json_each(Contact.tags).table_valued("value")
    return exists(select(1).select_from(each).where(each.c.value == tag))
