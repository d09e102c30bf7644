"""WooCommerce deliveries into the store: the same ingest functions as every source.

Topics (`X-WC-Webhook-Topic`): `order.created` and `order.updated` carry the order as the REST API
shows it, a block checkout's draft included (an open checkout until it becomes the order);
`customer.created` and `customer.updated` the customer; `order.deleted` and `customer.deleted`
only `{"id"}`. Deliveries of one store's orders, or of its customers, are normalized together.
Other topics (a shop may add `product.*` or `action.*` webhooks of its own) are acknowledged and
kept. A deleted order leaves its draft's checkout standing: WooCommerce deletes stale drafts
itself, and an abandoned cart stays a fact of the shopper's visit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from marshmallow import Schema, ValidationError
from sqlalchemy.orm import Session

from connectors.inbound import delivery_store, json_body
from connectors.woocommerce import schemas
from integration import ingest
from integration.contract import CheckoutRecord, Outcome
from integration.errors import InvalidRecord
from integration.store.models import InboxDelivery, Store

ORDER_TOPICS = frozenset({"order.created", "order.updated", "order.restored"})
CUSTOMER_TOPICS = frozenset({"customer.created", "customer.updated"})


def _load(schema: Schema, payload: Any) -> Any:
    """Load a payload; InvalidRecord (recorded on the delivery, not retried) if it cannot be."""
    if schema is schemas.ORDER:
        record = schemas.quick_order(payload)  # most orders come in the plain shape it reads
        if record is not None:
            return record
    try:
        return schema.load(payload)
    except ValidationError as exc:
        raise InvalidRecord("delivery", exc.normalized_messages()) from exc  # type: ignore[no-untyped-call]


def write_orders(session: Session, store: Store, records: list[Any]) -> Outcome:
    """Orders and drafts together: drafts are checkouts, the rest orders (their times decide how
    a draft and the order it became settle, whichever is applied first)."""
    drafts = [r for r in records if isinstance(r, CheckoutRecord)]
    orders = [r for r in records if not isinstance(r, CheckoutRecord)]
    outcome = Outcome()
    if drafts:
        outcome.merge(ingest.ingest_checkouts(session, store, drafts))
    if orders:
        outcome.merge(ingest.ingest_orders(session, store, orders))
    return outcome


def write_customers(session: Session, store: Store, records: list[Any]) -> Outcome:
    return ingest.ingest_customers(session, store, records)


BATCHED: dict[str, tuple[Schema, Callable[[Session, Store, list[Any]], Outcome]]] = {
    **dict.fromkeys(ORDER_TOPICS, (schemas.ORDER, write_orders)),
    **dict.fromkeys(CUSTOMER_TOPICS, (schemas.CUSTOMER, write_customers)),
}


def _order_deleted(session: Session, store: Store, delivery: InboxDelivery) -> Outcome:
    deleted = _load(schemas.DELETED, json_body(delivery))
    return ingest.delete_orders(session, store, [deleted["id"]], delivery.received_at)


def _customer_deleted(session: Session, store: Store, delivery: InboxDelivery) -> Outcome:
    deleted = _load(schemas.DELETED, json_body(delivery))
    return ingest.delete_customers(session, store, [deleted["id"]], delivery.received_at)


HANDLERS: dict[str, Callable[[Session, Store, InboxDelivery], Outcome]] = {
    "order.deleted": _order_deleted,
    "customer.deleted": _customer_deleted,
}


class WooCommerceSource:
    """Normalizes WooCommerce webhook deliveries; every topic is handled or acknowledged."""

    name = "woocommerce"

    def process(self, session: Session, delivery: InboxDelivery) -> Outcome:
        return self.process_batch(session, [delivery])

    def batch_key(self, delivery: InboxDelivery) -> tuple[Any, ...] | None:
        """Deliveries with the same key can be normalized in one call; None: alone."""
        batched = BATCHED.get(delivery.topic)
        return (delivery.store_id, batched[1].__name__) if batched is not None else None

    def process_batch(self, session: Session, deliveries: Sequence[InboxDelivery]) -> Outcome:
        """Normalize deliveries sharing a batch key together; raise if any one cannot be read."""
        store = delivery_store(session, deliveries[0])
        batched = BATCHED.get(deliveries[0].topic)
        if batched is None:
            (delivery,) = deliveries
            handler = HANDLERS.get(delivery.topic)
            outcome = handler(session, store, delivery) if handler is not None else Outcome()
        else:
            schema, ingest_batch = batched
            outcome = ingest_batch(session, store, [_load(schema, json_body(d)) for d in deliveries])
        outcome.account_id = store.account_id
        return outcome
