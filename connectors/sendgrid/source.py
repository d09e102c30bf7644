"""Normalize a stored SendGrid delivery into interaction events of the source's account."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from connectors.email_tools import email_source
from connectors.inbound import json_body, load_each, place_skips
from connectors.sendgrid.schemas import EVENT
from integration.contract import EventRecord, Outcome
from integration.errors import InvalidRecord
from integration.ingest import ingest_events
from integration.ingest.isolation import ingest_isolated
from integration.ingest.resolver import Scope
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
        items = json_body(delivery)
        if not isinstance(items, list):
            raise InvalidRecord("delivery", {"_schema": ["SendGrid posts a JSON array of events"]})
        loaded, skipped = load_events(items)
        scope = Scope(source.account_id)
        records = [record for _, record in loaded]
        outcome = ingest_isolated(
            session, lambda part: ingest_events(session, scope, part, source="sendgrid"), records
        )
        place_skips(outcome, [index for index, _ in loaded], skipped)
        outcome.account_id = source.account_id
        return outcome


def load_events(items: list[Any]) -> tuple[list[tuple[int, EventRecord]], list[dict[str, Any]]]:
    """Read each event alone: (index, record) for the engagement events, and why each other one is not."""
    read, skipped = load_each(
        items, EVENT, "event", lambda index, problem: {"index": index, "reason": problem}
    )
    loaded: list[tuple[int, EventRecord]] = []
    for index, record in read:
        if record is None:
            skipped.append({"index": index, "reason": "not an engagement event"})
        else:
            loaded.append((index, record))
    # Reported in the order of the POST, as they were read.
    skipped.sort(key=lambda s: s["index"])
    return loaded, skipped
