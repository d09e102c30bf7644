"""Abandoned and recovered carts: `GET /api/v1/carts/stats`."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app, g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validates_schema

from integration.app import settings_of
from integration.carts import cart_stats
from integration.store import session_scope
from integration.store.models import Account
from integration.store.types import utcnow
from integration.views.auth import BEARER, owned_store, require_api_key
from integration.views.inputs import id_field

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


@blueprint.route("/carts/stats")
class CartStats(MethodView):
    @blueprint.doc(security=BEARER)
    @blueprint.arguments(CartStatsQuery, location="query")
    @blueprint.response(200)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Checkouts abandoned in the period: counts, recovery rate, recovered revenue per currency."""
        store_id = query.get("store")
        if store_id is not None:
            owned_store(store_id)
        with session_scope(settings_of(current_app).database_url) as session:
            account = session.get(Account, g.account_id)
            assert account is not None  # noqa: S101 - the key's account exists
            zone = ZoneInfo(account.time_zone)
            now = utcnow()
            start = _moment(query.get("from_"), zone) or now - timedelta(days=DEFAULT_DAYS)
            end = _moment(query.get("to"), zone, end_of_day=True) or now
            result = cart_stats(session, g.account_id, start, end, store_id)
            result["time_zone"] = account.time_zone
            return result


def _moment(value: date | datetime | None, zone: ZoneInfo, end_of_day: bool = False) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    day = value + timedelta(days=1) if end_of_day else value
    return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)
