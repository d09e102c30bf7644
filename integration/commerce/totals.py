"""Each buyer's orders per currency, and per buyer over its currencies, kept current as orders change.

The contact statistics read the per-currency rows (`contact_totals`) and RFM the per-buyer ones
(`buyers`) instead of aggregating every order each time. `orders_changed` is the one call every
path that writes orders makes with the contacts it touched: ingestion, deletions, privacy erasure
and merges. It recomputes those contacts' rows from their orders, set-based, so cancellations,
refunds and orders that moved to another contact are reflected as well as new ones; the
leaderboard's period rows follow in the same call.

A bulk import asks for the recomputation later (`later=True`): its batches note the buyers
(`buyer_notes`, in the transaction that wrote their orders) and `fold_notes` recomputes each noted
buyer once when the import ends, instead of once for every batch holding one of its orders; the
fold also moves the buyer's last interaction to its newest order and classifies it, which the
import's batches leave to it. What reads these rows meanwhile sees them as they were before the
import's orders.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import and_, delete, exists, func, insert, literal, or_, select, text
from sqlalchemy.orm import Session, aliased

from integration.analytics import period_spend
from integration.commerce import orders as order_rules
from integration.contacts import engagement
from integration.store import locks, session_scope
from integration.store.bulk import among, chunks, insert_for, insert_rows
from integration.store.models import (
    Buyer,
    BuyerNote,
    Contact,
    ContactTotals,
    InteractionType,
    Order,
    Store,
    table_of,
)
from integration.store.statistics import KeptStatistics

# Noted buyers recomputed in one transaction of a fold.
FOLD_PART = 5_000
# Folds at the end of an import, on PostgreSQL: the noted buyers in this many shares (by contact id),
# each folded on a connection of its own, side by side. The work is the database's, one core a
# connection, and the import has finished storing: its cores are free.
IMPORT_FOLD_SHARES = 2
# A fold of at least this many notes keeps the planner's statistics of these tables (by name):
# those it reads, analyzed before it begins, and those it writes, as it writes them.
STATISTICS_FIRST = 5_000
READ_BY_FOLDS = ("contacts",)
WRITTEN_BY_FOLDS = ("contact_totals", "buyers", "contact_period_spend")

COLUMNS = (
    "contact_id",
    "currency",
    "account_id",
    "orders",
    "revenue_orders",
    "revenue",
    "first_order_at",
    "last_order_at",
)


def _counted_orders(account_id: int) -> list[Any]:
    """The orders a buyer's rows count: placed, with a contact, in one of the account's stores."""
    stores = select(Store.id).where(Store.account_id == account_id).scalar_subquery()
    return [Order.store_id.in_(stores), Order.contact_id.is_not(None), order_rules.placed()]


def _totals(account_id: int, *where: Any) -> Any:
    is_revenue = order_rules.revenue()
    return (
        select(
            Order.contact_id,
            Order.currency,
            literal(account_id),
            func.count(),
            func.count().filter(is_revenue),
            func.coalesce(func.sum(order_rules.net_total()).filter(is_revenue), 0),
            func.min(Order.created_at),
            func.max(Order.created_at),
        )
        .where(*_counted_orders(account_id), *where)
        .group_by(Order.contact_id, Order.currency)
    )


BUYER_COLUMNS = (
    "contact_id",
    "account_id",
    "orders",
    "revenue_orders",
    "last_order_at",
    "currency",
    "revenue",
)


def _buyers(*where: Any) -> Any:
    """One row per contact from its totals: all orders, revenue orders, the newest, and the main
    currency's revenue."""
    t, other = ContactTotals, aliased(ContactTotals)
    summed = (
        select(
            t.contact_id,
            func.sum(t.orders).label("orders"),
            func.sum(t.revenue_orders).label("revenue_orders"),
            func.max(t.last_order_at).label("last"),
        )
        .where(*where)
        .group_by(t.contact_id)
        .subquery()
    )
    # The main currency: most orders, then alphabetical — no other row of the contact beats it.
    beaten = exists().where(
        other.contact_id == t.contact_id,
        or_(other.orders > t.orders, and_(other.orders == t.orders, other.currency < t.currency)),
    )
    return (
        select(
            t.contact_id,
            t.account_id,
            summed.c.orders,
            summed.c.revenue_orders,
            summed.c.last,
            t.currency,
            t.revenue,
        )
        .join(summed, summed.c.contact_id == t.contact_id)
        .where(*where, ~beaten)
    )


