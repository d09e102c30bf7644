"""Shopify deliveries into the store: one handler per topic, the same ingest functions as every source.

Webhook topics and backfill records go through the schemas in `schemas.py`. Topics that need no
work (or that a newer API version may add) are acknowledged and kept, never failed. Deliveries of
the same kind from one store are normalized together in one call (see `batch_key`).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

from marshmallow import Schema, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.inbound import delivery_store, json_body
from connectors.shopify import schemas
from connectors.shopify.schemas import merchant_tags
from connectors.times import FUTURE_SKEW, not_ahead
from integration import ingest, notifications, privacy
from integration.commerce.checkout_identity import checkout_identities
from integration.contract import Outcome
from integration.errors import InvalidRecord, RetryLater
from integration.follow_ups import ContinueBackfill, ReadCustomers
from integration.ingest.consent import apply_consent
from integration.ingest.removals import markers
from integration.ingest.resolver import ContactResolver
from integration.store.models import (
    Backfill,
    Contact,
    InboxDelivery,
    NotificationKind,
    RemovalKind,
    RemovalReason,
    Store,
    StoreCustomer,
    StoreState,
)

logger = logging.getLogger(__name__)

ORDER_TOPICS = frozenset(
    {
        "orders/create",
        "orders/updated",
        "orders/paid",
        "orders/cancelled",
        "orders/fulfilled",
        "orders/partially_fulfilled",
    }
)
CHECKOUT_TOPICS = frozenset({"checkouts/create", "checkouts/update"})
CUSTOMER_TOPICS = frozenset({"customers/create", "customers/update", "customers/enable", "customers/disable"})
# Shopify's reference and changelog spell the consent topic differently; accept both.
CONSENT_TOPICS = frozenset(
    {"customers_email_marketing_consent/update", "customers/email_marketing_consent_update"}
)
COMPLIANCE_TOPICS = frozenset({"customers/data_request", "customers/redact", "shop/redact"})
# Topics whose deliveries still matter after the app is uninstalled or for a shop we never knew.
AFTER_UNINSTALL_TOPICS = COMPLIANCE_TOPICS | {"app/uninstalled"}

Handler = Callable[[Session, Store, Any, InboxDelivery], Outcome]


class CustomerUnknown(RetryLater):
    """A delivery names a customer not seen yet (deliveries come out of order): retried later."""


def _load(schema: Schema, payload: Any, delivery: InboxDelivery) -> Any:
    """Load a payload; InvalidRecord (recorded on the delivery, not retried) if it cannot be,
    or if it names a time later than the delivery's receipt plus FUTURE_SKEW."""
    latest = delivery.received_at + FUTURE_SKEW
    if schema is schemas.ORDER:
        # Most order deliveries are in the plain shape the quick way reads. Its record holds no time
        # at or after the earlier of the schema's bound (our clock) and the receipt's (the web
        # host's clock): the schema and the walk below would refuse none. The rest go through them.
        record = schemas.quick_order(payload, min(latest, not_ahead()()))
        if record is not None:
            return record
    try:
        loaded = schema.load(payload)
    except ValidationError as exc:
        raise InvalidRecord("delivery", exc.normalized_messages()) from exc  # type: ignore[no-untyped-call]
    if _any_after(loaded, latest):  # a quick look first; the paths only for a refusal
        ahead = {name: moment for name, moment in _times(loaded) if moment > latest}
        # Newer-wins would let such a version hold the record against every later update.
        received = delivery.received_at.isoformat(timespec="seconds")
        skew = int(FUTURE_SKEW.total_seconds()) // 60
        raise InvalidRecord(
            "delivery",
            {
                name: [f"{moment.isoformat()} is later than the receipt ({received}) plus {skew} minutes"]
                for name, moment in ahead.items()
            },
        )
    return loaded


_FIELDS: dict[type, tuple[str, ...]] = {}


