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

    A delivery of a source without a verification key is refused whole: it was never verified.
    """

    name = "sendgrid"

    def process(self, session: Session, delivery: InboxDelivery) -> Outcome:
        source = email_source(session, delivery)
        if not source.verification_key:
            # Accepted unsigned before a key was required: still waiting in the inbox, never verified.
            problem = "the source has no verification key; unsigned events are not taken"
            raise InvalidRecord("delivery", {"email_source_id": [problem]})
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
