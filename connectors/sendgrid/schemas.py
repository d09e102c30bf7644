"""SendGrid Event Webhook events (a JSON array per POST) into interaction records.

Mapping: open → email_open (a machine open is recorded, not counted), click → email_click,
bounce of type `bounce` → hard_bounce (blocks), bounce of type `blocked` and deferred → soft_bounce
(recorded, not blocking), spamreport → spam_complaint (blocks), unsubscribe and group_unsubscribe
→ unsubscribe, group_resubscribe → subscribe. Delivery bookkeeping (processed, delivered, dropped)
is no interaction and is skipped. Events are de-duplicated by `sg_event_id`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from marshmallow import EXCLUDE, Schema, fields, post_load, validate

from integration.records import EventRecord
from integration.store.models import InteractionType

T = InteractionType
IGNORED = frozenset({"processed", "delivered", "dropped"})


class SendGridEventSchema(Schema):
    class Meta:
        unknown = EXCLUDE  # SendGrid merges custom arguments into each event as extra keys

    email = fields.Email(required=True)
    timestamp = fields.Integer(required=True, validate=validate.Range(min=0))
    event = fields.String(required=True)
    sg_event_id = fields.String(required=True, validate=validate.Length(min=1, max=255))
    type = fields.String(load_default=None)
    sg_machine_open = fields.Boolean(load_default=False)
    url = fields.String(load_default=None)
    reason = fields.String(load_default=None)

    @post_load
    def _build(self, data: dict[str, Any], **_: Any) -> EventRecord | None:
        kind = _interaction(data["event"], data.get("type"))
        if kind is None:
            return None
        attributes = {k: data[k] for k in ("url", "reason") if data.get(k)}
        return EventRecord(
            type=kind,
            occurred_at=datetime.fromtimestamp(data["timestamp"], UTC),
            event_id=data["sg_event_id"],
            email=data["email"],
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
