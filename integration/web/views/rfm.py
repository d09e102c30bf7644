"""RFM and spender segments: `GET /api/v1/rfm`, and the account's own scheme (`/api/v1/rfm/scheme`)."""

from __future__ import annotations

from typing import Any

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from integration.analytics import rfm
from integration.store.models import Account
from integration.web.context import current_settings, db
from integration.web.views.auth import BEARER, fail, require_api_key
from jobs.compute import request_rfm_refresh

blueprint = Blueprint("rfm", __name__, url_prefix="/api/v1", description="RFM and spender segments")
require_api_key(blueprint)


class RuleSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=60))
    r = fields.List(
        fields.Integer(validate=validate.Range(1, 5)), required=True, validate=validate.Length(equal=2)
    )
    f = fields.List(
        fields.Integer(validate=validate.Range(1, 5)), required=True, validate=validate.Length(equal=2)
    )


class SchemeSchema(Schema):
    segments = fields.List(fields.Nested(RuleSchema), required=True, validate=validate.Length(min=1, max=25))


@blueprint.route("/rfm")
class Overview(MethodView):
    @blueprint.doc(security=BEARER)
    @blueprint.response(200)
    def get(self) -> dict[str, Any]:
        """Segment sizes and revenue shares, spender tiers, each score's boundaries, and when computed.

        `grid` gives each (R, F) cell with buyers: its size and revenue share per currency.
        """
        account = db.session.get(Account, g.account_id)
        if account is not None and account.rfm_computed_at is None:
            rfm.compute(db.session, g.account_id)  # first look: computed now, then kept by the job
        return {**rfm.overview(db.session, g.account_id), "grid": rfm.grid(db.session, g.account_id)}


@blueprint.route("/rfm/scheme")
class Scheme(MethodView):
    @blueprint.doc(security=BEARER)
    @blueprint.arguments(SchemeSchema)
    @blueprint.response(202)
    def put(self, data: dict[str, Any]) -> dict[str, Any]:
        """Replace the segments with your own mapping of R and F score ranges to names (25 pairs, once)."""
        try:
            rules = rfm.check_scheme(data["segments"])
        except rfm.InvalidScheme as exc:
            # Each cell at fault by its name (`r1f2`): a form of the grid shows it beside that cell.
            fail(422, str(exc), "invalid_scheme", errors=exc.details)
        return self._save(rules)

    @blueprint.doc(security=BEARER)
    @blueprint.response(202)
    def delete(self) -> dict[str, Any]:
        """Go back to the default R×F grid."""
        return self._save(None)

    @staticmethod
    def _save(rules: list[dict[str, Any]] | None) -> dict[str, Any]:
        settings = current_settings()
        account = db.session.get(Account, g.account_id)
        assert account is not None  # noqa: S101 - the key's account exists
        account.rfm_scheme = rules
        db.commit()  # the refresh reads the new scheme
        queued = request_rfm_refresh(settings, g.account_id)
        return {
            "scheme": "custom" if rules else "default",
            "rules": rules or rfm.DEFAULT_SCHEME,
            "recomputing": queued,
        }
