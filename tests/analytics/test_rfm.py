"""RFM scores, segments and spender tiers: quintile edges, ties, few buyers, currencies, schemes."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from integration import ingest
from integration.analytics import rfm
from integration.store import session_scope
from integration.store.models import Account, Contact, RfmScore
from tests.support.builders import NOW, customer, make_store, order


def _scores(session: object) -> dict[str, RfmScore]:
    rows = session.execute(  # type: ignore[attr-defined]
        select(Contact.email, RfmScore).join(RfmScore, RfmScore.contact_id == Contact.id)
    ).all()
    return {email.split("@")[0]: score for email, score in rows}


def test_the_default_grid_places_every_pair_exactly_once() -> None:
    scheme = rfm.check_scheme(rfm.DEFAULT_SCHEME)
    cells = [
        (r, f)
        for rule in scheme
        for r in range(rule["r"][0], rule["r"][1] + 1)
        for f in range(rule["f"][0], rule["f"][1] + 1)
    ]
    assert sorted(cells) == [(r, f) for r in range(1, 6) for f in range(1, 6)]


@pytest.mark.parametrize(
    ("rules", "reason"),
    [
        ([{"name": "All", "r": [1, 5], "f": [1, 4]}], "no segment for R1 F5"),
        ([{"name": "A", "r": [1, 5], "f": [1, 5]}, {"name": "B", "r": [5, 5], "f": [5, 5]}], "both"),
        ([{"name": "A", "r": [0, 5], "f": [1, 5]}], "scores run from 1 to 5"),
        ([{"name": "", "r": [1, 5], "f": [1, 5]}], "name"),
        ([], "at least one"),
    ],
)
def test_a_custom_scheme_must_cover_every_pair_once(rules: list, reason: str) -> None:
    with pytest.raises(rfm.InvalidScheme, match=reason):
        rfm.check_scheme(rules)


def test_quintile_edges_and_ties_share_scores(db_url: str) -> None:
    with session_scope(db_url) as session:
        store = make_store(session)
        records = []
        for i in range(10):  # contact i has i + 1 orders, the last one i days ago
            records += [
                order(
                    f"c{i}-{k}", NOW - timedelta(days=i, hours=k), email=f"c{i}@example.com", total_price="10"
                )
                for k in range(i + 1)
            ]
        # Two more with the same number of orders as c9: ties.
        records += [
            order(f"t{j}-{k}", NOW - timedelta(days=30), email=f"t{j}@example.com")
            for j in range(2)
            for k in range(10)
        ]
        ingest.ingest_orders(session, store, records)
        assert rfm.compute(session, store.account_id, now=NOW) == 12
        scores = _scores(session)
        # Frequency ranks: c0 (1 order) first … c9, t0, t1 (10 orders) share rank 10 of 12.
        # score = 1 + ⌊5·(rank − 1) / 12⌋ for ranks 1…10
        assert [scores[f"c{i}"].f for i in range(10)] == [1, 1, 1, 2, 2, 3, 3, 3, 4, 4]
        assert scores["c9"].f == scores["t0"].f == scores["t1"].f == 4
        # Recency: the oldest last order scores 1, the newest 5.
        assert scores["c0"].r == 5
        assert scores["t0"].r == scores["t1"].r == 1
        assert {s.segment for s in scores.values()} <= {r["name"] for r in rfm.DEFAULT_SCHEME}


def test_a_store_with_fewer_than_five_buyers_spreads_its_scores(db_url: str) -> None:
    with session_scope(db_url) as session:
        store = make_store(session)
        ingest.ingest_customers(session, store, [customer("p", "prospect@example.com")])
        ingest.ingest_orders(
            session,
            store,
            [
                order(
                    f"o{i}",
                    NOW - timedelta(days=10 * i),
                    email=f"b{i}@example.com",
                    total_price=str(10 * i + 10),
                )
                for i in range(3)
            ],
        )
        rfm.compute(session, store.account_id, now=NOW)
        scores = _scores(session)
        assert [scores[f"b{i}"].r for i in range(3)] == [4, 2, 1]
        assert [scores[f"b{i}"].m for i in range(3)] == [1, 2, 4]
        prospect = session.scalars(select(Contact).where(Contact.email == "prospect@example.com")).one()
        assert rfm.contact_rfm(session, prospect.id)["segment"] == "Prospects"
        overview = rfm.overview(session, store.account_id, now=NOW)
        assert overview["segments"][-1] == {"name": "Prospects", "contacts": 1, "revenue": []}
        assert overview["spenders"]["never_purchased"] == 1


def test_money_is_scored_within_each_contacts_main_currency(db_url: str) -> None:
    with session_scope(db_url) as session:
        eur = make_store(session, "EUR")
        usd = make_store(session, "USD", account_id=eur.account_id)
        ingest.ingest_orders(
            session,
            eur,
            [
                order("e1", email="ann@example.com", total_price="500"),
                order("e2", email="ann@example.com", total_price="100"),
                order("e3", email="bob@example.com", total_price="50"),
            ],
        )
        ingest.ingest_orders(
            session,
            usd,
            [
                order("u1", email="ann@example.com", currency="USD", total_price="9000"),
                order("u2", email="cy@example.com", currency="USD", total_price="20"),
                order(
                    "u3",
                    email="dee@example.com",
                    currency="USD",
                    total_price="30",
                    financial_status="refunded",
                ),
                order("u4", email="eve@example.com", currency="USD", total_price="70", cancelled_at=NOW),
            ],
        )
        rfm.compute(session, eur.account_id, now=NOW)
        scores = _scores(session)
        assert (scores["ann"].currency, scores["ann"].monetary, scores["ann"].frequency) == (
            "EUR",
            Decimal("600"),
            3,
        )
        assert scores["ann"].m > scores["bob"].m  # EUR contacts compared with each other
        assert (scores["dee"].frequency, scores["dee"].monetary) == (
            1,
            Decimal("0"),
        )  # refunded: no money spent
        assert "eve" not in scores  # a cancelled order is no purchase
        assert scores["cy"].m > scores["dee"].m
        cuts = rfm.overview(session, eur.account_id, now=NOW)["cuts"]
        assert {c["currency"] for c in cuts["m"]} == {"EUR", "USD"}


def test_spender_tiers_and_a_custom_scheme(db_url: str) -> None:
    with session_scope(db_url) as session:
        store = make_store(session)
        ingest.ingest_orders(
            session,
            store,
            [
                order(
                    f"o{i}", NOW - timedelta(days=i % 50), email=f"c{i}@example.com", total_price=str(i + 1)
                )
                for i in range(200)
            ]
            + [order(f"again{i}", NOW, email=f"c{i}@example.com") for i in range(150, 200)],
        )
        account = session.get(Account, store.account_id)
        account.rfm_scheme = rfm.check_scheme(
            [{"name": "Recent", "r": [4, 5], "f": [1, 5]}, {"name": "Earlier", "r": [1, 3], "f": [1, 5]}]
        )
        rfm.compute(session, store.account_id, now=NOW)
        scores = _scores(session)
        tiers = {t: sorted(n for n, s in scores.items() if s.spender_tier == t) for t in rfm.TIERS}
        assert tiers["big"] == ["c198", "c199"]  # the top 1% of 200
        assert len(tiers["medium"]) == 38
        assert len(tiers["low"]) == 160
        assert sum(s.frequent_buyer for s in scores.values()) == 50  # the 50 with two orders: top 25%
        assert {s.segment for s in scores.values()} == {"Recent", "Earlier"}
        overview = rfm.overview(session, store.account_id, now=NOW)
        assert overview["scheme"] == "custom"
        assert sum(s["contacts"] for s in overview["segments"]) == 200
        assert overview["spenders"]["returning_buyers"] == 50
        assert overview["spenders"]["one_time_buyers"] == 150
        shares = [Decimal(r["share_percent"]) for s in overview["segments"] for r in s["revenue"]]
        assert sum(shares) == Decimal("100.00")


@pytest.fixture
def pg_url(postgres_url: str) -> str:
    """The PostgreSQL store alone: the cut-point scoring exists only there."""
    from sqlalchemy import text

    from integration.store.db import get_engine
    from integration.store.models import Base

    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with get_engine(postgres_url).begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    return postgres_url


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_cut_points_give_exactly_the_scores_of_the_window_ranks(pg_url: str, seed: int) -> None:
    import random

    rng = random.Random(seed)
    with session_scope(pg_url) as session:
        eur = make_store(session, "EUR")
        usd = make_store(session, "USD", account_id=eur.account_id)
        records: dict[int, list[object]] = {eur.id: [], usd.id: []}
        for person in range(rng.randint(1, 240)):  # from a handful of buyers to hundreds, many ties
            for n in range(rng.choice([1, 1, 2, 3, 5])):
                store = usd if rng.random() < 0.2 else eur
                status = rng.choice(["paid", "paid", "paid", "refunded"])
                records[store.id].append(
                    order(
                        f"{person}-{n}",
                        NOW - timedelta(days=rng.choice([1, 5, 30, 90, 365])),
                        email=f"p{person}@example.com",
                        total_price=str(rng.choice([10, 20, 20, 50, 100, 1000])),
                        currency=store.currency,
                        financial_status=status,
                    )
                )
        for store in (eur, usd):
            ingest.ingest_orders(session, store, records[store.id])  # type: ignore[arg-type]
        columns = (RfmScore.contact_id, RfmScore.last_order_at, RfmScore.frequency, RfmScore.monetary)
        columns += (RfmScore.currency, RfmScore.r, RfmScore.f, RfmScore.m, RfmScore.segment)
        columns += (RfmScore.spender_tier, RfmScore.frequent_buyer)

        def scored() -> list[tuple[object, ...]]:
            return [tuple(r) for r in session.execute(select(*columns).order_by(RfmScore.contact_id))]

        def agree() -> None:
            buyers = rfm.compute(session, eur.account_id, NOW)  # PostgreSQL: by cut points
            by_cuts, ranges = scored(), session.get(Account, eur.account_id).rfm_cuts  # type: ignore[union-attr]
            rfm._compute_by_ranks(session, eur.account_id, rfm.DEFAULT_SCHEME, NOW)
            assert len(by_cuts) == buyers
            assert scored() == by_cuts
            # The score ranges found by index probes are those a scan of the scores finds.
            assert ranges == rfm._cuts(session, eur.account_id)

        agree()
        # A day later: new orders for some, a first order for others, and one buyer's only order
        # cancelled — the stored rows are updated, inserted and deleted where they differ.
        later = [
            order(f"late-{i}", NOW, email=f"p{rng.randint(0, 300)}@example.com", total_price="20")
            for i in range(rng.randint(1, 30))
        ]
        first = records[eur.id][0]
        gone = dataclasses.replace(first, cancelled_at=NOW, updated_at=NOW + timedelta(hours=1))  # type: ignore[type-var]
        ingest.ingest_orders(session, eur, [*later, gone])
        agree()