def _any_after(value: Any, latest: datetime) -> bool:
    """Whether a loaded record (dataclass, dict or list) holds a time later than `latest`."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, datetime):
            if item > latest:
                return True
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
        else:
            kind = type(item)
            names = _FIELDS.get(kind)
            if names is None:
                is_record = dataclasses.is_dataclass(item) and not isinstance(item, type)
                names = _FIELDS[kind] = tuple(f.name for f in dataclasses.fields(item)) if is_record else ()
            stack.extend(getattr(item, name) for name in names)
    return False


def _times(value: Any, path: str = "") -> Iterator[tuple[str, datetime]]:
    """Every time in a loaded record (dataclass, dict or list), with its path."""
    if isinstance(value, datetime):
        yield path, value
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            yield from _times(getattr(value, field.name), f"{path}.{field.name}".lstrip("."))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _times(item, f"{path}.{key}".lstrip("."))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _times(item, f"{path}.{index}".lstrip("."))


def _stamp(delivery: InboxDelivery) -> datetime:
    """When the change happened as far as the delivery tells: Shopify's trigger time, else receipt."""
    return delivery.triggered_at or delivery.received_at


def _orders(session: Session, store: Store, records: list[Any]) -> Outcome:
    return ingest.ingest_orders(session, store, records)


def _checkouts(session: Session, store: Store, records: list[Any]) -> Outcome:
    # Backfilled abandoned checkouts may be named by their cart token only (their recovery URL).
    return ingest.ingest_checkouts(session, store, checkout_identities(session, store, records))


def _customers(session: Session, store: Store, records: list[Any]) -> Outcome:
    outcome = ingest.ingest_customers(session, store, records)
    # Since API 2025-01 customer payloads carry no consent and no tags: read them once per customer.
    missing = [r.external_id for r in records if r.subscription_status is None]
    unread = _without_shopify_consent(session, store, missing) if missing else []
    if unread:
        outcome.asked.append(ReadCustomers(store.id, tuple(unread)))
    return outcome


def _without_shopify_consent(session: Session, store: Store, external_ids: list[str]) -> list[str]:
    rows = session.execute(
        select(StoreCustomer.external_id, Contact.subscription_reason)
        .join(Contact, Contact.id == StoreCustomer.contact_id)
        .where(StoreCustomer.store_id == store.id, StoreCustomer.external_id.in_(external_ids))
    )
    return sorted(ext for ext, reason in rows if not (reason or "").startswith("shopify"))


BATCHED: dict[str, tuple[Schema, Callable[[Session, Store, list[Any]], Outcome]]] = {
    **dict.fromkeys(ORDER_TOPICS, (schemas.ORDER, _orders)),
    **dict.fromkeys(CHECKOUT_TOPICS, (schemas.CHECKOUT, _checkouts)),
    **dict.fromkeys(CUSTOMER_TOPICS, (schemas.CUSTOMER, _customers)),
}


def _removed(session: Session, store: Store, customer_id: str, at: datetime) -> bool:
    """The customer was redacted, or deleted after a change made at `at`: the change is void."""
    marker = markers(session, store, RemovalKind.CUSTOMER, [customer_id]).get(customer_id)
    return marker is not None and (marker[0] == RemovalReason.REDACTED or at <= marker[1])


def _consent(session: Session, store: Store, payload: Any, delivery: InboxDelivery) -> Outcome:
    change = _load(schemas.CONSENT_UPDATE, payload, delivery)
    outcome = Outcome()
    if change["status"] is None:
        outcome.unchanged = 1
        return outcome
    if _removed(session, store, change["customer_id"], change["changed_at"] or _stamp(delivery)):
        return Outcome(unchanged=1)
    [contact_id] = ContactResolver(session, store).resolve(
        [(change["customer_id"], change["email"])], [_stamp(delivery)]
    )
    if contact_id is None:
        raise CustomerUnknown(
            f"customer {change['customer_id']} is not known yet and the delivery has no email"
        )
    apply_consent(
        session,
        [
            {
                "_id": contact_id,
                "_status": change["status"],
                "_at": change["changed_at"] or _stamp(delivery),
                "_reason": "shopify_consent",
            }
        ],
    )
    outcome.written = 1
    outcome.contact_ids.add(contact_id)
    return outcome


