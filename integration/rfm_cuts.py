"""RFM on PostgreSQL by cut points: the same scores as the window ranks, at a million buyers in seconds.

`score = 1 + ⌊5·(rank − 1)/n⌋` with ties sharing the first rank equals one plus the number of
the four cut points strictly below the value, where cut point k is the value at 1-based position
⌈k·n/5⌉ in ascending order — exactly what `percentile_disc(k/5)` returns. Likewise a value is in
the top share s (rank among the descending values − 1 < s·n) when it is at least
`percentile_disc(s)` over the descending order. So one sort per metric gives every boundary, and
scoring is comparisons; no per-row ranking. Only the rows whose values changed are written: after a
batch of orders or a new day, most buyers keep their scores.

The statements are assembled from fixed fragments; every value (cut points, currencies, segment
names from the account's scheme) is a bound parameter, hence the `noqa: S608` below.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select, text
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.orm import Session

from integration import orders as order_rules
from integration.store.models import Order, Store

SCORED_COLUMNS = (
    "last_order_at",
    "frequency",
    "monetary",
    "currency",
    "r",
    "f",
    "m",
    "segment",
    "spender_tier",
    "frequent_buyer",
)


def _sql(session: Session, statement: Any) -> str:
    return str(statement.compile(session.get_bind(), compile_kwargs={"literal_binds": True}))


def compute(
    session: Session,
    account_id: int,
    scheme: list[dict[str, Any]],
    shares: tuple[Any, Any, Any],
    prospects: str,
    now: datetime,
) -> None:
    """Write the account's RFM rows (PostgreSQL), changing only those whose values changed."""
    big, medium, frequent = shares
    # Sorting and hashing a million rows: in memory rather than in files (this transaction only).
    session.execute(text("SET LOCAL jit = off"))
    session.execute(text("SET LOCAL work_mem = '64MB'"))
    stores = select(Store.id).where(Store.account_id == account_id).scalar_subquery()
    placed = and_(Order.store_id.in_(stores), Order.contact_id.is_not(None), order_rules.placed())
    spent = func.coalesce(func.sum(Order.total_price).filter(order_rules.revenue()), 0)
    # Per buyer in one hash aggregate; a buyer in several currencies is fixed up below.
    buyers = (
        select(
            Order.contact_id.label("contact_id"),
            func.count().label("frequency"),
            func.max(Order.created_at).label("last_at"),
            func.min(Order.currency).label("currency"),
            func.max(Order.currency).label("other_currency"),
            spent.label("monetary"),
        )
        .where(placed)
        .group_by(Order.contact_id)
    )
    session.execute(text("DROP TABLE IF EXISTS rfm_buyers"))
    # Every order is read: a sequential scan and a hash beat walking the (contact, date) index.
    session.execute(text("SET LOCAL enable_indexscan = off"))
    session.execute(text("SET LOCAL enable_bitmapscan = off"))
    session.execute(text("CREATE TEMP TABLE rfm_buyers ON COMMIT DROP AS " + _sql(session, buyers)))
    session.execute(text("SET LOCAL enable_indexscan = on"))
    session.execute(text("SET LOCAL enable_bitmapscan = on"))
    # Several currencies: M in the one of most orders (then alphabetical), as the window version does.
    main = (
        select(Order.contact_id, Order.currency, spent.label("monetary"))
        .where(
            placed,
            Order.contact_id.in_(text("SELECT contact_id FROM rfm_buyers WHERE currency <> other_currency")),
        )
        .group_by(Order.contact_id, Order.currency)
        .order_by(Order.contact_id, func.count().desc(), Order.currency)
        .ext(distinct_on(Order.contact_id))
    )
    session.execute(
        text(
            "UPDATE rfm_buyers b SET currency = c.currency, monetary = c.monetary "  # noqa: S608
            f"FROM ({_sql(session, main)}) c WHERE b.contact_id = c.contact_id"
        )
    )
    session.execute(text("ANALYZE rfm_buyers"))

    quintiles = "ARRAY[0.2, 0.4, 0.6, 0.8]"
    n, r_cuts, f_cuts, f_top = session.execute(
        text(
            f"SELECT count(*), percentile_disc({quintiles}) WITHIN GROUP (ORDER BY last_at), "  # noqa: S608
            f"percentile_disc({quintiles}) WITHIN GROUP (ORDER BY frequency), "
            "percentile_disc(:frequent) WITHIN GROUP (ORDER BY frequency DESC) FROM rfm_buyers"
        ),
        {"frequent": float(frequent)},
    ).one()
    if not n:
        session.execute(text("DELETE FROM rfm_scores WHERE account_id = :a"), {"a": account_id})
        return
    m_cuts = session.execute(
        text(
            f"SELECT currency, percentile_disc({quintiles}) WITHIN GROUP (ORDER BY monetary), "  # noqa: S608
            "percentile_disc(:big) WITHIN GROUP (ORDER BY monetary DESC), "
            "percentile_disc(:medium) WITHIN GROUP (ORDER BY monetary DESC) FROM rfm_buyers GROUP BY currency"
        ),
        {"big": float(big), "medium": float(medium)},
    ).all()

    params: dict[str, Any] = {"account": account_id, "now": now, "f_top": f_top}
    r_expr = " + ".join(["1"] + [f"(b.last_at > :r{k})::int" for k in range(4)])
    f_expr = " + ".join(["1"] + [f"(b.frequency > :f{k})::int" for k in range(4)])
    params |= {f"r{k}": v for k, v in enumerate(r_cuts)} | {f"f{k}": v for k, v in enumerate(f_cuts)}
    m_whens, big_whens, medium_whens = [], [], []
    for i, (currency, cuts, big_cut, medium_cut) in enumerate(m_cuts):
        params[f"c{i}"] = currency
        params |= {f"m{i}_{k}": v for k, v in enumerate(cuts)}
        params |= {f"big{i}": big_cut, f"medium{i}": medium_cut}
        m_whens.append(
            f"WHEN :c{i} THEN " + " + ".join(["1"] + [f"(b.monetary > :m{i}_{k})::int" for k in range(4)])
        )
        big_whens.append(f"WHEN b.currency = :c{i} AND b.monetary >= :big{i} THEN 'big'")
        medium_whens.append(f"WHEN b.currency = :c{i} AND b.monetary >= :medium{i} THEN 'medium'")
    segment_whens = []
    for i, rule in enumerate(scheme):
        params[f"s{i}"] = rule["name"]
        params |= {f"s{i}_r0": rule["r"][0], f"s{i}_r1": rule["r"][1]}
        params |= {f"s{i}_f0": rule["f"][0], f"s{i}_f1": rule["f"][1]}
        segment_whens.append(
            f"WHEN r BETWEEN :s{i}_r0 AND :s{i}_r1 AND f BETWEEN :s{i}_f0 AND :s{i}_f1 THEN :s{i}"
        )
    params["prospects"] = prospects
    scored = f"""
        SELECT contact_id, last_order_at, frequency, monetary, currency, r, f, m,
               CAST(CASE {" ".join(segment_whens)} ELSE :prospects END AS varchar(60)) AS segment,
               spender_tier, frequent_buyer
        FROM (SELECT b.contact_id, b.last_at AS last_order_at, b.frequency, b.monetary, b.currency,
                     {r_expr} AS r, {f_expr} AS f,
                     CASE b.currency {" ".join(m_whens)} END AS m,
                     CAST(CASE {" ".join(big_whens)} {" ".join(medium_whens)} ELSE 'low' END AS varchar(20))
                         AS spender_tier,
                     b.frequency >= :f_top AS frequent_buyer
              FROM rfm_buyers b) s"""  # noqa: S608
    columns = ", ".join(SCORED_COLUMNS)
    # Set-wise joins only: with statistics of an empty table (a first computation) the planner picks
    # a nested loop that rescans the table the statement is filling, once per buyer.
    session.execute(text("SET LOCAL enable_nestloop = off"))
    session.execute(
        text(
            f"UPDATE rfm_scores t SET ({columns}, computed_at) = "  # noqa: S608
            f"(n.{', n.'.join(SCORED_COLUMNS)}, :now) FROM ({scored}) n "
            f"WHERE t.contact_id = n.contact_id AND (t.{', t.'.join(SCORED_COLUMNS)}) "
            f"IS DISTINCT FROM (n.{', n.'.join(SCORED_COLUMNS)})"
        ),
        params,
    )
    inserted = session.execute(
        text(
            f"INSERT INTO rfm_scores (contact_id, account_id, {columns}, computed_at) "  # noqa: S608
            f"SELECT n.contact_id, :account, n.{', n.'.join(SCORED_COLUMNS)}, :now FROM ({scored}) n "
            "WHERE NOT EXISTS (SELECT 1 FROM rfm_scores t WHERE t.contact_id = n.contact_id)"
        ),
        params,
    )
    if inserted.rowcount > n // 10:  # type: ignore[attr-defined]
        session.execute(text("ANALYZE rfm_scores"))  # many new rows: plans need their statistics
    session.execute(
        text(
            "DELETE FROM rfm_scores t WHERE t.account_id = :account "
            "AND NOT EXISTS (SELECT 1 FROM rfm_buyers b WHERE b.contact_id = t.contact_id)"
        ),
        params,
    )
