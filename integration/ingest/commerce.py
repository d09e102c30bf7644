"""Orders and checkouts with their line items; orders complete the checkouts they came from."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import fields, replace
from datetime import datetime
from operator import attrgetter
from typing import Any

from sqlalchemy import Boolean, delete, literal, literal_column, or_, select, true
from sqlalchemy.orm import Session

from integration.commerce import carts, totals
from integration.commerce.checkout_identity import VALUE, set_by_token
from integration.commerce.orders import is_placed
from integration.contract import CheckoutRecord, LineItemRecord, OrderRecord, Outcome
from integration.ingest import storefront
from integration.ingest.common import newest_by, newest_hits, touch_contacts
from integration.ingest.isolation import StoredMeanwhile
from integration.ingest.recompute import recompute_last_interactions
from integration.ingest.refunds import refresh_refunded, store_refunds
from integration.ingest.removals import redelete_orders, without_redacted_people
from integration.ingest.resolver import ContactResolver
from integration.store import locks
from integration.store.bulk import among, chunks, insert_for, insert_rows, rows_table
from integration.store.models import (
    Checkout,
    CheckoutLineItem,
    CheckoutState,
    InteractionType,
    Order,
    OrderLineItem,
    Store,
    table_of,
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
# Not `completed_at`: the outcome is `settle`'s, and the platform's report `_complete`'s.
CHECKOUT_FIELDS = (
    "cart_token",
    "created_at",
    "updated_at",
    "currency",
    "total_price",
    "recovery_url",
)


# How often a batch is stored again after another writer stored one of its orders first meanwhile.
RACE_ATTEMPTS = 3


def ingest_orders(
    session: Session, store: Store, records: Sequence[OrderRecord], *, buyers_later: bool = False
) -> Outcome:
    """Upsert a store's orders and their line items; an older version never overwrites a newer one.

    With `buyers_later` (a bulk import) the buyers' totals and leaderboard rows, their last
    interaction and so their engagement group are not brought up to date here but noted, for
    `totals.fold_notes` once the import's batches are stored: a buyer's orders in many batches
    touch its contact once. (An order that no longer counts, or moved to another contact, still
    has its contacts' last interaction recomputed here.)

    Two writers may both find an order not stored yet; the second then waits at its key and updates
    the first's row without having read it. That batch is rolled back to its savepoint and stored
    again, this time reading the order as the first writer committed it (so the contact it leaves
    is recomputed too).
    """
    attempt = 1
    while True:
        try:
            with session.begin_nested():
                return _ingest_orders(session, store, records, buyers_later)
        except StoredMeanwhile:
            if attempt == RACE_ATTEMPTS:
                raise
            attempt += 1


def _ingest_orders(
    session: Session, store: Store, records: Sequence[OrderRecord], buyers_later: bool
) -> Outcome:
    outcome = Outcome()
    latest = without_redacted_people(session, store, newest_by(records, "external_id", outcome=outcome))
    # Locked as read: the contact a stored order belongs to must still be its contact when its
    # former contact is recomputed below.
    stored = _stored(session, Order, store, list(latest), lock=True)
    fresh = _fresh(latest, stored, outcome)
    if not fresh:
        return outcome

    contacts = ContactResolver(session, store).resolve(
        [(r.customer_id, r.email) for r in fresh],
        [r.created_at for r in fresh],
        [r.updated_at for r in fresh],
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
    written = _upsert(
        session, Order, rows, "external_id", [*ORDER_FIELDS, "contact_id", "email"], stored=stored.keys()
    )
    if any(not inserted and key not in stored for key, (_, inserted) in written.items()):
        raise StoredMeanwhile("another writer stored one of these orders first meanwhile")
    if len(written) < len(fresh):
        kept = [(r, c) for r, c in zip(fresh, contacts, strict=True) if r.external_id in written]
        fresh, contacts = [r for r, _ in kept], [c for _, c in kept]
    # A cancelled or voided order may have been the contact's newest interaction, and so may an
    # order that moved to another contact for its former contact: those are recomputed below.
    retracted = {c for r, c in zip(fresh, contacts, strict=True) if c is not None and not is_placed(r)}
    former: set[int] = set()
    for r, c in zip(fresh, contacts, strict=True):
        previous = stored[r.external_id][2] if r.external_id in stored else None
        if previous is not None and previous != c:
            former.add(previous)
    buyers = set() if buyers_later else {c for c in contacts if c is not None}  # an import notes them
    # Every contact recomputed below is locked at once, in id order, once the orders are (as every
    # writer of orders takes them: orders, then contacts), so that one writer at a time recomputes
    # each; taken in several steps, two batches could each hold one the other awaits.
    locks.lock_contacts(session, retracted | former | buyers)
    ids = {k: row_id for k, (row_id, _) in written.items()}
    _replace_line_items(
        session,
        OrderLineItem,
        "order_id",
        {ids[r.external_id]: r.line_items for r in fresh},
        new={row_id for row_id, inserted in written.values() if inserted},
    )
    # The refunds the payload lists, and those that arrived before the order, count once each.
    store_refunds(session, store, [refund for r in fresh for refund in r.refunds])
    refresh_refunded(session, store, [r.external_id for r in fresh])

    placed = [
        (c, r.created_at, InteractionType.ORDER_PLACED)
        for r, c in zip(fresh, contacts, strict=True)
        if is_placed(r)
    ]
    if not buyers_later:
        touch_contacts(session, newest_hits(placed))
    recompute_last_interactions(session, store.account_id, retracted | former)
    carts.recover_by_orders(session, store, [ids[r.external_id] for r in fresh], former)
    totals.orders_changed(session, store.account_id, {*contacts, *former}, later=buyers_later)
    redelete_orders(session, store, [r.external_id for r in fresh])

    outcome.written = len(fresh)
    outcome.orders_changed = bool(fresh)
    outcome.unchanged += len(rows) - len(fresh)
    # The contacts whose group may change; an import's buyers are classified by the fold.
    outcome.contact_ids = set() if buyers_later else {c for c in contacts if c is not None}
    return outcome


def ingest_checkouts(session: Session, store: Store, records: Sequence[CheckoutRecord]) -> Outcome:
    """Upsert a store's checkouts by token and settle them with the orders already stored.

    A version reporting the checkout completed tells when it was completed, not that the buyer was
    active then: the checkout's last activity, which its abandonment follows, is that of its other
    versions (at least its creation), whichever of them arrives first.
    """
    outcome = Outcome()
    completions: dict[str, datetime] = {}
    for r in records:
        if r.completed_at is not None:
            completions[r.token] = min(r.completed_at, completions.get(r.token, r.completed_at))
    activity = [
        replace(r, updated_at=r.created_at, completed_at=None) if r.completed_at else r for r in records
    ]
    latest = newest_by(activity, "token", outcome=outcome)
    stored = _stored(session, Checkout, store, list(latest), key="token")
    fresh = _fresh(latest, stored, outcome)
    if not fresh and not completions:
        return outcome

    identified = [i for i, r in enumerate(fresh) if r.customer_id or r.email]
    # As for orders: the customer decides the contact, the checkout's own email only without one.
    resolved = ContactResolver(session, store).resolve(
        [(fresh[i].customer_id, _contact_email(fresh[i])) for i in identified],
        [fresh[i].created_at for i in identified],
        [fresh[i].updated_at for i in identified],
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
            "state": CheckoutState.OPEN,
            **{f: getattr(r, f) for f in CHECKOUT_FIELDS},
            "platform_completed_at": completions.get(r.token),
        }
        for r, contact_id in zip(fresh, contacts, strict=True)
    ]
    written = (
        _upsert(
            session,
            Checkout,
            rows,
            "token",
            [*CHECKOUT_FIELDS, "contact_id", "email"],
            stored=stored.keys(),
        )
        if rows
        else {}
    )
    if len(written) < len(fresh):
        kept = [(r, c) for r, c in zip(fresh, contacts, strict=True) if r.token in written]
        outcome.unchanged += len(fresh) - len(kept)
        fresh, contacts = [r for r, _ in kept], [c for _, c in kept]
    _complete(session, store, completions)
    ids = {
        k: v[0]
        for k, v in _stored(
            session, Checkout, store, sorted({r.token for r in fresh} | set(completions)), key="token"
        ).items()
    }
    _replace_line_items(session, CheckoutLineItem, "checkout_id", {ids[r.token]: r.line_items for r in fresh})
    # What became of each checkout follows from the times, whichever of it and its order came first.
    carts.settle(session, store, ids.values())

    outcome.written = len(fresh)
    outcome.contact_ids = {c for c in contacts if c is not None}
    # Storefront visitors that started one of these checkouts before it was stored are tied now.
    known = {r.token: c for r, c in zip(fresh, contacts, strict=True) if c is not None}
    outcome.contact_ids |= storefront.visitors_identified(session, store, checkouts=known).contact_ids
    return outcome


def _complete(session: Session, store: Store, completions: dict[str, datetime]) -> None:
    """Record when the platform says checkouts were completed (the earliest, if it says so twice),
    whatever decided them so far: `settle` weighs the report against the orders."""
    table = table_of(Checkout)
    set_by_token(
        session,
        store,
        "platform_completed_at",
        completions.items(),
        or_(table.c.platform_completed_at.is_(None), table.c.platform_completed_at > VALUE),
    )


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
    session: Session,
    model: Any,
    store: Store,
    keys: list[str],
    key: str = "external_id",
    *,
    lock: bool = False,
) -> dict[str, tuple[int, Any, int | None]]:
    """The stored rows of these keys: id, update time and contact.

    With `lock`, the rows are locked (in id order) as they are read, until the transaction ends:
    what they say — above all the contact a record belongs to now — then stays true while the
    caller writes, and a writer that changed them meanwhile is waited for and its version read.
    PostgreSQL locks them in one statement, so the id order holds across the whole batch (SQLite
    takes no row locks, and its lists are cut to its parameter limit).
    """
    column = getattr(model, key)
    found: dict[str, tuple[int, Any, int | None]] = {}
    whole = lock and session.get_bind().dialect.name == "postgresql"
    for part in [keys] if whole else chunks(keys):
        query = select(column, model.id, model.updated_at, model.contact_id).where(
            model.store_id == store.id, among(session, column, part)
        )
        if lock:
            query = query.order_by(model.id).with_for_update(key_share=True)
        rows = session.execute(query)
        found.update({k: (row_id, updated, contact) for k, row_id, updated, contact in rows})
    return found


def _upsert(
    session: Session,
    model: Any,
    rows: list[dict[str, Any]],
    key: str,
    fields: Sequence[str],
    stored: Collection[str] = (),
) -> dict[str, tuple[int, bool]]:
    """Insert or update rows where the incoming version is newer; return the keys actually written,
    each with its row's id and whether this inserted the row (False: it updated one).

    `stored` names the keys read as stored before: on SQLite (one writer at a time) a key not among
    them was inserted; PostgreSQL says so itself, whatever another writer committed meanwhile.
    """
    table = model.__table__
    names = list(rows[0])
    # The rows travel as one document: a statement of fixed text, not one placeholder per value
    # (a batch's VALUES list was parsed anew by the driver each time: a seventh of a drain's time).
    incoming = rows_table(session, "incoming", {name: table.c[name].type for name in names}, rows)
    stmt = insert_for(session, table).from_select(
        # The WHERE also lets SQLite parse an upsert from a SELECT.
        names,
        select(*(incoming.c[name] for name in names)).where(true()),
    )
    postgres = session.get_bind().dialect.name == "postgresql"
    # A row version an upsert inserted has no deleting or locking transaction yet (xmax 0); one it
    # updated is locked by this transaction.
    inserted = literal_column(f"{table.name}.xmax = 0", Boolean) if postgres else literal(False)
    stmt = stmt.on_conflict_do_update(
        index_elements=["store_id", key],
        set_={f: stmt.excluded[f] for f in fields} | {"ingested_at": utcnow()},
        # A concurrent newer write wins here too, not only in the pre-check: a version that lost
        # here is not written, and neither are its line items or effects.
        where=table.c.updated_at < stmt.excluded.updated_at,
    ).returning(table.c[key], table.c.id, inserted)
    return {
        k: (row_id, bool(new) if postgres else k not in stored) for k, row_id, new in session.execute(stmt)
    }


def _replace_line_items(
    session: Session,
    model: Any,
    parent: str,
    items: dict[int, list[LineItemRecord]],
    new: Collection[int] = (),
) -> None:
    """Replace the line items of these parents (those of `new` parents, just inserted, have none)."""
    parent_column = getattr(model, parent)
    for part in chunks([p for p in items if p not in new]):
        session.execute(delete(model).where(among(session, parent_column, part)))
    # The record's fields the table has (the same for every item: asked once).
    columns = sorted({c.name for c in model.__table__.columns} & {f.name for f in fields(LineItemRecord)})
    read = attrgetter(*columns)
    rows = [
        {parent: parent_id, **dict(zip(columns, read(item), strict=True))}
        for parent_id, line_items in items.items()
        for item in line_items
    ]
    insert_rows(session, model.__table__, rows, "items")
