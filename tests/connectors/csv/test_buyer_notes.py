"""An orders import notes its buyers and recomputes each once: the same rows as recomputing them all."""

from __future__ import annotations

import csv
import io
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from connectors.csv import importer
from connectors.csv.importer import import_csv
from integration.analytics import period_spend
from integration.commerce import totals
from integration.ingest import ingest_orders
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import (
    Buyer,
    BuyerNote,
    Contact,
    ContactPeriodSpend,
    ContactTotals,
    EngagementStatus,
    InteractionType,
    Order,
    PeriodCurrency,
    table_of,
)
from jobs import compute
from tests.support.builders import make_store, order
from tests.support.statistics import record_analyses

COLUMNS = [
    "id", "customer_id", "email", "created_at", "updated_at", "cancelled_at", "financial_status",
    "currency", "total_price", "total_refunded", "line_item_title", "line_item_quantity", "line_item_price",
]  # fmt: skip
KEPT = (ContactTotals, Buyer, ContactPeriodSpend, PeriodCurrency)


def _file(orders: dict[str, dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for external_id, o in orders.items():
        for title, price in (("Linen shirt", o["total"] - Decimal("5.00")), ("Scarf", Decimal("5.00"))):
            writer.writerow(
                [external_id, o["buyer"], f"{o['buyer']}@example.com", o["created"].isoformat(),
                 o["updated"].isoformat(), o["cancelled"].isoformat() if o["cancelled"] else "",
                 o["status"], o["currency"], o["total"], o["refunded"], title, 1, price]
            )  # fmt: skip
    return out.getvalue().encode()


def _random_order(rng: random.Random, now: datetime, updated: datetime) -> dict[str, Any]:
    created = now - timedelta(days=rng.randrange(1, 560), hours=rng.randrange(24))
    total = Decimal(rng.randrange(600, 20000)) / 100
    return {
        "buyer": f"c{rng.randrange(24)}",
        "created": created,
        "updated": max(created, updated),
        "cancelled": created + timedelta(hours=1) if rng.random() < 0.1 else None,
        "status": rng.choice(["paid", "paid", "paid", "refunded", "partially_refunded", "voided", ""]),
        "currency": rng.choice(["EUR", "EUR", "USD"]),
        "total": total,
        "refunded": (total / 2).quantize(Decimal("0.01")) if rng.random() < 0.15 else Decimal(0),
    }


def _kept(session: Session) -> dict[str, set[tuple[Any, ...]]]:
    """Every row of the tables kept per buyer, as plain values."""
    found = {}
    for model in KEPT:
        table = table_of(model)
        found[table.name] = {
            tuple(Decimal(v).quantize(Decimal("0.01")) if isinstance(v, Decimal | float) else v for v in row)
            for row in session.execute(select(table))
        }
    return found


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_an_orders_import_keeps_the_same_buyer_rows_as_recomputing_them_all(
    db_url: str, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small batches and small folds: a buyer's orders are in many batches, the folds in many parts.
    monkeypatch.setattr(importer, "BATCH_RECORDS", 7)
    monkeypatch.setattr(totals, "FOLD_PART", 4)
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    first = now - timedelta(days=600)
    orders = {f"o{i}": _random_order(rng, now, first) for i in range(60)}
    with session_scope(db_url) as session:
        store_id = make_store(session).id
    assert import_csv(db_url, store_id, "orders", io.BytesIO(_file(orders))).written == 60

    # Newer versions: orders moved to another buyer, cancelled, refunded, repriced; and new orders.
    changed = {}
    for external_id in rng.sample(sorted(orders), 15):
        version = dict(orders[external_id])
        version["updated"] = version["created"] + timedelta(hours=2)
        key = rng.choice(["buyer", "cancelled", "status", "total", "currency", "refunded"])
        version[key] = _random_order(rng, now, first)[key]
        if key == "buyer":
            version[key] = f"m{rng.randrange(4)}"  # a buyer the first file did not name
        if key == "cancelled":
            version[key] = version["created"] + timedelta(hours=1)
        changed[external_id] = version
    changed |= {f"n{i}": dict(_random_order(rng, now, first), buyer=f"m{i % 4}") for i in range(10)}
    assert import_csv(db_url, store_id, "orders", io.BytesIO(_file(changed))).written == 25

    with session_scope(db_url) as session:
        assert session.scalar(select(func.count()).select_from(BuyerNote)) == 0
        imported = _kept(session)
        account_id = session.scalar(select(Contact.account_id))
        assert account_id is not None
    assert len(imported["contact_period_spend"]) > 20
    assert len(imported["buyers"]) >= 5
    with session_scope(db_url) as session:
        totals.rebuild(session, account_id)
        period_spend.rebuild(session, account_id)
    with session_scope(db_url) as session:
        assert _kept(session) == imported


def test_noted_buyers_an_import_left_are_folded_by_the_scheduler(settings: Settings) -> None:
    url = settings.database_url
    day = timedelta(days=1)
    now = datetime.now(UTC)
    with session_scope(url) as session:
        store = make_store(session)
        other = make_store(session)
        ingest_orders(session, other, [order("x", now - day, email="zoe@example.com", total_price="9.00")])
        ingest_orders(
            session,
            store,
            [
                order("1", now - 3 * day, email="ann@example.com", total_price="10.00"),
                order("2", now - 2 * day, email="ann@example.com", total_price="20.00"),
                order("3", now - day, email="bob@example.com", total_price="5.50"),
            ],
            buyers_later=True,
        )
        account_id = store.account_id
        zoe = session.scalar(select(Contact.id).where(Contact.email == "zoe@example.com"))
        # A note naming a contact of another account (an id SQLite handed out again) is not folded.
        session.add(BuyerNote(account_id=account_id, contact_id=zoe))
        session.flush()
        # Zoe's order is gone without her rows being recomputed: a fold of her would empty them.
        session.execute(delete(table_of(Order)).where(Order.external_id == "x"))
    with session_scope(url) as session:
        # Noted, not recomputed: the import stopped before its fold.
        assert session.scalar(select(func.count()).where(Buyer.account_id == account_id)) == 0
        assert session.scalar(select(func.count()).select_from(BuyerNote)) == 3

    assert compute.fold_buyer_notes_job() == 3  # notes taken: the foreign one too, recomputing nothing

    with session_scope(url) as session:
        assert session.scalar(select(func.count()).select_from(BuyerNote)) == 0
        buyers = dict(
            session.execute(
                select(Contact.email, Buyer.revenue).join(Buyer, Buyer.contact_id == Contact.id)
            ).all()
        )
        assert buyers == {
            "ann@example.com": Decimal("30.00"),
            "bob@example.com": Decimal("5.50"),
            "zoe@example.com": Decimal("9.00"),
        }
        assert session.scalar(select(func.count()).where(ContactPeriodSpend.account_id == account_id)) > 0
        session.execute(delete(BuyerNote))
    assert compute.fold_buyer_notes_job() == 0


def test_a_fold_takes_only_the_notes_written_before_it_began(db_url: str) -> None:
    with session_scope(db_url) as session:
        store = make_store(session)
        ingest_orders(
            session,
            store,
            [order("1", email="ann@example.com"), order("2", email="bob@example.com")],
            buyers_later=True,
        )
        account_id = store.account_id
        first, second = session.scalars(select(BuyerNote.id).order_by(BuyerNote.id)).all()
        # Bob's note came after the fold began (an import still running): left for the next fold.
        assert totals.fold_notes(session, account_id, up_to=first) == 1
        assert totals.fold_notes(session, account_id, up_to=first) == 0
        assert session.scalars(select(BuyerNote.id)).all() == [second]
        assert session.scalars(select(Contact.email).join(Buyer, Buyer.contact_id == Contact.id)).all() == [
            "ann@example.com"
        ]


def _noted(session: Session, store: Any, buyers: dict[str, datetime]) -> dict[str, int]:
    """Orders of these buyers (email local part → when), stored as an import stores them; the
    buyers' contact ids."""
    for name, when in buyers.items():
        ingest_orders(
            session, store, [order(f"o-{name}", when, email=f"{name}@example.com")], buyers_later=True
        )
    return dict(
        session.execute(
            select(Contact.email, Contact.id).where(
                Contact.email.in_([f"{name}@example.com" for name in buyers])
            )
        ).all()
    )


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("shares", [2, 3])
def test_a_fold_in_shares_takes_every_note_and_leaves_what_recomputing_all_leaves(
    db_url: str, shares: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(totals, "FOLD_PART", 3)  # each share in several transactions
    rng = random.Random(shares)
    now = datetime.now(UTC).replace(microsecond=0)
    with session_scope(db_url) as session:
        store = make_store(session)
        account_id = store.account_id
        for i in range(40):
            o = _random_order(rng, now, now - timedelta(days=600))
            ingest_orders(
                session,
                store,
                [
                    order(
                        f"o{i}",
                        o["created"],
                        email=f"{o['buyer']}@example.com",
                        currency=o["currency"],
                        total_price=o["total"],
                        financial_status=o["status"] or None,
                    )
                ],
                buyers_later=True,
            )
        noted = session.scalar(select(func.count(func.distinct(BuyerNote.contact_id))))
    assert noted is not None
    assert noted > 10
    assert totals.fold_all_notes(db_url, account_id, shares=shares) == noted
    with session_scope(db_url) as session:
        assert session.scalar(select(func.count()).select_from(BuyerNote)) == 0
        folded = _kept(session)
    assert len(folded["buyers"]) > 10  # a buyer of cancelled orders only has none
    assert folded["contact_period_spend"]
    assert folded["period_currencies"]
    with session_scope(db_url) as session:
        totals.rebuild(session, account_id)
        period_spend.rebuild(session, account_id)
    with session_scope(db_url) as session:
        assert _kept(session) == folded


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_shares_of_a_fold_run_side_by_side_and_a_whole_fold_waits_for_them(db_url: str) -> None:
    now = datetime.now(UTC)
    with session_scope(db_url) as session:
        store = make_store(session)
        account_id = store.account_id
        # Ann's order is too old for the leaderboard's periods: her fold writes no shared count.
        ids = _noted(session, store, {"ann": now - timedelta(days=3 * 365)})
        mine = ids["ann@example.com"] % 2
        n = 0
        while True:  # a buyer in the other share, with a recent order; one in Ann's share is left out
            n += 1
            bob = next(iter(_noted(session, store, {f"bob{n}": now - timedelta(days=1)}).values()))
            if bob % 2 != mine:
                break
            session.execute(delete(BuyerNote).where(BuyerNote.contact_id == bob))
    with session_scope(db_url) as holding:
        assert totals.fold_notes(holding, account_id, share=(mine, 2)) == 1  # not committed yet
        with session_scope(db_url) as side_by_side:
            side_by_side.execute(text("SET LOCAL lock_timeout = '2s'"))
            assert totals.fold_notes(side_by_side, account_id, share=(1 - mine, 2)) == 1
        with pytest.raises(OperationalError, match="lock timeout"):
            _fold_within(db_url, account_id, None, "200ms")  # a whole fold
        with pytest.raises(OperationalError, match="lock timeout"):
            _fold_within(db_url, account_id, (mine, 2), "200ms")  # the same share
    with session_scope(db_url) as session:
        assert session.scalar(select(func.count()).select_from(BuyerNote)) == 0
        assert session.scalar(select(func.count()).where(Buyer.account_id == account_id)) == 2


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("buyers", [5, 20])
def test_a_fold_of_many_buyers_keeps_the_planners_statistics_of_what_it_reads_and_writes(
    db_url: str, buyers: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(totals, "STATISTICS_FIRST", 6)
    monkeypatch.setattr(totals, "FOLD_PART", 3)  # each share in several transactions
    now = datetime.now(UTC)
    with session_scope(db_url) as session:
        store = make_store(session)
        account_id = store.account_id
        _noted(session, store, {f"buyer{n}": now - timedelta(days=n + 1) for n in range(buyers)})
    analyses = record_analyses(monkeypatch)
    assert totals.fold_all_notes(db_url, account_id, shares=2) == buyers
    if buyers < 6:  # a few buyers (the scheduler's fold after a few webhooks): nothing analyzed
        assert analyses == []
        return
    # The contacts, read by every part, before the fold; the rows it writes once 6 buyers are
    # folded, then at twice the count of that moment (12 to 16: parts of 1 to 3 buyers from the
    # two shares): never a third time at 20 buyers. The orders are the import's to analyze.
    written = list(totals.WRITTEN_BY_FOLDS)
    assert analyses == [list(totals.READ_BY_FOLDS), written, written]
    with session_scope(db_url) as session:
        assert session.scalar(select(func.count()).where(Buyer.account_id == account_id)) == buyers


def _fold_within(db_url: str, account_id: int, share: tuple[int, int] | None, timeout: str) -> int:
    """Fold, giving up when a lock is not granted within `timeout`."""
    with session_scope(db_url) as session:
        session.execute(text(f"SET LOCAL lock_timeout = '{timeout}'"))
        return totals.fold_notes(session, account_id, share=share)


def test_the_fold_moves_each_buyers_last_interaction_to_its_newest_placed_order_and_classifies_it(
    db_url: str,
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    day = timedelta(days=1)
    with session_scope(db_url) as session:
        store = make_store(session)
        account_id = store.account_id
        ingest_orders(
            session,
            store,
            [
                order("a1", now - 3 * day, email="ann@example.com"),
                order("a2", now - day, email="ann@example.com", cancelled_at=now - day),
                order("c1", now - 2 * day, email="cat@example.com"),
                order("d1", now - 400 * day, email="dan@example.com"),
                order("e1", now - day, email="eve@example.com", financial_status="voided"),
            ],
            buyers_later=True,
        )
        # Cat clicked an email after her order, while the import ran.
        session.execute(
            update(Contact)
            .where(Contact.email == "cat@example.com")
            .values(
                last_interaction_at=now - timedelta(hours=1),
                last_interaction_type=InteractionType.EMAIL_CLICK,
            )
        )
    with session_scope(db_url) as session:
        before = {c.email: c.last_interaction_at for c in session.scalars(select(Contact))}
    # The batch left its buyers' orders to the fold: only Ann's last interaction was recomputed
    # there, as her cancelled order no longer counts.
    assert before == {
        "ann@example.com": now - 3 * day,
        "cat@example.com": now - timedelta(hours=1),
        "dan@example.com": None,
        "eve@example.com": None,
    }
    assert totals.fold_all_notes(db_url, account_id) == 4
    with session_scope(db_url) as session:
        after = {
            c.email: (c.last_interaction_at, c.last_interaction_type, c.engagement_status)
            for c in session.scalars(select(Contact))
        }
    assert after == {
        "ann@example.com": (now - 3 * day, InteractionType.ORDER_PLACED, EngagementStatus.ENGAGED),
        "cat@example.com": (now - timedelta(hours=1), InteractionType.EMAIL_CLICK, EngagementStatus.ENGAGED),
        "dan@example.com": (now - 400 * day, InteractionType.ORDER_PLACED, EngagementStatus.UNENGAGED),
        # A voided order is no interaction.
        "eve@example.com": (None, None, EngagementStatus.UNENGAGED),
    }
