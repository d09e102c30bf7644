"""Email tools that post their events: `/api/v1/sources`, with whether each accepts deliveries."""

from __future__ import annotations

from typing import Any

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from integration import accounts
from integration.store.models import EmailSource, EmailTool
from integration.web.context import current_settings, db
from integration.web.views.auth import BEARER, fail, require_api_key
from integration.web.views.inputs import ONE_LINE

blueprint = Blueprint("sources", __name__, url_prefix="/api/v1", description="Email sources")
require_api_key(blueprint)


def _key(**kwargs: Any) -> fields.String:
    return fields.String(
        validate=validate.Length(min=1, max=4000),
        metadata={
            "description": "SendGrid's signed Event Webhook public key (PEM or base64 DER, as shown there)"
        },
        **kwargs,
    )


class SourceSchema(Schema):
    id = fields.Integer(required=True)
    kind = fields.String(required=True, metadata={"description": "sendgrid or mailchimp"})
    name = fields.String(required=True)
    url = fields.String(
        required=True,
        metadata={
            "description": "where the tool posts; a Mailchimp URL ends in its secret, shown only when the "
            "source is made ({secret} stands for it afterwards)"
        },
    )
    signed = fields.Boolean(required=True, metadata={"description": "deliveries are checked against a key"})
    accepts_deliveries = fields.Boolean(required=True)
    problem = fields.String(
        required=True, allow_none=True, metadata={"description": "why every delivery is refused, if so"}
    )
    last_delivery_at = fields.String(required=True, allow_none=True)


class SourceListSchema(Schema):
    sources = fields.List(fields.Nested(SourceSchema), required=True)


class NewSourceSchema(Schema):
    kind = fields.Enum(EmailTool, by_value=True, required=True)
    name = fields.String(validate=[validate.Length(min=1, max=200), ONE_LINE])
    verification_key = _key()


class KeySchema(Schema):
    verification_key = _key(required=True)


def _shown(source: EmailSource, secret: str | None = None) -> dict[str, Any]:
    shown = accounts.describe_email_source(source)
    del shown["account_id"]
    path = shown.pop("path") if secret is None else accounts.email_webhook_path(source, secret)
    shown.pop("path", None)
    return {**shown, "url": current_settings().app_url + path}


@blueprint.route("/sources")
class Sources(MethodView):
    @blueprint.doc(security=BEARER)
    @blueprint.response(200, SourceListSchema)
    def get(self) -> dict[str, Any]:
        """The account's email sources, oldest first: whether each accepts deliveries, and why not."""
        return {"sources": [_shown(s) for s in accounts.email_sources(db.session, g.account_id)]}

    @blueprint.doc(security=BEARER)
    @blueprint.arguments(NewSourceSchema)
    @blueprint.response(201, SourceSchema)
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Connect an email tool: SendGrid with its verification key; a Mailchimp URL is shown this once."""
        kind: EmailTool = data["kind"]
        try:
            source, secret = accounts.add_email_source(
                db.session, g.account_id, kind, data.get("name") or kind.value, data.get("verification_key")
            )
        except ValueError as exc:
            fail(422, str(exc), "invalid_verification_key", {"verification_key": [str(exc)]})
        return _shown(source, secret)


@blueprint.route("/sources/<int:source_id>/verification-key")
class SourceKey(MethodView):
    @blueprint.doc(security=BEARER)
    @blueprint.arguments(KeySchema)
    @blueprint.response(200, SourceSchema)
    def put(self, data: dict[str, Any], source_id: int) -> dict[str, Any]:
        """Set or replace a SendGrid source's verification key; only deliveries it verifies count from now."""
        source = db.session.get(EmailSource, source_id)
        if source is None or source.account_id != g.account_id:
            fail(404, f"no email source {source_id}", "not_found")
        try:
            accounts.set_verification_key(db.session, source_id, data["verification_key"])
        except ValueError as exc:
            fail(422, str(exc), "invalid_verification_key", {"verification_key": [str(exc)]})
        return _shown(source)
