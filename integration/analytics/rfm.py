"""RFM and spender segments, per account, recomputed set-based by a job.

Over the account's placed orders (not cancelled, voided or deleted): **R** is the time since the
contact's last order, **F** the number of orders, **M** the total spent on revenue orders (refunded
ones count as purchases but not as money spent). A contact buying in several currencies is measured
in the currency of most of its orders (ties: alphabetical), and M is scored only against contacts
measured in the same currency.

**Scores 1–5** by position among the account's buyers: `score = 1 + ⌊5·(rank − 1) / n⌋`, where
`rank` is the 1-based position in ascending order (the oldest last order, the fewest orders, the
least spent first) and contacts with equal values share the first position of their group, so
equal values always get equal scores. With fewer than five buyers the scores spread over 1–5 the
same way (three buyers score 1, 2 and 4).

**Segments**: the default scheme is the R×F grid below, which places each of the 25 (R, F) pairs in
exactly one segment; an account may replace it with its own list of `{name, r: [min, max], f: [min,
max]}` rules, which must also cover every pair exactly once. Contacts with no order are
*prospects*.

**Spender tiers** (within the currency): big spenders are the top 1% by M (at least one contact),
medium the next 19%, low the other 80% who ordered; frequent buyers are the top 25% by F; one-time
buyers have one order, returning buyers more. Ties share a tier.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Integer,
    String,
    and_,
    case,
    delete,
    func,
    literal,
    select,
)
from sqlalchemy.orm import InstrumentedAttribute, Session

from integration.analytics import rfm_cuts
from integration.commerce import orders as order_rules
from integration.errors import RequestRefused
from integration.money import amount
from integration.store.models import Account, Contact, Order, RfmScore, RfmSummary, Store, table_of
from integration.store.types import UTCDateTime, utcnow

DEFAULT_SCHEME: list[dict[str, Any]] = [
    {"name": "Champions", "r": [5, 5], "f": [4, 5]},
    {"name": "Loyal customers", "r": [3, 4], "f": [4, 5]},
    {"name": "Potential loyalists", "r": [4, 5], "f": [2, 3]},
    {"name": "New customers", "r": [5, 5], "f": [1, 1]},
    {"name": "Promising", "r": [4, 4], "f": [1, 1]},
    {"name": "Need attention", "r": [3, 3], "f": [3, 3]},
    {"name": "About to sleep", "r": [3, 3], "f": [1, 2]},
    {"name": "At risk", "r": [1, 2], "f": [3, 4]},
    {"name": "Can't lose them", "r": [1, 2], "f": [5, 5]},
    {"name": "Hibernating", "r": [1, 2], "f": [1, 2]},
]
PROSPECTS = "Prospects"
TIERS = ("big", "medium", "low")
BIG_SHARE, MEDIUM_SHARE, FREQUENT_SHARE = Decimal("0.01"), Decimal("0.20"), Decimal("0.25")


class InvalidScheme(RequestRefused, ValueError):
    """A custom scheme does not place every (R, F) pair in exactly one segment.

    `details` names each cell at fault (`r1f2`) with what is wrong with it: `missing` or `doubled`.
    """

    reason = "invalid_scheme"

    def __init__(self, message: str, pairs: dict[str, str] | None = None) -> None:
        super().__init__(message, details=dict(pairs) if pairs else None)


def cell_key(r: int, f: int) -> str:
    """The name of an (R, F) cell in a refusal's details and in the admin's scheme form: `r1f2`."""
    return f"r{r}f{f}"


def segment_names(scheme: Sequence[dict[str, Any]]) -> list[str]:
    """The scheme's segment names in order, each once (a segment may span several rules)."""
    return list(dict.fromkeys(rule["name"] for rule in scheme))


