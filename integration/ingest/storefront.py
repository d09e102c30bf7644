"""Storefront events (the Shopify pixel, the tracking snippet): visitors, their ties to contacts,
and the product views and add-to-carts that count as engagement.

A storefront reports a browser, not a person: each event names its visitor (Shopify's `clientId`,
the snippet's first-party id) and, when it knows one, the customer (a logged-in customer, the buyer
of a completed checkout) or the checkout it belongs to. A visitor is *tied* to the contact of the
newest such event whose customer or checkout the store knows. Product views and add-to-carts of a
tied visitor become the contact's interaction events at once; those of a visitor not tied yet wait
in `visitor_events` and become the contact's when the tie is made — in a later batch, or when the
customer or checkout the visitor named arrives (`visitors_identified`).

A storefront's email address (the snippet's `identify`) is only a claim: it ties a visitor that
nothing else ties to the contact that already holds the address, creates no contact, changes no
contact, and gives way to any customer or checkout tie, earlier or later.

A burst counts once: an interaction's id is its visitor, its type and its minute, so repeated views
within a minute (and a replayed event) store one event. Visitors, waiting interactions and events
are written one statement per batch; ties and remembered references are one UPDATE per visitor
they change (a handful per batch).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, exists, select, update
from sqlalchemy.orm import Session

from integration.contacts.identity import normalize_email
from integration.contract import EventRecord, Outcome, StorefrontRecord
from integration.ingest.events import ingest_events
from integration.store.bulk import among, chunks, insert_for
from integration.store.models import (
    Account,
    Checkout,
    Contact,
    InteractionType,
    Store,
    StoreCustomer,
    Visitor,
    VisitorEvent,
    table_of,
)
from integration.store.types import utcnow

SOURCE = "storefront"
INTERACTIONS = {"product_view": InteractionType.PRODUCT_VIEW, "add_to_cart": InteractionType.ADD_TO_CART}
BY_CUSTOMER, BY_CHECKOUT, BY_EMAIL = "customer", "checkout", "email"


def dedupe_key(store_id: int, visitor: str, kind: InteractionType, at: datetime) -> str:
    """The id of a visitor's interaction of one type within one minute (UTC) on one store."""
    return f"{store_id}:{visitor}:{kind.value}:{at.astimezone(UTC):%Y%m%d%H%M}"


def ingest_storefront(session: Session, store: Store, records: Sequence[StorefrontRecord]) -> Outcome:
    """Record the visitors, tie those a known customer or checkout names, and store the interactions:
    the contact's when its visitor is tied, else kept for the tie."""
    outcome = Outcome(account_id=store.account_id)
    if not records:
        return outcome
    ordered = sorted(records, key=lambda r: (r.occurred_at, r.event_id))
    visitors = _upsert_visitors(session, store, ordered)
    customers = _known(
        session, StoreCustomer.external_id, StoreCustomer, store, (r.customer_id for r in ordered)
    )
    checkouts = _known(session, Checkout.token, Checkout, store, (r.checkout_token for r in ordered))
    claimed = _claimed(session, store, ordered)

    tied: dict[str, tuple[int, str]] = {}  # visitor key: its contact and how, after this batch
    refs: dict[str, dict[str, str]] = {}  # visitor key: customer or checkout named but not known yet
    current = {key: contact for key, (_, contact) in visitors.items()}
    attributed: list[EventRecord] = []
    waiting: list[dict[str, Any]] = []
    for record in ordered:
        named = _named(record, customers, checkouts)
        if named is not None:
            tied[record.visitor] = named
            current[record.visitor] = named[0]
        elif record.email in claimed and current[record.visitor] is None:
            tied[record.visitor] = (claimed[record.email], BY_EMAIL)
            current[record.visitor] = claimed[record.email]
        if record.customer_id and record.customer_id not in customers:
            refs.setdefault(record.visitor, {})["customer_ref"] = record.customer_id
        if record.checkout_token and record.checkout_token not in checkouts:
            refs.setdefault(record.visitor, {})["checkout_token"] = record.checkout_token
        kind = INTERACTIONS.get(record.kind)
        if kind is None:
            continue  # a page view or a checkout event: it ties, it is not an interaction
        key = dedupe_key(store.id, record.visitor, kind, record.occurred_at)
        contact = current[record.visitor]
        if contact is not None:
            attributed.append(
                _event(key, kind, record.occurred_at, contact, record.product_id, record.attributes)
            )
        else:
            waiting.append(
                {
                    "store_id": store.id,
                    "visitor_id": visitors[record.visitor][0],
                    "type": kind,
                    "occurred_at": record.occurred_at,
                    "dedupe_key": key,
                    "product_id": record.product_id,
                    "attributes": record.attributes,
                }
            )
    _remember(session, store, visitors, refs)
    newly = _tie(session, visitors, tied)
    outcome.merge(ingest_events(session, store, attributed, source=SOURCE))
    outcome.merge(_wait(session, waiting))
    outcome.merge(_release(session, store, newly))
    return outcome


