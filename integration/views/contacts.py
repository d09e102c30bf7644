"""Contacts: `GET /api/v1/contacts/stats`."""

from __future__ import annotations

from typing import Any

from flask import current_app, g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from integration.app import settings_of
from integration.stats import SubscriptionFilter, contact_stats
from integration.store import session_scope
from integration.views.auth import BEARER, require_api_key

blueprint = Blueprint("contacts", __name__, url_prefix="/api/v1", description="Contacts")
require_api_key(blueprint)


class StatsQuerySchema(Schema):
    subscription = fields.Enum(
        SubscriptionFilter,
        by_value=True,
        load_default=SubscriptionFilter.SUBSCRIBED_UNKNOWN,
        metadata={"description": "subscribed, unknown, or subscribed_unknown (both)"},
    )


@blueprint.route("/contacts/stats")
class Stats(MethodView):
    @blueprint.doc(security=BEARER)
    @blueprint.arguments(StatsQuerySchema, location="query")
    @blueprint.response(200)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Engaged, unengaged and blocked contacts: counts, shares summing to 100.00, AOV, ACV, ANO."""
        with session_scope(settings_of(current_app).database_url) as session:
            return contact_stats(session, g.account_id, query["subscription"])