def refresh(session: Session, account_id: int, contact_ids: Iterable[int]) -> None:
    """Recompute these contacts' rows (per currency and per buyer) from their orders, writing only
    the rows that differ: an order updated without a change to what is counted (a fulfilment, a
    tag) rewrites nothing, and leaves no note for the statistics to recount."""
    ids = sorted(set(contact_ids))
    kept = ContactTotals
    for part in chunks(ids):
        # A currency the contact has no counted order in any more, and a contact with none at all:
        # deleted in the statement that writes the others, so both read the orders as of one moment
        # (on PostgreSQL; SQLite has one writer at a time).
        ordered = exists().where(
            *_counted_orders(account_id), Order.contact_id == kept.contact_id, Order.currency == kept.currency
        )
        stale = delete(kept).where(among(session, kept.contact_id, part), ~ordered)
        _upsert(session, kept, COLUMNS, _totals(account_id, among(session, Order.contact_id, part)), stale)
        orphan = ~exists().where(kept.contact_id == Buyer.contact_id)
        stale = delete(Buyer).where(among(session, Buyer.contact_id, part), orphan)
        _upsert(session, Buyer, BUYER_COLUMNS, _buyers(among(session, kept.contact_id, part)), stale)


def _upsert(session: Session, model: Any, columns: Sequence[str], rows: Any, stale: Any) -> None:
    """Delete the `stale` rows and insert `rows` (a SELECT of `columns`), updating a stored row only
    where a value differs; on PostgreSQL in one statement."""
    table = table_of(model)
    keys = [column.name for column in table.primary_key.columns]
    stmt = insert_for(session, table).from_select(list(columns), rows)
    changing = [name for name in columns if name not in keys]
    upsert = stmt.on_conflict_do_update(
        index_elements=keys,
        set_={name: stmt.excluded[name] for name in changing},
        where=or_(*(table.c[name].is_distinct_from(stmt.excluded[name]) for name in changing)),
    )
    if session.get_bind().dialect.name == "postgresql":
        # The deleted keys are those no recomputed row has: the two parts never meet a row twice.
        session.execute(upsert.add_cte(stale.returning(*table.primary_key.columns).cte("stale")))
        return
    session.execute(stale.execution_options(synchronize_session=False))
    session.execute(upsert)


def orders_changed(
    session: Session, account_id: int, contact_ids: Iterable[int | None], *, later: bool = False
) -> None:
    """Bring everything kept per buyer up to date after these contacts' orders changed, or with
    `later`, note them for `fold_notes`."""
    ids = {c for c in contact_ids if c is not None}
    if not ids:
        return
    if later:
        insert_rows(
            session,
            table_of(BuyerNote),
            [{"account_id": account_id, "contact_id": c} for c in sorted(ids)],
            "noted",
        )
        return
    locks.lock_contacts(session, ids)  # one writer recomputes a buyer at a time, reading the other's orders
    _recompute(session, account_id, ids)


def _recompute(session: Session, account_id: int, ids: Iterable[int]) -> None:
    """Recompute these locked contacts' rows: totals, buyer rows, then the leaderboard's (whose
    counts per period, shared by every writer of the account, are written last)."""
    refresh(session, account_id, ids)
    period_spend.refresh_spend(session, account_id, ids)


def fold_notes(
    session: Session, account_id: int, up_to: int | None = None, *, share: tuple[int, int] | None = None
) -> int:
    """Recompute the rows of up to FOLD_PART noted buyers of the account (the lowest ids, with all
    their notes) and take their notes; return how many noted contacts were taken (0: none left).
    With `up_to`, only the notes up to that id (those written before the fold began). With `share`
    (k, n), only the buyers whose contact id leaves k divided by n.

    Folds of one account take turns (an advisory lock until commit), but folds of different shares
    of one division run side by side: their buyers differ, and so do the rows they lock and write,
    but for the leaderboard's counts per period and currency, which every writer of the account
    shares: each writes them last, right before its commit, so another waits for that moment
    only. (Shares of different divisions do not exclude each other; only one division is used.)
    The notes are taken in the transaction that recomputes their buyers: a fold that fails leaves
    them for the next.
    """
    account_key = locks.lock_key("buyer-notes", account_id)
    if share is None:
        locks.hold(session, [account_key])
    else:
        locks.hold(session, [account_key], shared=True)
        locks.hold(session, [locks.lock_key("buyer-notes", account_id, *share)])
    notes = table_of(BuyerNote)
    mine = [notes.c.account_id == account_id] + ([notes.c.id <= up_to] if up_to is not None else [])
    if share is not None:
        mine.append(notes.c.contact_id % share[1] == share[0])
    lowest = (
        select(notes.c.contact_id)
        .where(*mine)
        .distinct()
        .order_by(notes.c.contact_id)
        .limit(FOLD_PART)
        .subquery()
    )
    last = session.scalar(select(func.max(lowest.c.contact_id)))
    if last is None:
        return 0
    noted = set(
        session.scalars(delete(notes).where(*mine, notes.c.contact_id <= last).returning(notes.c.contact_id))
    )
    # Only the account's contacts: a deleted one's rows went with it (and SQLite may have handed
    # its id to a contact of another account since).
    ids: list[int] = []
    for part in chunks(sorted(noted)):
        ids += session.scalars(
            select(Contact.id).where(Contact.account_id == account_id, among(session, Contact.id, part))
        )
    # What the import's batches left to the fold besides the totals: each buyer's newest order as
    # its last interaction, and its engagement group, in one write of each contact; before the
    # totals, whose leaderboard counts are written last.
    locks.lock_contacts(session, ids)  # as orders_changed locks them
    engagement.classify_after(
        session, account_id, ids, lambda part: _newest_orders(session, account_id, part)
    )
    _recompute(session, account_id, ids)
    return len(noted)


