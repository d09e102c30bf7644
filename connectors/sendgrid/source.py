"""Normalize a stored SendGrid delivery into interaction events of the source's account."""

from __future__ import annotations

import json

from marshmallow import ValidationError
from sqlalchemy.orm import Session

from connectors.email_tools import email_source
from connectors.sendgrid.schemas import EVENT
from integration.errors import InvalidRecord
from integration.ingest import Outcome, ingest_events
from integration.ingest.common import Scope
from integration.store.models import InboxDelivery


class SendGridSource:
    """Events in SendGrid's documented shape; malformed events are reported by index, the rest stored.

    A delivery whose signature was not verified when it was received is refused whole, whatever
    key its source has now: a key set later says nothing about what was stored before it.
    """

    name = "sendgrid"

    def process(self, session: Session, delivery: InboxDelivery) -> Outcome:
        source = email_source(session, delivery)
        if delivery.signature_verified_at is None:
            # Stored unsigned (before keys were required), or before receipts were recorded.
            problem = "its signature was not verified when it was received; unverified events are not taken"
            raise InvalidRecord("delivery", {"signature": [problem]})
        try:
            items = json.loads(delivery.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidRecord("delivery", {"_schema": [f"not JSON: {exc}"]}) from exc
        if not isinstance(items, list):
            raise InvalidRecord("delivery", {"_schema": ["SendGrid posts a JSON array of events"]})
        records, skipped = [], []
        for index, item in enumerate(items):
            try:
                record = EVENT.load(item)
            except ValidationError as exc:
                skipped.append({"index": index, "errors": exc.normalized_messages()})  # type: ignore[no-untyped-call]
                continue
            if record is None:
                skipped.append({"index": index, "reason": "not an engagement event"})
            else:
                records.append(record)
        outcome = ingest_events(session, Scope(source.account_id), records, source="sendgrid")
        outcome.skipped = skipped + outcome.skipped
        outcome.account_id = source.account_id
        return outcome
