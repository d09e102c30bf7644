"""The one filter language for contacts: a validated JSON structure compiled to SQL with bound values.

Lists, statistics and saved segments all use it. A filter is a condition:

    {"all": [condition, ...]}      every one holds          {"any": [condition, ...]}   at least one
    {"not": condition}             it does not hold
    {"engagement": ["engaged", "unengaged", "blocked"]}      {"subscription": ["subscribed", ...]}
    {"blocked_reason": ["hard_bounce", "spam_complaint"]}
    {"interacted_within_days": 30}        {"not_interacted_within_days": 90}
    {"orders_count": {"min": 1, "max": 5}}
    {"total_spent": {"currency": "EUR", "min": "100.00", "max": null}}
    {"store_id": 3}    {"has_open_abandoned_checkout": true}    {"tag": "vip"}    {"created_within_days": 7}
    {"rfm_segment": ["Champions", "Prospects"]}    {"spender_tier": ["big"]}    {"frequent_buyer": true}

Orders count and total spent are over revenue orders (not cancelled, voided or refunded).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate
from sqlalchemy import ColumnElement, and_, exists, false, func, not_, or_, select, true, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from integration.store.models import (
    BlockedReason,
    Checkout,
    CheckoutState,
    Contact,
    ContactTotals,
    EngagementStatus,
    Order,
    RfmScore,
    StoreCustomer,
    SubscriptionStatus,
)
from integration.store.types import MAX_ID

MAX_DEPTH = 8
PROSPECTS = "Prospects"  # the RFM segment of contacts with no order (see integration.rfm)
MAX_DAYS = 3650


class _Range(Schema):
    class Meta:
        unknown = RAISE

    min = fields.Decimal(allow_none=True, allow_nan=False)
    max = fields.Decimal(allow_none=True, allow_nan=False)


class _Spent(_Range):
    currency = fields.String(required=True, validate=validate.Regexp(r"^[A-Z]{3}$"))


DAYS = fields.Integer(validate=validate.Range(0, MAX_DAYS))
LEAVES: dict[str, fields.Field[Any]] = {
    "engagement": fields.List(fields.Enum(EngagementStatus, by_value=True), validate=validate.Length(min=1)),
    "subscription": fields.List(
        fields.Enum(SubscriptionStatus, by_value=True), validate=validate.Length(min=1)
    ),
    "blocked_reason": fields.List(fields.Enum(BlockedReason, by_value=True), validate=validate.Length(min=1)),
    "interacted_within_days": DAYS,
    "not_interacted_within_days": DAYS,
    "created_within_days": DAYS,
    "orders_count": fields.Nested(_Range),
    "total_spent": fields.Nested(_Spent),
    "store_id": fields.Integer(validate=validate.Range(min=1, max=MAX_ID)),
    "has_open_abandoned_checkout": fields.Boolean(),
    "tag": fields.String(validate=validate.Length(min=1, max=255)),
    "rfm_segment": fields.List(
        fields.String(validate=validate.Length(min=1, max=60)), validate=validate.Length(min=1)
    ),
    "spender_tier": fields.List(
        fields.String(validate=validate.OneOf(("big", "medium", "low"))), validate=validate.Length(min=1)
    ),
    "frequent_buyer": fields.Boolean(),
}


CONDITION = Schema.from_dict(
    {"all": fields.List(fields.Raw()), "any": fields.List(fields.Raw()), "not": fields.Raw(), **LEAVES},
    name="Condition",
)(unknown=RAISE)


def parse(raw: Any, depth: int = 0) -> dict[str, Any]:
    """Validate a filter; raise ValidationError naming what is wrong."""
    if depth > MAX_DEPTH:
        raise ValidationError(f"filters nest at most {MAX_DEPTH} deep")
    if not isinstance(raw, dict) or len(raw) != 1:
        raise ValidationError("a condition is an object with exactly one key")
    data: dict[str, Any] = CONDITION.load(raw)
    for key in ("all", "any"):
        if key in data:
            data[key] = [parse(part, depth + 1) for part in data[key]]
    if "not" in data:
        data["not"] = parse(data["not"], depth + 1)
    return data


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
    if key == "created_within_days":
        return Contact.first_seen_at >= now - timedelta(days=value)
    if key == "orders_count":
        # From the totals kept per buyer and currency: one index lookup, not the contact's orders.
        count = select(func.coalesce(func.sum(ContactTotals.revenue_orders), 0)).where(
            ContactTotals.contact_id == Contact.id
        )
        return _in_range(count.scalar_subquery(), value)
    if key == "total_spent":
        spent = select(func.coalesce(func.sum(ContactTotals.revenue), 0)).where(
            ContactTotals.contact_id == Contact.id, ContactTotals.currency == value["currency"]
        )
        return _in_range(spent.scalar_subquery(), value)
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
    if key == "frequent_buyer":
        frequent = exists().where(RfmScore.contact_id == Contact.id, RfmScore.frequent_buyer.is_(True))
        return frequent if value else not_(frequent)
    raise ValidationError(f"unknown condition {key!r}")  # parse() admits none; a guard for callers


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