def _tags(added: bool) -> Handler:
    def handle(session: Session, store: Store, payload: Any, delivery: InboxDelivery) -> Outcome:
        change = _load(schemas.TAGS, payload, delivery)
        # storepulse's own tags come back as deliveries: they are not the merchant's data.
        change["tags"] = merchant_tags(change["tags"])
        if not change["tags"]:
            return Outcome(unchanged=1)
        contact_id = (
            ContactResolver(session, store).linked([change["customer_id"]]).get(change["customer_id"])
        )
        if contact_id is None:
            if _removed(session, store, change["customer_id"], change.get("occurred_at") or _stamp(delivery)):
                return Outcome(unchanged=1)
            raise CustomerUnknown(f"customer {change['customer_id']} is not known yet")
        # Locked: two tag changes of one contact in concurrent workers must not lose either.
        contact = session.get(Contact, contact_id, with_for_update=True, populate_existing=True)
        assert contact is not None  # noqa: S101 - the link's foreign key guarantees it
        tags = set(contact.tags)
        contact.tags = sorted(tags | set(change["tags"]) if added else tags - set(change["tags"]))
        return Outcome(written=1, contact_ids={contact_id})

    return handle


def _order_deleted(session: Session, store: Store, payload: Any, delivery: InboxDelivery) -> Outcome:
    return ingest.delete_orders(
        session, store, [_load(schemas.ID_PAYLOAD, payload, delivery)["id"]], _stamp(delivery)
    )


def _refund(session: Session, store: Store, payload: Any, delivery: InboxDelivery) -> Outcome:
    return ingest.ingest_refunds(session, store, [_load(schemas.REFUND, payload, delivery)])


def _checkout_deleted(session: Session, store: Store, payload: Any, delivery: InboxDelivery) -> Outcome:
    refs = _load(schemas.CHECKOUT_DELETE, payload, delivery)
    return ingest.delete_checkouts(
        session,
        store,
        [refs["token"]] if refs.get("token") else [],
        [refs["cart_token"]] if refs.get("cart_token") else [],
        _stamp(delivery),
    )


def _customer_deleted(session: Session, store: Store, payload: Any, delivery: InboxDelivery) -> Outcome:
    return ingest.delete_customers(
        session, store, [_load(schemas.ID_PAYLOAD, payload, delivery)["id"]], _stamp(delivery)
    )


def _uninstalled(session: Session, store: Store, payload: Any, delivery: InboxDelivery) -> Outcome:
    """The store is disconnected and keeps its data; a reinstall reconnects it."""
    if store.state == StoreState.CONNECTED and (
        store.connected_at is None or store.connected_at <= _stamp(delivery)
    ):
        store.state = StoreState.DISCONNECTED
        store.disconnected_at = _stamp(delivery)
        store.credentials = None
        notifications.notify(
            session,
            store.account_id,
            NotificationKind.STORE_DISCONNECTED,
            f"store:{store.id}",
            {"store_id": store.id, "store": store.name},
        )
        return Outcome(written=1)
    return Outcome(unchanged=1)


def _data_request(session: Session, store: Store, payload: Any, delivery: InboxDelivery) -> Outcome:
    request = _load(schemas.COMPLIANCE, payload, delivery)
    customer = request["customer"]
    # Shopify may deliver one request under several webhook ids: its own id makes it one export.
    request_id = str((request.get("data_request") or {}).get("id") or "") or None
    if privacy.request_export(session, store, request_id) is not None:
        return Outcome(unchanged=1)
    export = privacy.export_customer(
        session,
        store,
        customer.get("id"),
        customer.get("email"),
        request["orders_requested"],
        request_id=request_id,
    )
    logger.info("data request for store %s prepared as export %s", store.id, export.id)
    return Outcome(written=1)


def _customer_redact(session: Session, store: Store, payload: Any, delivery: InboxDelivery) -> Outcome:
    request = _load(schemas.COMPLIANCE, payload, delivery)
    customer = request["customer"]
    counts = privacy.redact_customer(
        session, store, customer.get("id"), customer.get("email"), request["orders_to_redact"]
    )
    return Outcome(written=counts["contacts"] + counts["orders"] + counts["checkouts"])


def _shop_redact(session: Session, store: Store, payload: Any, delivery: InboxDelivery) -> Outcome:
    counts = privacy.redact_store(session, store)
    return Outcome(written=sum(counts.values()))


