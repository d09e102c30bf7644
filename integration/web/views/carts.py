"""Abandoned and recovered carts: `GET /api/v1/carts` (the list) and `GET /api/v1/carts/stats`."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy.orm import Session

from integration.commerce.cart_list import MAX_LIMIT, list_carts
from integration.commerce.cart_matching import RULES
from integration.commerce.cart_stats import cart_stats
from integration.keyset import BadCursor
from integration.store.models import Account, CheckoutState
from integration.store.types import utcnow
from integration.web.context import db
from integration.web.views.auth import BEARER, fail, owned_store, require_api_key
from integration.web.views.inputs import id_field, next_cursor_field, page_cursor_field, page_limit_field

blueprint = Blueprint("carts", __name__, url_prefix="/api/v1", description="Carts")
require_api_key(blueprint)

DEFAULT_DAYS = 30


class DayOrTime(fields.Field):  # type: ignore[type-arg]
    """A day (`2026-11-01`, in the account's time zone) or a time with its zone (`2026-11-01T08:00:00Z`)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> date | datetime:
        text = str(value)
        try:
            if len(text) == 10:
                return date.fromisoformat(text)
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError as exc:
            raise ValidationError("must be a day (YYYY-MM-DD) or a time with its zone (ISO 8601)") from exc
        if moment.tzinfo is None:
            raise ValidationError("a time must carry its zone, e.g. 2026-11-01T08:00:00+01:00")
        return moment


class CartStatsQuery(Schema):
    from_ = DayOrTime(data_key="from", metadata={"description": "start (inclusive); default 30 days ago"})
    to = DayOrTime(metadata={"description": "end: a day is included whole, a time is exclusive; default now"})
    store = id_field(metadata={"description": "one store of the account; default all"})

    @validates_schema
    def _order(self, data: dict[str, Any], **_: Any) -> None:
        start, end = data.get("from_"), data.get("to")
        if isinstance(start, datetime) and isinstance(end, datetime) and start >= end:
            raise ValidationError("from must be before to", "from")


class CartListQuery(CartStatsQuery):
    state = fields.String(
        validate=validate.OneOf([CheckoutState.ABANDONED.value, CheckoutState.RECOVERED.value]),
        metadata={"description": "abandoned (not recovered yet) or recovered; default both"},
    )
    limit = page_limit_field("carts", MAX_LIMIT, 50)
    cursor = page_cursor_field()


class RecoveringOrderSchema(Schema):
    order_id = fields.Integer(required=True)
    external_id = fields.String(required=True, metadata={"description": "the store's id of the order"})
    name = fields.String(required=True, allow_none=True)
    created_at = fields.String(required=True, metadata={"format": "date-time"})
    total_price = fields.String(required=True)
    currency = fields.String(required=True)


class CartContactSchema(Schema):
    id = fields.Integer(required=True)
    email = fields.String(required=True, allow_none=True)


class CartSchema(Schema):
    id = fields.Integer(required=True)
    token = fields.String(required=True, metadata={"description": "the checkout's token"})
    store_id = fields.Integer(required=True)
    contact = fields.Nested(CartContactSchema, required=True, allow_none=True)
    email = fields.String(required=True, allow_none=True, metadata={"description": "as the checkout gave it"})
    state = fields.String(
        required=True,
        validate=validate.OneOf([CheckoutState.ABANDONED.value, CheckoutState.RECOVERED.value]),
        metadata={"description": "abandoned (not recovered yet) or recovered"},
    )
    created_at = fields.String(required=True, metadata={"format": "date-time"})
    updated_at = fields.String(required=True, metadata={"format": "date-time"})
    abandoned_at = fields.String(required=True, metadata={"format": "date-time"})
    abandoned_at_local = fields.String(
        required=True, metadata={"format": "date-time", "description": "in the store's time zone"}
    )
    recovered_at = fields.String(required=True, allow_none=True, metadata={"format": "date-time"})
    total_price = fields.String(required=True, metadata={"description": "decimal, two places"})
    currency = fields.String(required=True)
    items_count = fields.Integer(required=True, metadata={"description": "line items"})
    quantity = fields.Integer(required=True, metadata={"description": "units over all line items"})
    recovery_url = fields.String(required=True, allow_none=True)
    recovered_by = fields.Nested(
        RecoveringOrderSchema,
        required=True,
        allow_none=True,
        metadata={"description": "the order that recovered the cart"},
    )
    recovery_rule = fields.String(
        required=True,
        allow_none=True,
        validate=validate.OneOf(RULES),
        metadata={
            "description": "how the order was matched: checkout_token (the order's checkout token), "
            "cart_token (its cart token) or product (an order without tokens, same contact and store, "
            "within the recovery window, with one of the cart's products)"
        },
    )


class CartPageSchema(Schema):
    carts = fields.List(fields.Nested(CartSchema), required=True)
    next_cursor = next_cursor_field()


@blueprint.route("/carts")
class Carts(MethodView):
    @blueprint.doc(security=BEARER)
    @blueprint.arguments(CartListQuery, location="query")
    @blueprint.response(200, CartPageSchema)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Carts abandoned in the period, newest first: their contact, items, state, and the order and rule
        that recovered them; the same carts the statistics count. Keyset pages with a cursor."""
        store_id, start, end = store_period(query)
        try:
            return list_carts(
                db.session,
                g.account_id,
                start,
                end,
                store_id=store_id,
                state=CheckoutState(query["state"]) if "state" in query else None,
                limit=query["limit"],
                cursor=query.get("cursor"),
            )
        except BadCursor as exc:
            fail(422, str(exc), "invalid_cursor")


@blueprint.route("/carts/stats")
class CartStats(MethodView):
    @blueprint.doc(security=BEARER)
    @blueprint.arguments(CartStatsQuery, location="query")
    @blueprint.response(200)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Checkouts abandoned in the period: counts, recovery rate, recovered revenue per currency."""
        store_id, start, end = store_period(query)
        result = cart_stats(db.session, g.account_id, start, end, store_id)
        result["time_zone"] = db.session.get(Account, g.account_id).time_zone  # type: ignore[union-attr]
        return result


def store_period(query: dict[str, Any]) -> tuple[int | None, datetime, datetime]:
    """The query's store (404 when not the account's; None for every store) and period."""
    store_id: int | None = query.get("store")
    if store_id is not None:
        owned_store(store_id)
    start, end = period(db.session, query)
    return store_id, start, end


def period(session: Session, query: dict[str, Any]) -> tuple[datetime, datetime]:
    """The query's period in UTC: days in the account's time zone; the last 30 days by default."""
    account = session.get(Account, g.account_id)
    assert account is not None  # noqa: S101 - the key's account exists
    zone = ZoneInfo(account.time_zone)
    now = utcnow()
    start = _moment(query.get("from_"), zone) or now - timedelta(days=DEFAULT_DAYS)
    end = _moment(query.get("to"), zone, end_of_day=True) or now
    return start, end


def _moment(value: date | datetime | None, zone: ZoneInfo, end_of_day: bool = False) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    day = value + timedelta(days=1) if end_of_day else value
    return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)