def visitors_identified(
    session: Session,
    store: Store,
    *,
    customers: Mapping[str, int] | None = None,
    checkouts: Mapping[str, int] | None = None,
) -> Outcome:
    """Customers (by the store's customer id) or checkouts (by token) now known, with their contacts:
    tie the untied visitors that named them, and count their waiting interactions."""
    wanted: dict[int, tuple[int, str]] = {}
    for column, known, how in (
        (Visitor.customer_ref, customers or {}, BY_CUSTOMER),
        (Visitor.checkout_token, checkouts or {}, BY_CHECKOUT),
    ):
        for part in chunks(sorted(known)):
            for visitor_id, ref in session.execute(
                select(Visitor.id, column).where(
                    Visitor.store_id == store.id, Visitor.contact_id.is_(None), among(session, column, part)
                )
            ):
                if ref is not None:
                    wanted.setdefault(visitor_id, (known[ref], how))
    outcome = Outcome(account_id=store.account_id)
    if not wanted:
        return outcome
    _set_ties(session, wanted)
    outcome.merge(_release(session, store, {v: contact for v, (contact, _) in wanted.items()}))
    return outcome


def _named(
    record: StorefrontRecord, customers: Mapping[str, int], checkouts: Mapping[str, int]
) -> tuple[int, str] | None:
    if record.customer_id and record.customer_id in customers:
        return customers[record.customer_id], BY_CUSTOMER
    if record.checkout_token and record.checkout_token in checkouts:
        return checkouts[record.checkout_token], BY_CHECKOUT
    return None


def _event(
    key: str,
    kind: InteractionType,
    at: datetime,
    contact: int,
    product: str | None,
    attributes: dict[str, Any],
) -> EventRecord:
    return EventRecord(
        type=kind, occurred_at=at, event_id=key, contact_id=contact, product_id=product, attributes=attributes
    )


def _upsert_visitors(
    session: Session, store: Store, records: Sequence[StorefrontRecord]
) -> dict[str, tuple[int, int | None]]:
    """Each visitor of the batch (created if new, last seen moved forward): its id and contact."""
    seen: dict[str, tuple[datetime, datetime]] = {}
    for record in records:
        first, last = seen.get(record.visitor, (record.occurred_at, record.occurred_at))
        seen[record.visitor] = (min(first, record.occurred_at), max(last, record.occurred_at))
    table = table_of(Visitor)
    stmt = insert_for(session, table)
    stmt = stmt.on_conflict_do_update(
        index_elements=["store_id", "key"],
        set_={
            "last_seen_at": case(
                (stmt.excluded.last_seen_at > table.c.last_seen_at, stmt.excluded.last_seen_at),
                else_=table.c.last_seen_at,
            )
        },
    ).returning(table.c.id, table.c.key, table.c.contact_id)
    found: dict[str, tuple[int, int | None]] = {}
    keys = sorted(seen)  # a fixed order: two batches of one store take the rows' locks alike
    for part in chunks(keys):
        rows = [
            {"store_id": store.id, "key": key, "first_seen_at": seen[key][0], "last_seen_at": seen[key][1]}
            for key in part
        ]
        for visitor_id, key, contact_id in session.execute(stmt, rows):
            found[key] = (visitor_id, contact_id)
    return found


def _claimed(session: Session, store: Store, records: Sequence[StorefrontRecord]) -> dict[str, int]:
    """The existing contacts of the addresses the batch's `identify` events claim, by the address as
    claimed (an address that is none, or that no contact holds, is absent)."""
    normal: dict[str, str] = {}
    for record in records:
        if record.email and record.email not in normal:
            try:
                normal[record.email] = normalize_email(record.email)
            except ValueError:
                continue
    found: dict[str, int] = {}
    for part in chunks(sorted(set(normal.values()))):
        rows = session.execute(
            select(Contact.email, Contact.id).where(
                Contact.account_id == store.account_id,
                among(session, Contact.email, part),
                Contact.deleted_at.is_(None),
            )
        )
        found.update((email, contact_id) for email, contact_id in rows)
    return {claim: found[email] for claim, email in normal.items() if email in found}


