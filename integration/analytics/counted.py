"""The contact statistics' sums, kept by counting again only the contacts that changed.

Every change to a contact's group, subscription or deletion, and to a buyer's revenue, leaves a note
in `stats_dirty` (database triggers, in the changing transaction). `fold` takes an account's notes
and, for those contacts only, replaces what was counted (`stats_counted`, `stats_counted_money`) by
their current state, moving the difference into the account's sums (`stats_bases`). The sums are
always exactly the sum of the counted rows: the before and after are both read from those rows,
which only `fold` writes, one at a time per account. The counted rows follow the contacts: a note
commits with its change, and recounting a contact twice changes nothing, so a change made while a
fold runs is counted by the next one.

The first fold of an account counts every contact (`rebuild`), as does a fold with notes for more
than a quarter of the counted contacts (a bulk import, a time-frame change), and one a day later, so
that a change made with the triggers off (a restore of some rows, say) cannot stay miscounted.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, distinct, exists, func, insert, literal, or_, select, text, update
from sqlalchemy.orm import Session

from integration.analytics.history import MOVE_COLUMNS, Combo, changed_since, combo
from integration.store.bulk import CHUNK, among, chunks, insert_for
from integration.store.locks import hold, lock_key
from integration.store.models import (
    Account,
    Contact,
    ContactTotals,
    EngagementStatus,
    StatsBase,
    StatsCounted,
    StatsCountedMoney,
    StatsCountedMoves,
    StatsDirty,
    SubscriptionStatus,
    table_of,
)

FULL_SHARE = 0.25  # notes for more than this share of the counted contacts: count them all afresh
REBUILD_AFTER = timedelta(days=1)
POSTGRESQL_CHUNK = 1000  # contacts per recount: one array parameter each, small enough for index probes

Group = tuple[EngagementStatus | None, SubscriptionStatus]
MoneyKey = tuple[EngagementStatus | None, SubscriptionStatus, str]


@dataclass
class Sums:
    """An account's counted contacts by (engagement, subscription), their revenue orders, revenue
    and buyers by (engagement, subscription, currency), and the contacts changed since the snapshot
    by (existed then, engagement then, subscription then, engagement now, subscription now,
    deleted): the 30-day change's movements (`history.Movements.combos`)."""

    counts: dict[Group, int] = field(default_factory=dict)
    money: dict[MoneyKey, list[Any]] = field(default_factory=dict)  # [orders, revenue, buyers]
    moves: dict[Combo, int] = field(default_factory=dict)

    def add(self, other: Sums, sign: int = 1) -> None:
        for group, n in other.counts.items():
            self.counts[group] = self.counts.get(group, 0) + sign * n
        for moved, n in other.moves.items():
            self.moves[moved] = self.moves.get(moved, 0) + sign * n
        for key, (orders, revenue, buyers) in other.money.items():
            total = self.money.setdefault(key, [0, Decimal(0), 0])
            total[0] += sign * orders
            total[1] += sign * revenue
            total[2] += sign * buyers

    def pruned(self) -> Sums:
        """The same sums without the groups that came to nothing."""
        return Sums(
            {g: n for g, n in self.counts.items() if n},
            {k: v for k, v in self.money.items() if v[0] or v[1] or v[2]},
            {k: n for k, n in self.moves.items() if n},
        )

    def contacts(self) -> int:
        return sum(self.counts.values())

    def to_json(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = [
            {"engagement": _value(e), "subscription": s.value, "currency": None, "contacts": n}
            for (e, s), n in sorted(self.counts.items(), key=_order)
        ]
        rows += [
            {
                "engagement": _value(e),
                "subscription": s.value,
                "currency": currency,
                "orders": orders,
                "revenue": str(revenue),
                "buyers": buyers,
            }
            for (e, s, currency), (orders, revenue, buyers) in sorted(self.money.items(), key=_order)
        ]
        rows += [
            {"moved": [existed, *(_value(state) for state in states), deleted], "contacts": n}
            for (existed, *states, deleted), n in sorted(self.moves.items(), key=_order)
        ]
        return rows

    @classmethod
    def from_json(cls, rows: Sequence[dict[str, Any]]) -> Sums:
        sums = cls()
        for row in rows:
            if "moved" in row:
                sums.moves[combo(row["moved"])] = int(row["contacts"])
                continue
            engagement = EngagementStatus(row["engagement"]) if row["engagement"] is not None else None
            subscription = SubscriptionStatus(row["subscription"])
            if row["currency"] is None:
                sums.counts[(engagement, subscription)] = int(row["contacts"])
            else:
                sums.money[(engagement, subscription, row["currency"])] = [
                    int(row["orders"]),
                    Decimal(row["revenue"]),
                    int(row["buyers"]),
                ]
        return sums


def _value(state: EngagementStatus | SubscriptionStatus | None) -> str | None:
    return state.value if state is not None else None


def _order(item: tuple[Any, Any]) -> tuple[str, ...]:
    return tuple("" if part is None else str(part) for part in item[0])


def fold(session: Session, account_id: int, now: datetime, since: datetime | None) -> Sums:
    """Bring the account's sums up to date with the contacts noted since the last fold; return them.

    `since`: when the snapshot the 30-day change compares with was taken (None: there is none); the
    moves are counted from it, and afresh when it is another than last time.
    """
    hold(session, [lock_key("stats-counted", account_id)])
    base = session.get(StatsBase, account_id, populate_existing=True)
    dirty = table_of(StatsDirty)
    mine = dirty.c.account_id == account_id
    # A recount reads every contact anyway: its notes are dropped unread (a first import leaves
    # millions, which would otherwise all come back to this process). Notes committed after the
    # DELETE began stay for the next fold; the recount's statements see their changes too.
    if base is None or base.rebuilt_at <= now - REBUILD_AFTER or base.since != since:
        session.execute(delete(dirty).where(mine))
        return rebuild(session, account_id, now, since)
    sums = Sums.from_json(base.groups)
    many = session.scalar(select(func.count(distinct(dirty.c.contact_id))).where(mine)) or 0
    if many > FULL_SHARE * max(sums.contacts(), 1) and many > CHUNK:
        session.execute(delete(dirty).where(mine))
        return rebuild(session, account_id, now, since)
    ids = sorted(set(session.scalars(delete(dirty).where(mine).returning(dirty.c.contact_id))))
    size = POSTGRESQL_CHUNK if session.get_bind().dialect.name == "postgresql" else CHUNK
    for part in chunks(ids, size):
        sums.add(_counted(session, account_id, part), -1)
        _recount(session, account_id, since, part)
        sums.add(_counted(session, account_id, part))
    sums = sums.pruned()
    base.groups = sums.to_json()
    base.folded_at = now
    session.flush()
    return sums


def forget_deleted_accounts(session: Session) -> int:
    """Delete the notes left for accounts that no longer exist (written by the cascade that deleted
    their contacts, after the accounts' own trigger ran); return how many."""
    dirty = table_of(StatsDirty)
    gone = delete(dirty).where(dirty.c.account_id.not_in(select(Account.id))).returning(dirty.c.id)
    return len(session.execute(gone).all())


def rebuild(session: Session, account_id: int, now: datetime, since: datetime | None) -> Sums:
    """Count every contact of the account afresh (the caller holds the account's fold lock)."""
    _recount_all(session, account_id, since)
    sums = _counted(session, account_id, None).pruned()
    base = session.get(StatsBase, account_id)
    if base is None:
        base = StatsBase(account_id=account_id)
        session.add(base)
    base.groups, base.since, base.rebuilt_at, base.folded_at = sums.to_json(), since, now, now
    session.flush()
    return sums


def _recount_all(session: Session, account_id: int, since: datetime | None) -> None:
    """Bring every counted row of the account in line with the contacts now, writing only the rows
    that differ (most do not: a day's recount rewrites a few, where rewriting a million took
    seconds more). The moves are few and follow the snapshot: they are written afresh.
    """
    with _whole_account_joins(session):
        _recount_counted(session, account_id)
    session.execute(
        delete(StatsCountedMoves)
        .where(StatsCountedMoves.account_id == account_id)
        .execution_options(synchronize_session=False)
    )
    if since is not None:
        session.execute(
            insert(StatsCountedMoves).from_select(
                list(MOVE_COLUMNS), changed_since(session, account_id, since)
            )
        )


@contextmanager
def _whole_account_joins(session: Session) -> Iterator[None]:
    """Join an account's rows to its other rows by hashing, never row by row, within the block.

    A recount joins every counted row of the account with its contact and totals. A store filled
    in the last minute has tables autovacuum has not analyzed yet, and the planner, taking each
    for a few rows, looped over one for every row of the other. At 2,500 contacts a statement took
    225 ms, seven refreshes cost a first backfill's drain 1.6 s, and the loops grow with the square
    of the contacts. Both sides are read by account either way.
    """
    if session.get_bind().dialect.name != "postgresql":
        yield
        return
    before = session.scalar(text("SELECT current_setting('enable_nestloop')"))
    session.execute(text("SET LOCAL enable_nestloop = off"))
    yield  # a failed statement ends the transaction (or its savepoint), and the setting with it
    session.execute(text("SELECT set_config('enable_nestloop', :before, true)"), {"before": before})


def _recount_counted(session: Session, account_id: int) -> None:
    """The account's counted rows and counted money as its contacts and totals are now."""
    counted, contact = StatsCounted, Contact
    live = [contact.account_id == account_id, contact.deleted_at.is_(None)]
    quietly = {"synchronize_session": False}
    session.execute(
        delete(counted)
        .where(counted.account_id == account_id, ~exists().where(contact.id == counted.contact_id, *live))
        .execution_options(**quietly)
    )
    session.execute(
        update(counted)
        .where(
            counted.account_id == account_id,
            contact.id == counted.contact_id,
            *live,
            or_(
                counted.engagement_status.is_distinct_from(contact.engagement_status),
                counted.subscription_status != contact.subscription_status,
            ),
        )
        .values(engagement_status=contact.engagement_status, subscription_status=contact.subscription_status)
        .execution_options(**quietly)
    )
    # The missing rows by ON CONFLICT, not by an anti-join: planned while the table is empty, an
    # anti-join would scan it again for every row the same statement inserts.
    session.execute(
        insert_for(session, table_of(counted))
        .from_select(
            ["contact_id", "account_id", "engagement_status", "subscription_status"],
            select(
                contact.id, contact.account_id, contact.engagement_status, contact.subscription_status
            ).where(*live),
        )
        .on_conflict_do_nothing()
    )
    money, totals = StatsCountedMoney, ContactTotals
    same_row = [
        totals.account_id == account_id,  # read by account, whichever way the join is planned
        totals.contact_id == money.contact_id,
        totals.currency == money.currency,
    ]
    source = [
        totals.revenue_orders > 0,
        exists().where(counted.contact_id == totals.contact_id, counted.account_id == account_id),
    ]
    session.execute(
        delete(money)
        .where(money.account_id == account_id, ~exists().where(*same_row, *source))
        .execution_options(**quietly)
    )
    session.execute(
        update(money)
        .where(
            money.account_id == account_id,
            *same_row,
            or_(money.revenue_orders != totals.revenue_orders, money.revenue != totals.revenue),
        )
        .values(revenue_orders=totals.revenue_orders, revenue=totals.revenue)
        .execution_options(**quietly)
    )
    session.execute(
        insert_for(session, table_of(money))
        .from_select(
            ["contact_id", "currency", "account_id", "revenue_orders", "revenue"],
            select(
                totals.contact_id, totals.currency, literal(account_id), totals.revenue_orders, totals.revenue
            ).where(totals.account_id == account_id, *source),
        )
        .on_conflict_do_nothing()
    )


def _recount(session: Session, account_id: int, since: datetime | None, ids: Sequence[int]) -> None:
    """Replace the counted rows of these contacts by their state now.

    The revenue rows join the counted contacts just written, so a contact's money is counted under
    the group it is counted in, whatever changed between the two statements (that change left a note
    for the next fold).
    """
    for model in (StatsCountedMoney, StatsCounted, StatsCountedMoves):
        session.execute(
            delete(model)
            .where(model.account_id == account_id, among(session, model.contact_id, ids))
            .execution_options(synchronize_session=False)
        )
    contacts = [
        Contact.account_id == account_id,
        Contact.deleted_at.is_(None),
        among(session, Contact.id, ids),
    ]
    session.execute(
        insert(StatsCounted).from_select(
            ["contact_id", "account_id", "engagement_status", "subscription_status"],
            select(
                Contact.id, Contact.account_id, Contact.engagement_status, Contact.subscription_status
            ).where(*contacts),
        )
    )
    money = [
        StatsCounted.account_id == account_id,
        ContactTotals.revenue_orders > 0,
        among(session, StatsCounted.contact_id, ids),  # named on both sides: either side's index finds them
        among(session, ContactTotals.contact_id, ids),
    ]
    session.execute(
        insert(StatsCountedMoney).from_select(
            ["contact_id", "currency", "account_id", "revenue_orders", "revenue"],
            select(
                ContactTotals.contact_id,
                ContactTotals.currency,
                StatsCounted.account_id,
                ContactTotals.revenue_orders,
                ContactTotals.revenue,
            )
            .join(
                StatsCounted,
                (StatsCounted.account_id == ContactTotals.account_id)
                & (StatsCounted.contact_id == ContactTotals.contact_id),
            )
            .where(*money),
        )
    )
    if since is not None:
        session.execute(
            insert(StatsCountedMoves).from_select(
                list(MOVE_COLUMNS), changed_since(session, account_id, since, ids)
            )
        )


def _counted(session: Session, account_id: int, ids: Sequence[int] | None) -> Sums:
    """The sums of the counted rows of these contacts (all of the account's: None)."""
    scope = [StatsCounted.account_id == account_id]
    if ids is not None:
        scope.append(among(session, StatsCounted.contact_id, ids))
    counts = {
        (engagement, subscription): n
        for engagement, subscription, n in session.execute(
            select(StatsCounted.engagement_status, StatsCounted.subscription_status, func.count())
            .where(*scope)
            .group_by(StatsCounted.engagement_status, StatsCounted.subscription_status)
        )
    }
    money = {
        (engagement, subscription, currency): [int(orders), Decimal(revenue or 0), buyers]
        for engagement, subscription, currency, orders, revenue, buyers in session.execute(
            select(
                StatsCounted.engagement_status,
                StatsCounted.subscription_status,
                StatsCountedMoney.currency,
                func.sum(StatsCountedMoney.revenue_orders),
                func.sum(StatsCountedMoney.revenue),
                func.count(),
            )
            .join(
                StatsCountedMoney,
                (StatsCountedMoney.account_id == StatsCounted.account_id)
                & (StatsCountedMoney.contact_id == StatsCounted.contact_id),
            )
            .where(*scope)
            .group_by(
                StatsCounted.engagement_status, StatsCounted.subscription_status, StatsCountedMoney.currency
            )
        )
    }
    moved = [StatsCountedMoves.account_id == account_id]
    if ids is not None:
        moved.append(among(session, StatsCountedMoves.contact_id, ids))
    keys = [getattr(StatsCountedMoves, name) for name in MOVE_COLUMNS[2:]]
    moves = {
        combo(row[:6]): row[6]
        for row in session.execute(select(*keys, func.count()).where(*moved).group_by(*keys))
    }
    return Sums(counts, money, moves)
