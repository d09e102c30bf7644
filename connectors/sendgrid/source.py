"""Normalize a stored SendGrid delivery into interaction events of the source's account."""

from __future__ import annotations

import json
from typing import Any

from marshmallow import ValidationError
from sqlalchemy.orm import Session

from connectors.api.source import text_problem
from connectors.email_tools import email_source
from connectors.sendgrid.schemas import EVENT
from integration.errors import InvalidRecord
from integration.ingest import Outcome, ingest_events
from integration.ingest.isolation import ingest_isolated
from integration.ingest.resolver import Scope
from integration.records import EventRecord
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
        loaded, skipped = load_events(items)
        scope = Scope(source.account_id)
        records = [record for _, record in loaded]
        outcome = ingest_isolated(
            session, lambda part: ingest_events(session, scope, part, source="sendgrid"), records
        )
        # Ingest reports records by their place among the loaded ones: give their index in the POST.
        positions = [index for index, _ in loaded]
        stored_skips = [{**s, "index": positions[s["index"]]} if "index" in s else s for s in outcome.skipped]
        outcome.skipped = sorted([*skipped, *stored_skips], key=lambda s: s.get("index", -1))
        outcome.account_id = source.account_id
        return outcome


def load_events(items: list[Any]) -> tuple[list[tuple[int, EventRecord]], list[dict[str, Any]]]:
    """Read each event alone: (index, record) for the engagement events, and why each other one is not."""
    loaded: list[tuple[int, EventRecord]] = []
    skipped: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        problem = text_problem(item)
        if problem is not None:
            skipped.append({"index": index, "errors": {"_schema": [problem]}})
            continue
        try:
            record = EVENT.load(item)
        except ValidationError as exc:
            skipped.append({"index": index, "errors": exc.normalized_messages()})  # type: ignore[no-untyped-call]
            continue
        except Exception as exc:  # noqa: BLE001 - one unreadable event never costs the others
            skipped.append({"index": index, "reason": f"unreadable event ({type(exc).__name__})"})
            continue
        if record is None:
            skipped.append({"index": index, "reason": "not an engagement event"})
        else:
            loaded.append((index, record))
    return loaded, skipped
