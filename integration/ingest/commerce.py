"""Orders and checkouts with their line items; orders complete the checkouts they came from."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from integration import carts, totals
from integration.ingest.common import (
    ContactResolver,
    Outcome,
    chunks,
    insert_for,
    newest_by,
    newest_hits,
    touch_contacts,
)
from integration.ingest.recompute import recompute_last_interactions
from integration.ingest.refunds import refresh_refunded, store_refunds
from integration.ingest.removals import redelete_orders, without_redacted_people
from integration.orders import is_placed, placed
from integration.records import CheckoutRecord, LineItemRecord, OrderRecord
from integration.store.models import (
    Checkout,
    CheckoutLineItem,
    CheckoutState,
    InteractionType,
    Order,
    OrderLineItem,
    Store,
)
from integration.store.types import utcnow

ORDER_FIELDS = (
    "name",
    "number",
    "created_at",
    "processed_at",
    "updated_at",
    "cancelled_at",
    "financial_status",
    "fulfillment_status",
    "currency",
    "subtotal_price",
    "total_discounts",
    "total_shipping",
    "total_tax",
    "total_price",
    "checkout_token",
    "cart_token",
    "source_name",
)
CHECKOUT_FIELDS = (
    "cart_token",
    "created_at",
    "updated_at",
    "completed_at",
    "currency",
    "total_price",
    "recovery_url",
)


def ingest_orders(session: Session, store: Store, records: Sequence[OrderRecord]) -> Outcome:
    """Upsert a store's orders and their line items; an older version never overwrites a newer one."""
    outcome = Outcome()
    latest = without_redacted_people(session, store, newest_by(records, "external_id", outcome=outcome))
    stored = _stored(session, Order, store, list(latest))
    fresh = _fresh(latest, stored, outcome)
    if not fresh:
        return outcome

    contacts = ContactResolver(session, store).resolve(
        [(r.customer_id, r.email) for r in fresh], [r.created_at for r in fresh]
    )
    rows = [
        {
            "store_id": store.id,
            "external_id": r.external_id,
            "contact_id": contact_id,
            "email": r.email,
            **{f: getattr(r, f) for f in ORDER_FIELDS},
        }
        for r, contact_id in zip(fresh, contacts, strict=True)
    ]
    written = _upsert(session, Order, rows, "external_id", [*ORDER_FIELDS, "contact_id", "email"])
    if len(written) < len(fresh):
        kept = [(r, c) for r, c in zip(fresh, contacts, strict=True) if r.external_id in written]
        fresh, contacts = [r for r, _ in kept], [c for _, c in kept]
    ids = {k: v[0] for k, v in _stored(session, Order, store, [r.external_id for r in fresh]).items()}
    _replace_line_items(session, OrderLineItem, "order_id", {ids[r.external_id]: r.line_items for r in fresh})
    # The refunds the payload lists, and those that arrived before the order, count once each.
    store_refunds(session, store, [refund for r in fresh for refund in r.refunds])
    refresh_refunded(session, store, [r.external_id for r in fresh])

    placed = [
        (c, r.created_at, InteractionType.ORDER_PLACED)
        for r, c in zip(fresh, contacts, strict=True)
        if is_placed(r)
    ]
    touch_contacts(session, newest_hits(placed))
    # A cancelled or voided order may have been the contact's newest interaction, and so may an
    # order that moved to another contact for its former contact: recompute those.
    retracted = {c for r, c in zip(fresh, contacts, strict=True) if c is not None and not is_placed(r)}
    former: set[int] = set()
    for r, c in zip(fresh, contacts, strict=True):
        previous = stored[r.external_id][2] if r.external_id in stored else None
        if previous is not None and previous != c:
            former.add(previous)
    recompute_last_interactions(session, store.account_id, retracted | former)
    carts.recover_by_orders(session, store, [ids[r.external_id] for r in fresh])
    totals.orders_changed(session, store.account_id, {c for c in contacts if c is not None} | former)
    redelete_orders(session, store, [r.external_id for r in fresh])

    outcome.written = len(fresh)
    outcome.unchanged += len(rows) - len(fresh)
    outcome.contact_ids = {c for c in contacts if c is not None}
    return outcome


