"""The loyalty leaderboard: `GET /api/v1/leaderboard`."""

from __future__ import annotations

from typing import Any

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from integration.analytics.leaderboard import MAX_LIMIT, RankBy, leaderboard
from integration.analytics.periods import TimeFrame
from integration.web.context import db
from integration.web.views.auth import BEARER, fail, require_api_key
from integration.web.views.inputs import id_field

blueprint = Blueprint("leaderboard", __name__, url_prefix="/api/v1", description="Loyalty leaderboard")
require_api_key(blueprint)


class LeaderboardQuery(Schema):
    rank_by = fields.Enum(RankBy, by_value=True, load_default=RankBy.TOTAL_SPENT)
    time_frame = fields.Enum(TimeFrame, by_value=True, load_default=TimeFrame.LAST_MONTH)
    store = id_field(metadata={"description": "one store, in its time zone; default the whole account"})
    currency = fields.String(
        validate=validate.Regexp(r"^[A-Z]{3}$"),
        metadata={"description": "default: the store's, or the period's most common"},
    )
    limit = fields.Integer(load_default=50, validate=validate.Range(1, MAX_LIMIT))


@blueprint.route("/leaderboard")
class Leaderboard(MethodView):
    @blueprint.doc(security=BEARER)
    @blueprint.arguments(LeaderboardQuery, location="query")
    @blueprint.response(200)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Customers ranked by purchases, average order or total spent in a calendar period."""
        try:
            return leaderboard(
                db.session,
                g.account_id,
                rank_by=query["rank_by"],
                time_frame=query["time_frame"],
                store_id=query.get("store"),
                currency=query.get("currency"),
                limit=query["limit"],
            )
        except LookupError:
            fail(404, f"no store {query.get('store')}", "not_found")