def _newest_orders(session: Session, account_id: int, contact_ids: Sequence[int]) -> Any:
    """Each of these contacts' newest placed order, as an interaction (contact_id, at, type): what
    storing each order does outside an import, the fold moves each last interaction forward to."""
    return (
        select(
            Order.contact_id.label("contact_id"),
            func.max(Order.created_at).label("at"),
            literal(InteractionType.ORDER_PLACED.value).label("type"),
        )
        .where(*_counted_orders(account_id), among(session, Order.contact_id, contact_ids))
        .group_by(Order.contact_id)
        .subquery("newest")
    )


def fold_all_notes(database_url: str, account_id: int, *, shares: int = 1) -> int:
    """Fold the account's buyers noted before this call, FOLD_PART buyers a transaction; return how
    many were taken. With `shares` (PostgreSQL), the buyers are folded in that many shares side by
    side, each on a connection of its own.

    A part's transaction is short, so what else writes these buyers' rows (a webhook's orders)
    waits for one part at most; notes written meanwhile (an import still running) are left for
    the next fold, so a fold ends.

    A fold of many notes (an import's) keeps the planner's statistics up with what it reads and
    writes (`KeptStatistics`): the contacts an import has just added are analyzed before it
    begins, and the rows it writes once STATISTICS_FIRST buyers are folded and each time as many
    again. Without, each part's statements read all of the account's rows written so far.
    """
    notes = table_of(BuyerNote)
    with session_scope(database_url) as session:
        up_to = session.scalar(select(func.max(notes.c.id)).where(notes.c.account_id == account_id))
        postgresql = session.get_bind().dialect.name == "postgresql"
        many = postgresql and up_to is not None and _at_least(session, account_id, up_to, STATISTICS_FIRST)
    if up_to is None:
        return 0
    if many:
        KeptStatistics(database_url, READ_BY_FOLDS, first=STATISTICS_FIRST).analyze()
    written = KeptStatistics(database_url, WRITTEN_BY_FOLDS if many else (), first=STATISTICS_FIRST)
    if shares < 2 or not postgresql:
        return _fold_share(database_url, account_id, up_to, None, written)
    with ThreadPoolExecutor(max_workers=shares, thread_name_prefix="fold") as pool:
        folding = [
            pool.submit(_fold_share, database_url, account_id, up_to, (share, shares), written)
            for share in range(shares)
        ]
        return sum(part.result() for part in folding)


def _at_least(session: Session, account_id: int, up_to: int, count: int) -> bool:
    """Whether the account has at least `count` notes up to `up_to` (reading no more than that)."""
    notes = table_of(BuyerNote)
    some = select(notes.c.id).where(notes.c.account_id == account_id, notes.c.id <= up_to).limit(count)
    return (session.scalar(select(func.count()).select_from(some.subquery())) or 0) >= count


def _fold_share(
    database_url: str, account_id: int, up_to: int, share: tuple[int, int] | None, written: KeptStatistics
) -> int:
    folded = 0
    while True:
        with session_scope(database_url) as session:
            done = fold_notes(session, account_id, up_to, share=share)
        if not done:
            return folded
        folded += done
        written.add(done)


def noted_accounts(session: Session) -> list[int]:
    """The accounts with buyers noted and not yet folded."""
    return list(session.scalars(select(BuyerNote.account_id).distinct().order_by(BuyerNote.account_id)))


def rebuild(session: Session, account_id: int) -> int:
    """Recompute every buyer's rows of the account in one statement (after a bulk load); return rows."""
    session.execute(delete(ContactTotals).where(ContactTotals.account_id == account_id))
    session.execute(insert(ContactTotals).from_select(COLUMNS, _totals(account_id)))
    session.execute(delete(Buyer).where(Buyer.account_id == account_id))
    session.execute(insert(Buyer).from_select(BUYER_COLUMNS, _buyers(ContactTotals.account_id == account_id)))
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("ANALYZE contact_totals, buyers"))  # many new rows: plans need statistics
    return int(session.scalar(select(func.count()).where(ContactTotals.account_id == account_id)) or 0)