def ingest_checkouts(session: Session, store: Store, records: Sequence[CheckoutRecord]) -> Outcome:
    """Upsert a store's checkouts by token; a checkout with a completion time is completed."""
    outcome = Outcome()
    latest = newest_by(records, "token", outcome=outcome)
    stored = _stored(session, Checkout, store, list(latest), key="token")
    fresh = _fresh(latest, stored, outcome)
    if not fresh:
        return outcome

    identified = [i for i, r in enumerate(fresh) if r.customer_id or r.email]
    # As for orders: the customer decides the contact, the checkout's own email only without one.
    resolved = ContactResolver(session, store).resolve(
        [(fresh[i].customer_id, _contact_email(fresh[i])) for i in identified],
        [fresh[i].created_at for i in identified],
    )
    contacts: list[int | None] = [None] * len(fresh)
    for i, contact_id in zip(identified, resolved, strict=True):
        contacts[i] = contact_id
    rows = [
        {
            "store_id": store.id,
            "token": r.token,
            "contact_id": contact_id,
            "email": r.email,
            "state": CheckoutState.COMPLETED if r.completed_at else CheckoutState.OPEN,
            **{f: getattr(r, f) for f in CHECKOUT_FIELDS},
        }
        for r, contact_id in zip(fresh, contacts, strict=True)
    ]
    written = _upsert(session, Checkout, rows, "token", [*CHECKOUT_FIELDS, "contact_id", "email"])
    if len(written) < len(fresh):
        kept = [(r, c) for r, c in zip(fresh, contacts, strict=True) if r.token in written]
        outcome.unchanged += len(fresh) - len(kept)
        fresh, contacts = [r for r, _ in kept], [c for _, c in kept]
    _close_completed(session, store, [r.token for r in fresh if r.completed_at])
    ids = {
        k: v[0] for k, v in _stored(session, Checkout, store, [r.token for r in fresh], key="token").items()
    }
    _replace_line_items(session, CheckoutLineItem, "checkout_id", {ids[r.token]: r.line_items for r in fresh})
    _complete_from_known_orders(session, store, fresh)

    outcome.written = len(fresh)
    outcome.contact_ids = {c for c in contacts if c is not None}
    return outcome


def _fresh(
    latest: dict[str, Any], stored: dict[str, tuple[int, Any, int | None]], outcome: Outcome
) -> list[Any]:
    """The records newer than their stored version; the others are counted on `outcome`."""
    fresh = []
    for key, record in latest.items():
        if key not in stored or stored[key][1] < record.updated_at:
            fresh.append(record)
        else:
            outcome.count_stale(record.updated_at, stored[key][1])
    return fresh


def _contact_email(record: CheckoutRecord) -> str | None:
    """The email that finds a checkout's contact: its customer's, else its own."""
    return (record.customer_email or record.email) if record.customer_id else record.email


def _stored(
    session: Session, model: Any, store: Store, keys: list[str], key: str = "external_id"
) -> dict[str, tuple[int, Any, int | None]]:
    """The stored rows of these keys: id, update time and contact."""
    column = getattr(model, key)
    found: dict[str, tuple[int, Any, int | None]] = {}
    for part in chunks(keys):
        rows = session.execute(
            select(column, model.id, model.updated_at, model.contact_id).where(
                model.store_id == store.id, column.in_(part)
            )
        )
        found.update({k: (row_id, updated, contact) for k, row_id, updated, contact in rows})
    return found


def _upsert(
    session: Session, model: Any, rows: list[dict[str, Any]], key: str, fields: Sequence[str]
) -> set[str]:
    """Insert or update rows where the incoming version is newer; return the keys actually written."""
    table = model.__table__
    stmt = insert_for(session, table)
    stmt = stmt.on_conflict_do_update(
        index_elements=["store_id", key],
        set_={f: stmt.excluded[f] for f in fields} | {"ingested_at": utcnow()},
        # A concurrent newer write wins here too, not only in the pre-check: a version that lost
        # here is not written, and neither are its line items or effects.
        where=table.c.updated_at < stmt.excluded.updated_at,
    ).returning(table.c[key])
    return set(session.execute(stmt, rows).scalars())


def _replace_line_items(
    session: Session, model: Any, parent: str, items: dict[int, list[LineItemRecord]]
) -> None:
    parent_column = getattr(model, parent)
    for part in chunks(list(items)):
        session.execute(delete(model).where(parent_column.in_(part)))
    columns = {c.name for c in model.__table__.columns} - {"id", parent}
    rows = [
        {parent: parent_id, **{c: getattr(item, c) for c in columns if hasattr(item, c)}}
        for parent_id, line_items in items.items()
        for item in line_items
    ]
    if rows:
        session.execute(model.__table__.insert(), rows)


def _close_completed(session: Session, store: Store, tokens: list[str]) -> None:
    """A checkout updated with a completion time is completed unless an order already recovered it."""
    for part in chunks(tokens):
        session.execute(
            update(Checkout)
            .where(
                Checkout.store_id == store.id,
                Checkout.token.in_(part),
                Checkout.state == CheckoutState.OPEN,
            )
            .values(state=CheckoutState.COMPLETED)
        )


def _complete_from_known_orders(session: Session, store: Store, checkouts: list[CheckoutRecord]) -> None:
    """A checkout that arrives after its order is settled at once (deliveries come out of order)."""
    for column, rule, keys in (
        (Order.checkout_token, carts.TOKEN, [c.token for c in checkouts]),
        (Order.cart_token, carts.CART_TOKEN, [c.cart_token for c in checkouts if c.cart_token]),
    ):
        for part in chunks(keys):
            rows = session.execute(
                select(column, Order.id, Order.processed_at, Order.created_at).where(
                    Order.store_id == store.id, column.in_(part), placed()
                )
            ).all()
            by_token: dict[str, tuple[int, datetime]] = {}
            for token, order_id, processed, created in rows:
                if token:
                    by_token[token] = (order_id, processed or created)
            carts.close_by_tokens(session, store, by_token, rule)
