"""Mailchimp audience webhooks (form-encoded `type`, `fired_at`, `data[...]`) into records.

Mapping: subscribe → subscribe (and the name from the merge fields), unsubscribe → unsubscribe,
cleaned → hard_bounce, or spam_complaint when the reason is `abuse`; upemail → the contact's email
changes; profile → the name. `fired_at` (`YYYY-MM-DD HH:MM:SS`) is taken as UTC, and refused
outside the years of `connectors.times`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load, validate, validates_schema

from connectors.times import TimeOutOfRange, within

TYPES = ("subscribe", "unsubscribe", "profile", "upemail", "cleaned", "campaign")


@dataclass(frozen=True)
class MailchimpEvent:
    type: str
    fired_at: datetime
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    reason: str | None = None
    old_email: str | None = None
    new_email: str | None = None


class MailchimpWebhookSchema(Schema):
    class Meta:
        unknown = EXCLUDE  # merge fields and interests vary per audience

    type = fields.String(required=True, validate=validate.OneOf(TYPES))
    fired_at = fields.DateTime(required=True, format="%Y-%m-%d %H:%M:%S")
    email = fields.Email(data_key="data[email]", load_default=None)
    first_name = fields.String(data_key="data[merges][FNAME]", load_default=None)
    last_name = fields.String(data_key="data[merges][LNAME]", load_default=None)
    reason = fields.String(data_key="data[reason]", load_default=None)
    old_email = fields.Email(data_key="data[old_email]", load_default=None)
    new_email = fields.Email(data_key="data[new_email]", load_default=None)

    @validates_schema
    def _addresses(self, data: dict[str, Any], **_: Any) -> None:
        if data["type"] == "upemail" and not (data.get("old_email") and data.get("new_email")):
            raise ValidationError("upemail needs data[old_email] and data[new_email]", "data[new_email]")
        if data["type"] in ("subscribe", "unsubscribe", "profile", "cleaned") and not data.get("email"):
            raise ValidationError("missing data[email]", "data[email]")

    @post_load
    def _build(self, data: dict[str, Any], **_: Any) -> MailchimpEvent:
        try:
            data["fired_at"] = within(data["fired_at"].replace(tzinfo=UTC))
        except TimeOutOfRange as exc:
            raise ValidationError(str(exc), "fired_at") from exc
        cleaned: dict[str, Any] = {k: (v or None) if isinstance(v, str) else v for k, v in data.items()}
        return MailchimpEvent(**cleaned)


WEBHOOK = MailchimpWebhookSchema()