def check_scheme(rules: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Validate a scheme: named rules of score ranges covering each of the 25 (R, F) pairs exactly once."""
    if not rules:
        raise InvalidScheme("a scheme needs at least one segment")
    cells: dict[tuple[int, int], str] = {}
    clean = []
    for rule in rules:
        name = str(rule.get("name", "")).strip()
        if not name or len(name) > 60:
            raise InvalidScheme("each segment needs a name of 1 to 60 characters")
        try:
            r_low, r_high = (int(v) for v in rule["r"])
            f_low, f_high = (int(v) for v in rule["f"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidScheme(f"{name}: r and f must be [min, max] score ranges") from exc
        if not (1 <= r_low <= r_high <= 5 and 1 <= f_low <= f_high <= 5):
            raise InvalidScheme(f"{name}: scores run from 1 to 5, min before max")
        for r in range(r_low, r_high + 1):
            for f in range(f_low, f_high + 1):
                if (r, f) in cells:
                    raise InvalidScheme(
                        f"R{r} F{f} is in both {cells[(r, f)]!r} and {name!r}", {cell_key(r, f): "doubled"}
                    )
                cells[(r, f)] = name
        clean.append({"name": name, "r": [r_low, r_high], "f": [f_low, f_high]})
    missing = [(r, f) for r in range(1, 6) for f in range(1, 6) if (r, f) not in cells]
    if missing:
        raise InvalidScheme(
            f"no segment for {', '.join(f'R{r} F{f}' for r, f in missing)}",
            {cell_key(r, f): "missing" for r, f in missing},
        )
    return clean


def compute(session: Session, account_id: int, now: datetime | None = None) -> int:
    """Recompute the account's scores, segments and tiers in a few set-based statements; return buyers."""
    now = now or utcnow()
    account = session.get(Account, account_id)
    if account is None:
        raise LookupError(f"no account {account_id}")
    scheme = account.rfm_scheme or DEFAULT_SCHEME
    if session.get_bind().dialect.name == "postgresql":
        shares = (BIG_SHARE, MEDIUM_SHARE, FREQUENT_SHARE)
        buyers, account.rfm_cuts = rfm_cuts.compute(session, account_id, scheme, shares, PROSPECTS, now)
    else:
        _compute_by_ranks(session, account_id, scheme, now)
        buyers = int(session.scalar(select(func.count()).where(RfmScore.account_id == account_id)) or 0)
        account.rfm_cuts = _cuts(session, account_id)
    payload = summarize(session, account_id)
    kept = session.get(RfmSummary, account_id)
    if kept is None:
        session.add(RfmSummary(account_id=account_id, payload=payload, computed_at=now))
    else:
        kept.payload, kept.computed_at = payload, now
    account.rfm_computed_at = now
    session.flush()
    return buyers


def _compute_by_ranks(session: Session, account_id: int, scheme: list[dict[str, Any]], now: datetime) -> None:
    """Rewrite the account's rows with window ranks (SQLite; PostgreSQL uses rfm_cuts)."""
    stores = select(Store.id).where(Store.account_id == account_id).scalar_subquery()
    mine = and_(Order.store_id.in_(stores), Order.contact_id.is_not(None), order_rules.placed())

    spent = func.sum(case((order_rules.revenue(), order_rules.net_total()), else_=0))
    # One pass over the orders: per contact and currency; the contact's totals and its main currency
    # (most orders, then alphabetical) come from windows over those groups.
    grouped = (
        select(
            Order.contact_id.label("contact_id"),
            Order.currency.label("currency"),
            spent.label("monetary"),
            func.count(Order.id).label("orders"),
            func.max(Order.created_at).label("last_at"),
        )
        .where(mine)
        .group_by(Order.contact_id, Order.currency)
        .subquery()
    )
    per_contact = grouped.c.contact_id
    windowed = select(
        grouped.c.contact_id,
        grouped.c.currency,
        grouped.c.monetary,
        func.sum(grouped.c.orders).over(partition_by=per_contact).label("frequency"),
        func.max(grouped.c.last_at).over(partition_by=per_contact).label("last_at"),
        func.row_number()
        .over(partition_by=per_contact, order_by=(grouped.c.orders.desc(), grouped.c.currency))
        .label("choice"),
    ).subquery()
    buyers = (
        select(
            windowed.c.contact_id,
            windowed.c.last_at,
            windowed.c.frequency,
            windowed.c.currency,
            windowed.c.monetary,
        )
        .where(windowed.c.choice == 1)
        .subquery()
    )
    n_all = func.count().over()
    n_currency = func.count().over(partition_by=buyers.c.currency)
    ranked = select(
        buyers,
        func.rank().over(order_by=buyers.c.last_at).label("r_rank"),
        func.rank().over(order_by=buyers.c.frequency).label("f_rank"),
        func.rank().over(partition_by=buyers.c.currency, order_by=buyers.c.monetary).label("m_rank"),
        func.rank().over(partition_by=buyers.c.currency, order_by=buyers.c.monetary.desc()).label("m_top"),
        func.rank().over(order_by=buyers.c.frequency.desc()).label("f_top"),
        n_all.label("n"),
        n_currency.label("n_currency"),
    ).subquery()

    def score(rank: Any, n: Any) -> Any:
        return 1 + (5 * (rank - 1)) // n

    scored = select(
        ranked.c.contact_id,
        ranked.c.last_at,
        ranked.c.frequency,
        ranked.c.monetary,
        ranked.c.currency,
        score(ranked.c.r_rank, ranked.c.n).label("r"),
        score(ranked.c.f_rank, ranked.c.n).label("f"),
        score(ranked.c.m_rank, ranked.c.n_currency).label("m"),
        ranked.c.m_top,
        ranked.c.f_top,
        ranked.c.n,
        ranked.c.n_currency,
    ).subquery()
    segment = case(
        *[
            (
                and_(
                    scored.c.r.between(rule["r"][0], rule["r"][1]),
                    scored.c.f.between(rule["f"][0], rule["f"][1]),
                ),
                literal(rule["name"], String()),
            )
            for rule in scheme
        ],
        else_=literal(PROSPECTS, String()),
    )
    # Top shares, at least one contact: rank ≤ ⌈share·n⌉, written as rank − 1 < share·n.
    tier = case(
        ((scored.c.m_top - 1) * 100 < scored.c.n_currency * int(BIG_SHARE * 100), literal("big", String())),
        (
            (scored.c.m_top - 1) * 100 < scored.c.n_currency * int(MEDIUM_SHARE * 100),
            literal("medium", String()),
        ),
        else_=literal("low", String()),
    )
    frequent = (scored.c.f_top - 1) * 100 < scored.c.n * int(FREQUENT_SHARE * 100)
    rows = select(
        scored.c.contact_id,
        literal(account_id, Integer()),
        scored.c.last_at,
        scored.c.frequency,
        scored.c.monetary,
        scored.c.currency,
        scored.c.r,
        scored.c.f,
        scored.c.m,
        segment,
        tier,
        case((frequent, literal(True, Boolean())), else_=literal(False, Boolean())),
        literal(now, UTCDateTime()),
    )
    session.execute(delete(RfmScore).where(RfmScore.account_id == account_id))
    session.execute(
        table_of(RfmScore)
        .insert()
        .from_select(
            ["contact_id", "account_id", *rfm_cuts.SCORED_COLUMNS, "computed_at"],
            rows,
        )
    )


def _cuts(session: Session, account_id: int) -> dict[str, Any]:
    """Each score's range of values: what a merchant needs to read the scores."""
    mine = RfmScore.account_id == account_id
    recency = [
        {"score": s, "last_order_from": low.isoformat(), "last_order_to": high.isoformat()}
        for s, low, high in _ranges(session, mine, RfmScore.r, RfmScore.last_order_at)
    ]
    frequency = [
        {"score": s, "orders_from": low, "orders_to": high}
        for s, low, high in _ranges(session, mine, RfmScore.f, RfmScore.frequency)
    ]
    monetary = [
        {"currency": c, "score": s, "spent_from": amount(low), "spent_to": amount(high)}
        for c, s, low, high in session.execute(
            select(RfmScore.currency, RfmScore.m, func.min(RfmScore.monetary), func.max(RfmScore.monetary))
            .where(mine)
            .group_by(RfmScore.currency, RfmScore.m)
            .order_by(RfmScore.currency, RfmScore.m)
        )
    ]
    return {"r": recency, "f": frequency, "m": monetary}


def _ranges(
    session: Session,
    mine: ColumnElement[bool],
    score: InstrumentedAttribute[int],
    value: InstrumentedAttribute[Any],
) -> list[tuple[int, Any, Any]]:
    """Each value of a score with the lowest and highest value it stands for."""
    query = select(score, func.min(value), func.max(value)).where(mine).group_by(score).order_by(score)
    return [(s, low, high) for s, low, high in session.execute(query)]


def summarize(session: Session, account_id: int) -> dict[str, Any]:
    """The account's scores summed by cell, segment, currency and tier, in one pass over its rows.

    `compute` keeps it with the account, so the overview and the grid read a few sums rather than
    every buyer's row; amounts are decimal text, exact.
    """
    once = (RfmScore.frequency == 1).label("once")
    keys = (
        RfmScore.r,
        RfmScore.f,
        RfmScore.segment,
        RfmScore.currency,
        RfmScore.spender_tier,
        RfmScore.frequent_buyer,
        once,
    )
    rows = session.execute(
        select(*keys, func.count(), func.sum(RfmScore.monetary))
        .where(RfmScore.account_id == account_id)
        .group_by(*keys)
    ).all()
    cells: dict[tuple[int, int, str], list[Any]] = {}
    segments: dict[tuple[str, str], list[Any]] = {}
    tiers = dict.fromkeys(TIERS, 0)
    frequent = one_time = 0
    for r, f, segment, currency, tier, is_frequent, is_once, count, money in rows:
        for entry in (
            cells.setdefault((r, f, currency), [0, Decimal(0)]),
            segments.setdefault((segment, currency), [0, Decimal(0)]),
        ):
            entry[0] += count
            entry[1] += Decimal(money)
        tiers[tier] = tiers.get(tier, 0) + count
        frequent += count if is_frequent else 0
        one_time += count if is_once else 0
    everyone = session.scalar(
        select(func.count()).where(Contact.account_id == account_id, Contact.deleted_at.is_(None))
    )
    return {
        "cells": [
            {"r": r, "f": f, "currency": c, "contacts": n, "revenue": str(m)}
            for (r, f, c), (n, m) in sorted(cells.items())
        ],
        "segments": [
            {"segment": name, "currency": c, "contacts": n, "revenue": str(m)}
            for (name, c), (n, m) in sorted(segments.items())
        ],
        "tiers": tiers,
        "frequent_buyers": frequent,
        "one_time_buyers": one_time,
        "contacts": int(everyone or 0),
    }


def _summary(session: Session, account: Account) -> dict[str, Any]:
    """The kept sums of the last computation (summed now for one computed before they were kept)."""
    kept = session.get(RfmSummary, account.id)
    return kept.payload if kept is not None else summarize(session, account.id)


def _share(money: Decimal, total: Decimal) -> str:
    return str((money * 100 / total).quantize(Decimal("0.01")) if total else Decimal("0.00"))


def _totals(summary: dict[str, Any]) -> dict[str, Decimal]:
    """Each currency's revenue over all buyers."""
    totals: dict[str, Decimal] = {}
    for cell in summary["cells"]:
        totals[cell["currency"]] = totals.get(cell["currency"], Decimal(0)) + Decimal(cell["revenue"])
    return totals


def overview(session: Session, account_id: int, now: datetime | None = None) -> dict[str, Any]:
    """Segment sizes and revenue shares, spender tiers, the score boundaries, and when computed.

    As of the last computation (`computed_at`): read from the sums kept with it.
    """
    account = session.get(Account, account_id)
    if account is None:
        raise LookupError(f"no account {account_id}")
    now = now or utcnow()
    summary = _summary(session, account)
    totals = _totals(summary)
    segments: dict[str, dict[str, Any]] = {}
    for row in summary["segments"]:
        name, currency, money = row["segment"], row["currency"], Decimal(row["revenue"])
        entry = segments.setdefault(name, {"name": name, "contacts": 0, "revenue": []})
        entry["contacts"] += row["contacts"]
        entry["revenue"].append(
            {"currency": currency, "amount": amount(money), "share_percent": _share(money, totals[currency])}
        )
    buyers = sum(e["contacts"] for e in segments.values())
    prospects = max(0, summary["contacts"] - buyers)
    scheme = account.rfm_scheme or DEFAULT_SCHEME
    ordered = [
        segments.get(name, {"name": name, "contacts": 0, "revenue": []}) for name in segment_names(scheme)
    ]
    once = summary["one_time_buyers"]
    return {
        "computed_at": account.rfm_computed_at.isoformat() if account.rfm_computed_at else None,
        "scheme": "custom" if account.rfm_scheme else "default",
        "rules": scheme,
        "segments": [*ordered, {"name": PROSPECTS, "contacts": prospects, "revenue": []}],
        "spenders": {
            "big": summary["tiers"].get("big", 0),
            "medium": summary["tiers"].get("medium", 0),
            "low": summary["tiers"].get("low", 0),
            "frequent_buyers": summary["frequent_buyers"],
            "one_time_buyers": once,
            "returning_buyers": buyers - once,
            "never_purchased": prospects,
        },
        "cuts": account.rfm_cuts,
        "as_of": now.isoformat(),
    }


def grid(session: Session, account_id: int) -> list[dict[str, Any]]:
    """Each (R, F) cell with buyers: its size, and its revenue and share of the currency's revenue.

    As of the last computation, like `overview`; shares are of the same per-currency totals.
    """
    account = session.get(Account, account_id)
    if account is None:
        raise LookupError(f"no account {account_id}")
    summary = _summary(session, account)
    totals = _totals(summary)
    cells: dict[tuple[int, int], dict[str, Any]] = {}
    for row in summary["cells"]:
        r, f, currency, money = row["r"], row["f"], row["currency"], Decimal(row["revenue"])
        cell = cells.setdefault((r, f), {"r": r, "f": f, "contacts": 0, "revenue": []})
        cell["contacts"] += row["contacts"]
        cell["revenue"].append(
            {"currency": currency, "amount": amount(money), "share_percent": _share(money, totals[currency])}
        )
    return [cells[key] for key in sorted(cells)]


def contact_rfm(session: Session, contact_id: int, now: datetime | None = None) -> dict[str, Any]:
    """A contact's RFM values, scores, segment and tiers, and why it is in its segment."""
    row = session.get(RfmScore, contact_id)
    if row is None:
        return {"segment": PROSPECTS, "why": "no order yet", "spender_tier": None}
    now = now or utcnow()
    days = (now - row.last_order_at).days
    return {
        "recency_days": days,
        "last_order_at": row.last_order_at.isoformat(),
        "frequency": row.frequency,
        "monetary": amount(row.monetary),
        "currency": row.currency,
        "scores": {"r": row.r, "f": row.f, "m": row.m},
        "segment": row.segment,
        "why": f"R{row.r} (last order {days} days ago) and F{row.f} ({row.frequency} orders): {row.segment}",
        "spender_tier": row.spender_tier,
        "frequent_buyer": row.frequent_buyer,
        "buyer": "one-time" if row.frequency == 1 else "returning",
        "computed_at": row.computed_at.isoformat(),
    }