def _bulk_finished(session: Session, store: Store, payload: Any, delivery: InboxDelivery) -> Outcome:
    finished = _load(schemas.BULK_FINISHED, payload, delivery)
    backfill = session.scalar(
        select(Backfill).where(
            Backfill.store_id == store.id, Backfill.operation_id == finished["operation_id"]
        )
    )
    if backfill is None or backfill.status != "running":
        return Outcome(unchanged=1)
    return Outcome(written=1, asked=[ContinueBackfill(backfill.id)])


def _acknowledged(session: Session, store: Store, payload: Any, delivery: InboxDelivery) -> Outcome:
    return Outcome(unchanged=1)


HANDLERS: dict[str, Handler] = {
    **dict.fromkeys(CONSENT_TOPICS, _consent),
    "customer.tags_added": _tags(added=True),
    "customer.tags_removed": _tags(added=False),
    "orders/delete": _order_deleted,
    "refunds/create": _refund,
    "checkouts/delete": _checkout_deleted,
    "customers/delete": _customer_deleted,
    "app/uninstalled": _uninstalled,
    "customers/data_request": _data_request,
    "customers/redact": _customer_redact,
    "shop/redact": _shop_redact,
    "bulk_operations/finish": _bulk_finished,
}


class ShopifySource:
    """Normalizes Shopify webhook deliveries; every topic is handled or acknowledged, never dropped."""

    name = "shopify"

    def process(self, session: Session, delivery: InboxDelivery) -> Outcome:
        store = delivery_store(session, delivery)
        payload = json_body(delivery)
        batched = BATCHED.get(delivery.topic)
        if batched is not None:
            schema, ingest_batch = batched
            outcome = ingest_batch(session, store, [_load(schema, payload, delivery)])
        else:
            outcome = HANDLERS.get(delivery.topic, _acknowledged)(session, store, payload, delivery)
        outcome.account_id = store.account_id
        return outcome

    def batch_key(self, delivery: InboxDelivery) -> tuple[Any, ...] | None:
        """Deliveries with the same key can be normalized in one call; None: alone."""
        batched = BATCHED.get(delivery.topic)
        return (delivery.store_id, batched[1].__name__) if batched is not None else None

    def process_batch(self, session: Session, deliveries: Sequence[InboxDelivery]) -> Outcome:
        """Normalize deliveries sharing a batch key together; raise if any one cannot be read."""
        store = delivery_store(session, deliveries[0])
        schema, ingest_batch = BATCHED[deliveries[0].topic]
        records = [_load(schema, json_body(d), d) for d in deliveries]
        outcome = ingest_batch(session, store, records)
        outcome.account_id = store.account_id
        return outcome


def customer_details(session: Session, store: Store, records: Sequence[Any]) -> Outcome:
    """Apply customers read from Shopify, and their consent and tags even where the profile is unchanged.

    Consent has its own clock (when it changed), so it is applied by that, not by `updated_at`.
    """
    outcome = ingest.ingest_customers(session, store, list(records))
    links = ContactResolver(session, store).linked([r.external_id for r in records])
    consent = [
        {
            "_id": links[r.external_id],
            "_status": r.subscription_status,
            "_at": r.subscription_changed_at or r.updated_at,
            "_reason": "shopify_customer",
        }
        for r in records
        if r.external_id in links and r.subscription_status is not None
    ]
    apply_consent(session, consent)
    for record in records:
        if record.external_id in links and record.tags is not None:
            contact = session.get(Contact, links[record.external_id])
            if contact is not None and contact.tags != sorted(set(record.tags)):
                contact.tags = sorted(set(record.tags))
    outcome.contact_ids |= set(links.values())
    return outcome


def backfill_records(session: Session, store: Store, kind: str, records: Sequence[Any]) -> Outcome:
    """Normalize records read by a backfill or reconciliation (already loaded by the GraphQL schemas)."""
    ingest_batch = {
        "customers": ingest.ingest_customers,
        "customer_details": customer_details,
        "orders": _orders,
        "checkouts": _checkouts,
    }[kind]
    outcome = ingest_batch(session, store, list(records))
    outcome.account_id = store.account_id
    return outcome