def _known(session: Session, column: Any, model: Any, store: Store, refs: Any) -> dict[str, int]:
    """The contacts of the store's customers (or checkouts) among `refs`, by customer id (token)."""
    wanted = sorted({ref for ref in refs if ref})
    found: dict[str, int] = {}
    for part in chunks(wanted):
        rows = session.execute(
            select(column, model.contact_id).where(
                model.store_id == store.id, among(session, column, part), model.contact_id.is_not(None)
            )
        )
        found.update((ref, contact_id) for ref, contact_id in rows)
    return found


def _remember(
    session: Session,
    store: Store,
    visitors: Mapping[str, tuple[int, int | None]],
    refs: Mapping[str, Mapping[str, str]],
) -> None:
    """Keep the customer id or checkout token a visitor named that the store does not know yet."""
    for key, values in refs.items():
        session.execute(update(Visitor).where(Visitor.id == visitors[key][0]).values(**values))


def _tie(
    session: Session, visitors: Mapping[str, tuple[int, int | None]], tied: Mapping[str, tuple[int, str]]
) -> dict[int, int]:
    """Write the batch's ties; return the visitors whose contact is new, with it."""
    changed = {
        visitors[key][0]: (contact, how)
        for key, (contact, how) in tied.items()
        if visitors[key][1] != contact
    }
    _set_ties(session, changed)
    return {visitor_id: contact for visitor_id, (contact, _) in changed.items()}


def _set_ties(session: Session, ties: Mapping[int, tuple[int, str]]) -> None:
    now = utcnow()
    for visitor_id, (contact, how) in sorted(ties.items()):
        session.execute(
            update(Visitor)
            .where(Visitor.id == visitor_id)
            .values(contact_id=contact, tied_by=how, tied_at=now, customer_ref=None, checkout_token=None)
        )


def _wait(session: Session, rows: Sequence[dict[str, Any]]) -> Outcome:
    """Keep the interactions of visitors not tied yet; one kept already (the same visitor, type and
    minute) is a duplicate."""
    outcome = Outcome()
    if not rows:
        return outcome
    table = table_of(VisitorEvent)
    unique: dict[str, dict[str, Any]] = {}
    for row in rows:
        unique.setdefault(row["dedupe_key"], row)
    stmt = (
        insert_for(session, table)
        .on_conflict_do_nothing(index_elements=["store_id", "dedupe_key"])
        .returning(table.c.id)
    )
    inserted = session.execute(stmt, list(unique.values())).all()
    outcome.written = len(inserted)
    outcome.duplicate = len(rows) - len(inserted)
    return outcome


def _release(session: Session, store: Store, newly: Mapping[int, int]) -> Outcome:
    """The waiting interactions of newly tied visitors become their contacts' events."""
    outcome = Outcome()
    for part in chunks(sorted(newly)):
        rows = (
            session.execute(
                select(VisitorEvent)
                .where(among(session, VisitorEvent.visitor_id, part))
                .order_by(VisitorEvent.id)
            )
            .scalars()
            .all()
        )
        if not rows:
            continue
        events = [
            _event(r.dedupe_key, r.type, r.occurred_at, newly[r.visitor_id], r.product_id, r.attributes)
            for r in rows
        ]
        released = ingest_events(session, store, events, source=SOURCE)
        # They were counted when kept: moving them is neither a new write nor a replay.
        outcome.contact_ids |= released.contact_ids
        session.execute(delete(VisitorEvent).where(VisitorEvent.id.in_([r.id for r in rows])))
    return outcome


def purge_visitors(session: Session, account_id: int, now: datetime | None = None) -> int:
    """Forget what can no longer count: waiting interactions older than the account's engagement time
    frame, and untied visitors not seen within it with nothing left waiting. Return how many rows went."""
    account = session.get(Account, account_id)
    if account is None:
        return 0
    cutoff = (now or utcnow()) - timedelta(days=account.engagement_window_days)
    stores = select(Store.id).where(Store.account_id == account_id).scalar_subquery()
    events = session.execute(
        delete(VisitorEvent).where(VisitorEvent.store_id.in_(stores), VisitorEvent.occurred_at < cutoff)
    )
    visitors = session.execute(
        delete(Visitor).where(
            Visitor.store_id.in_(stores),
            Visitor.contact_id.is_(None),
            Visitor.last_seen_at < cutoff,
            ~exists().where(VisitorEvent.visitor_id == Visitor.id),
        )
    )
    return int(events.rowcount + visitors.rowcount)  # type: ignore[attr-defined]
