"""SendGrid Event Webhook events (a JSON array per POST) into interaction records.

Mapping: open → email_open (a machine open is recorded, not counted), click → email_click,
bounce of type `bounce` → hard_bounce (blocks), bounce of type `blocked` and deferred → soft_bounce
(recorded, not blocking), spamreport → spam_complaint (blocks), unsubscribe and group_unsubscribe
→ unsubscribe, group_resubscribe → subscribe. Delivery bookkeeping (processed, delivered, dropped)
is no interaction and is skipped. Events are de-duplicated by `sg_event_id`.

`timestamp` is Unix seconds; a value of MILLISECONDS_FROM or more is read as milliseconds (SendGrid's
documented Single Send event carries one). An event whose time falls outside EARLIEST..LATEST is
refused alone.

Custom arguments (`custom_args` of the v3 Mail Send, `unique_args` of the SMTP API) arrive as
top-level keys of each event: `storepulse_campaign_id` names the campaign (its external id, as the
API's `campaign_id`), `storepulse_contact_id` the contact the message was sent to.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load, validate

from connectors.times import EARLIEST, LATEST
from integration.contract import EventRecord
from integration.store.models import InteractionType

T = InteractionType
IGNORED = frozenset({"processed", "delivered", "dropped"})
# 10**11 seconds is the year 5138; as milliseconds it is March 1973: from there on, milliseconds.
MILLISECONDS_FROM = 10**11
CAMPAIGN_ARG = "storepulse_campaign_id"
CONTACT_ARG = "storepulse_contact_id"


def event_time(timestamp: int) -> datetime:
    """Read a SendGrid timestamp (seconds, or milliseconds from MILLISECONDS_FROM) as UTC."""
    milliseconds = timestamp if timestamp >= MILLISECONDS_FROM else timestamp * 1000
    # Compared as integers: a huge value must be refused, not overflow a float.
    if not int(EARLIEST.timestamp()) * 1000 <= milliseconds < int(LATEST.timestamp()) * 1000:
        raise ValidationError(
            f"must be Unix seconds or milliseconds between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}",
            "timestamp",
        )
    return datetime.fromtimestamp(milliseconds / 1000, UTC)


class SendGridEventSchema(Schema):
    class Meta:
        unknown = EXCLUDE  # SendGrid merges custom arguments into each event as extra keys

    email = fields.Email(required=True)
    timestamp = fields.Integer(required=True, strict=False)
    event = fields.String(required=True)
    sg_event_id = fields.String(required=True, validate=validate.Length(min=1, max=255))
    type = fields.String(load_default=None)
    sg_machine_open = fields.Boolean(load_default=False)
    url = fields.String(load_default=None)
    reason = fields.String(load_default=None)
    campaign_id = fields.String(
        data_key=CAMPAIGN_ARG, load_default=None, validate=validate.Length(min=1, max=255)
    )
    contact_id = fields.Integer(
        data_key=CONTACT_ARG, load_default=None, validate=validate.Range(min=1, max=2**63 - 1)
    )

    @post_load
    def _build(self, data: dict[str, Any], **_: Any) -> EventRecord | None:
        occurred_at = event_time(data["timestamp"])
        kind = _interaction(data["event"], data.get("type"))
        if kind is None:
            return None
        attributes = {k: data[k] for k in ("url", "reason") if data.get(k)}
        return EventRecord(
            type=kind,
            occurred_at=occurred_at,
            event_id=data["sg_event_id"],
            email=data["email"],
            campaign_id=data["campaign_id"],
            contact_id=data["contact_id"],
            machine_open=kind == T.EMAIL_OPEN and data["sg_machine_open"],
            attributes={"sendgrid_event": data["event"], **attributes},
        )


def _interaction(event: str, bounce_type: str | None) -> InteractionType | None:
    if event in IGNORED:
        return None
    if event == "bounce":
        return T.SOFT_BOUNCE if bounce_type == "blocked" else T.HARD_BOUNCE
    return {
        "open": T.EMAIL_OPEN,
        "click": T.EMAIL_CLICK,
        "deferred": T.SOFT_BOUNCE,
        "spamreport": T.SPAM_COMPLAINT,
        "unsubscribe": T.UNSUBSCRIBE,
        "group_unsubscribe": T.UNSUBSCRIBE,
        "group_resubscribe": T.SUBSCRIBE,
    }.get(event)


EVENT = SendGridEventSchema()
