"""The account's settings: `GET` and `PUT /api/v1/settings`."""

from __future__ import annotations

from typing import Any

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates

from integration.accounts import check_time_zone
from integration.campaigns import messages
from integration.contacts.engagement import MAX_WINDOW_DAYS, MIN_WINDOW_DAYS
from integration.store.models import Account, Sender
from integration.web.context import current_settings, db
from integration.web.views.auth import BEARER, require_api_key
from integration.web.views.inputs import ONE_LINE
from jobs.compute import classify_account_job
from jobs.queues import COMPUTE, enqueue

blueprint = Blueprint("settings", __name__, url_prefix="/api/v1", description="Account settings")
require_api_key(blueprint)

FIELDS = (
    "time_zone",
    "engagement_window_days",
    "abandonment_delay_minutes",
    "recovery_window_days",
    "attribution_window_days",
    "frequency_cap_days",
    "sunset_days",
)


class SettingsSchema(Schema):
    time_zone = fields.String(metadata={"description": "IANA time zone the numbers are shown in"})
    engagement_window_days = fields.Integer(
        validate=validate.Range(MIN_WINDOW_DAYS, MAX_WINDOW_DAYS),
        metadata={"description": "the time frame: an interaction inside it makes a contact engaged"},
    )
    abandonment_delay_minutes = fields.Integer(validate=validate.Range(1, 7 * 24 * 60))
    recovery_window_days = fields.Integer(validate=validate.Range(1, 90))
    attribution_window_days = fields.Integer(validate=validate.Range(1, 365))
    frequency_cap_days = fields.Integer(validate=validate.Range(0, 365))
    sunset_days = fields.Integer(
        validate=validate.Range(1, 3650),
        metadata={
            "description": "sunset candidates: subscribed and unengaged this many days beyond the time frame"
        },
    )
    reclassification_job = fields.String(dump_only=True, allow_none=True)

    @validates("time_zone")
    def _zone(self, value: str, **_: Any) -> None:
        try:
            check_time_zone(value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc


@blueprint.route("/settings")
class AccountSettings(MethodView):
    @blueprint.doc(security=BEARER)
    @blueprint.response(200, SettingsSchema)
    def get(self) -> dict[str, Any]:
        """The account's settings."""
        account = db.session.get(Account, g.account_id)
        return {name: getattr(account, name) for name in FIELDS}

    @blueprint.doc(security=BEARER)
    @blueprint.arguments(SettingsSchema)
    @blueprint.response(200, SettingsSchema)
    def put(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Change settings (only the fields sent); a new time frame reclassifies every contact."""
        settings = current_settings()
        account = db.session.get(Account, g.account_id)
        assert account is not None  # noqa: S101 - the key's account exists
        window_changed = changes.get("engagement_window_days", account.engagement_window_days) != (
            account.engagement_window_days
        )
        for name, value in changes.items():
            setattr(account, name, value)
        answer = {name: getattr(account, name) for name in FIELDS}
        db.commit()  # reclassification reads the new time frame
        job = None
        if window_changed:
            job = enqueue(
                settings, COMPUTE, classify_account_job, g.account_id, meta={"account_id": g.account_id}
            )
        return {**answer, "reclassification_job": job.id if job else None}


class SenderSchema(Schema):
    host = fields.String(required=True, validate=validate.Length(min=1, max=255))
    port = fields.Integer(required=True, validate=validate.Range(1, 65535))
    security = fields.String(
        load_default="starttls",
        validate=validate.OneOf(messages.SECURITY),
        metadata={"description": "starttls (default), tls (from the start) or none (local relays only)"},
    )
    username = fields.String(allow_none=True, validate=validate.Length(max=255))
    password = fields.String(
        load_only=True, allow_none=True, metadata={"description": "write-only; kept encrypted"}
    )
    from_email = fields.Email(required=True)
    from_name = fields.String(
        allow_none=True,
        validate=[validate.Length(max=200), ONE_LINE],
    )


@blueprint.route("/settings/sender")
class SenderSettingsView(MethodView):
    @blueprint.doc(security=BEARER)
    @blueprint.response(200)
    def get(self) -> dict[str, Any]:
        """The account's mail server for messages to one customer (the password is never shown)."""
        return {"sender": messages.describe_sender(db.session.get(Sender, g.account_id))}

    @blueprint.doc(security=BEARER)
    @blueprint.arguments(SenderSchema)
    @blueprint.response(200)
    def put(self, data: dict[str, Any]) -> dict[str, Any]:
        """Configure the account's mail server (SMTP host, port, TLS, credentials, from address)."""
        settings = current_settings()
        sender = messages.save_sender(
            db.session, settings.encryption_keys, g.account_id, messages.SenderSettings(**data)
        )
        return {"sender": messages.describe_sender(sender)}
