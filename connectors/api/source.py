"""The API source: a delivery holds a JSON array of records of one topic in our documented shapes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.orm import Session

from connectors.api.schemas import SCHEMAS
from connectors.inbound import json_body, load_each, place_skips
from integration import ingest
from integration.contract import Outcome
from integration.errors import InvalidRecord
from integration.ingest.isolation import ingest_isolated
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
    return load_each(items, schema)


class ApiSource:
    """Normalizes deliveries of the REST API and the demo: valid records stored, invalid ones reported."""

    name = "api"

    def process(self, session: Session, delivery: InboxDelivery) -> Outcome:
        store = session.get(Store, delivery.store_id) if delivery.store_id is not None else None
        if store is None:
            raise InvalidRecord("delivery", {"store_id": ["the delivery names no existing store"]})
        loaded, errors = load_records(delivery.topic, json_body(delivery))
        positions = [index for index, _ in loaded]
        ingest_topic = INGEST[delivery.topic]
        outcome = ingest_isolated(
            session, lambda part: ingest_topic(session, store, part), [r for _, r in loaded]
        )
        place_skips(outcome, positions, errors)
        outcome.account_id = store.account_id
        return outcome
