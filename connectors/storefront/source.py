"""Storefront deliveries into the store: the collector's batches, read again from the inbox.

The collector has checked the key, the origin and the limits, and stored the body as it came. Here
each event is read alone (see `schemas`); the valid ones of every delivery of a store go to
`ingest_storefront` in one call, the others are reported on their delivery by index and reason.
An event id seen twice in what is processed together counts once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from connectors.inbound import delivery_store, json_body
from connectors.storefront.schemas import load_events, read_batch
from integration.contract import Outcome, StorefrontRecord
from integration.errors import InvalidRecord
from integration.ingest.storefront import ingest_storefront
from integration.store.models import InboxDelivery

TOPIC = "events"


class StorefrontSource:
    """Normalizes the collector's deliveries (the Shopify pixel's and the tracking snippet's)."""

    name = "storefront"

    def batch_key(self, delivery: InboxDelivery) -> tuple[Any, ...] | None:
        return (delivery.topic, delivery.store_id) if delivery.store_id is not None else None

    def process(self, session: Session, delivery: InboxDelivery) -> Outcome:
        return self.process_batch(session, [delivery])

    def process_batch(self, session: Session, deliveries: Sequence[InboxDelivery]) -> Outcome:
        store = delivery_store(session, deliveries[0])
        records: list[StorefrontRecord] = []
        seen: set[str] = set()
        skipped: list[dict[str, Any]] = []
        duplicate = 0
        for delivery in deliveries:
            if delivery.topic != TOPIC:
                raise InvalidRecord("delivery", {"topic": [f"unknown topic {delivery.topic!r}"]})
            try:
                batch = read_batch(json_body(delivery))
            except ValueError as exc:
                raise InvalidRecord("delivery", {"_schema": [str(exc)]}) from exc
            kept, refused = load_events(batch.events, delivery.received_at)
            if len(deliveries) > 1:
                refused = [{"delivery": delivery.id, **r} for r in refused]
            skipped.extend(refused)
            for _, record in kept:
                if record.event_id in seen:
                    duplicate += 1
                    continue
                seen.add(record.event_id)
                records.append(record)
        outcome = ingest_storefront(session, store, records)
        outcome.duplicate += duplicate
        outcome.skipped.extend(skipped)
        outcome.account_id = store.account_id
        return outcome
