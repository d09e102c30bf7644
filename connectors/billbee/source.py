"""Billbee pages as the poll stores them in the inbox, normalized like every source's deliveries.

A delivery is one page the poll read (`{"Data": [...], "ReadAt": "..."}`, topic `customers` or
`orders`), kept under a digest of its content: a page read again unchanged stores nothing new. An
order's buyer is written before the order. Records that do not load are reported by their place
in the page, the others kept. Billbee gives customers no change time: a customer counts as of the
time its page was read, and an order's buyer as of the order's last change.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy.orm import Session

from connectors.billbee import schemas
from connectors.inbound import delivery_store, json_body, load_each, place_skips
from integration import ingest
from integration.contract import CustomerRecord, Outcome
from integration.errors import InvalidRecord
from integration.store.models import InboxDelivery

TOPICS = ("customers", "orders")
MAX_ITEMS = 250  # Billbee's largest page


def page_items(delivery: InboxDelivery) -> list[Any]:
    """The page's items; InvalidRecord (the delivery fails at once) when the body is no page."""
    body = json_body(delivery)
    items = body.get("Data") if isinstance(body, dict) else None
    if not isinstance(items, list) or len(items) > MAX_ITEMS:
        raise InvalidRecord("delivery", {"Data": [f"a page holds a Data list of at most {MAX_ITEMS} items"]})
    return items


def write_orders(session: Session, store: Any, pairs: list[Any]) -> Outcome:
    """Orders with their buyers (the newest version of each buyer first), then the orders."""
    outcome = Outcome()
    buyers: dict[str, CustomerRecord] = {}
    for _, buyer in pairs:
        if buyer is not None:
            known = buyers.get(buyer.external_id)
            if known is None or known.updated_at < buyer.updated_at:
                buyers[buyer.external_id] = buyer
    if buyers:
        outcome.merge(ingest.ingest_customers(session, store, list(buyers.values())))
    outcome.merge(ingest.ingest_orders(session, store, [order for order, _ in pairs]))
    return outcome


class BillbeeSource:
    """Normalizes the pages the Billbee poll stored; every record loaded alone."""

    name = "billbee"

    def process(self, session: Session, delivery: InboxDelivery) -> Outcome:
        store = delivery_store(session, delivery)
        if delivery.topic not in TOPICS:
            return Outcome(account_id=store.account_id)  # nothing else is stored; acknowledged
        items = page_items(delivery)
        schema = schemas.CUSTOMER if delivery.topic == "customers" else schemas.ORDER
        loaded, skipped = load_each(items, schema, noun=delivery.topic.rstrip("s"))
        positions = [index for index, _ in loaded]
        if delivery.topic == "customers":
            records = [dataclasses.replace(r, updated_at=delivery.received_at) for _, r in loaded]
            outcome = ingest.ingest_customers(session, store, records)
        else:
            outcome = write_orders(session, store, [r for _, r in loaded])
        place_skips(outcome, positions, skipped)
        outcome.account_id = store.account_id
        return outcome
