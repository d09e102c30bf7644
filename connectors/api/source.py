"""The API source: a delivery holds a JSON array of records of one topic in our documented shapes."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from marshmallow import ValidationError
from sqlalchemy.orm import Session

from connectors.api.schemas import SCHEMAS
from integration import ingest
from integration.errors import InvalidRecord
from integration.ingest import Outcome
from integration.store.models import InboxDelivery, Store

MAX_RECORDS = 1000

Ingest = Callable[[Session, Store, Sequence[Any]], Outcome]

INGEST: dict[str, Ingest] = {
    "customers": ingest.ingest_customers,
    "orders": ingest.ingest_orders,
    "checkouts": ingest.ingest_checkouts,
    "events": lambda session, store, records: ingest.ingest_events(session, store, records, source="api"),
    "campaigns": ingest.ingest_campaigns,
    "campaign_sends": ingest.ingest_sends,
}


def load_records(topic: str, items: Any) -> tuple[list[Any], list[dict[str, Any]]]:
    """Validate a batch; return the valid records and, for each invalid one, its index, fields and reasons.

    Each valid record comes back as a (index in the batch, record) pair.
    """
    schema = SCHEMAS.get(topic)
    if schema is None:
        raise InvalidRecord("delivery", {"topic": [f"unknown topic {topic!r}"]})
    if not isinstance(items, list):
        raise InvalidRecord("delivery", {"_schema": ["the body must be a JSON array of records"]})
    if len(items) > MAX_RECORDS:
        raise InvalidRecord("delivery", {"_schema": [f"at most {MAX_RECORDS} records per batch"]})
    records, errors = [], []
    for index, item in enumerate(items):
        if _has_nul(item):
            # PostgreSQL text cannot hold U+0000, and no real name or id contains it.
            errors.append({"index": index, "errors": {"_schema": ["contains a NUL (U+0000) character"]}})
            continue
        try:
            records.append((index, schema.load(item)))
        except ValidationError as exc:
            errors.append({"index": index, "errors": exc.normalized_messages()})  # type: ignore[no-untyped-call]
    return records, errors


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


class ApiSource:
    """Normalizes deliveries of the REST API and the demo: valid records stored, invalid ones reported."""

    name = "api"

    def process(self, session: Session, delivery: InboxDelivery) -> Outcome:
        store = session.get(Store, delivery.store_id) if delivery.store_id is not None else None
        if store is None:
            raise InvalidRecord("delivery", {"store_id": ["the delivery names no existing store"]})
        try:
            items = json.loads(delivery.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidRecord("delivery", {"_schema": [f"not JSON: {exc}"]}) from exc
        loaded, errors = load_records(delivery.topic, items)
        positions = [index for index, _ in loaded]
        outcome = INGEST[delivery.topic](session, store, [r for _, r in loaded]) if loaded else Outcome()
        # Ingest reports records skipped by their place among the valid ones: give their batch index.
        ingest_skips = [{**s, "index": positions[s["index"]]} if "index" in s else s for s in outcome.skipped]
        outcome.skipped = sorted([*errors, *ingest_skips], key=lambda s: s.get("index", -1))
        outcome.account_id = store.account_id
        return outcome
