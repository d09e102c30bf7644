"""RFM on PostgreSQL by cut points: the same scores as the window ranks, at a million buyers in seconds.

`score = 1 + ⌊5·(rank − 1)/n⌋` with ties sharing the first rank equals one plus the number of
the four cut points strictly below the value, where cut point k is the value at 1-based position
⌈k·n/5⌉ in ascending order — exactly what `percentile_disc(k/5)` returns. Likewise a value is in
the top share s (rank among the descending values − 1 < s·n) when it is at least
`percentile_disc(s)` over the descending order. So one sort per metric gives every boundary, and
scoring is comparisons; no per-row ranking. The values come from `contact_totals` (each buyer's
orders per currency, kept current at ingest), not from the orders. Only the rows whose values
changed are written: after a batch of orders or a new day, most buyers keep their scores.

The statements are assembled from fixed fragments; every value (cut points, currencies, segment
names from the account's scheme) is a bound parameter, hence the `noqa: S608` below.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

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


def compute(
    session: Session,
    account_id: int,
    scheme: list[dict[str, Any]],
    shares: tuple[Any, Any, Any],
    prospects: str,
    now: datetime,
) -> int:
    """Write the account's RFM rows (PostgreSQL), changing only those whose values changed; return buyers."""
    big, medium, frequent = shares
    # Sorting and hashing a million rows: in memory rather than in files (this transaction only).
    session.execute(text("SET LOCAL jit = off"))
    session.execute(text("SET LOCAL work_mem = '64MB'"))
    # Per buyer from the totals kept at ingest (one row per buyer and currency); a buyer in several
    # currencies is fixed up below.
    session.execute(text("DROP TABLE IF EXISTS rfm_buyers"))
    session.execute(
        text(
            "CREATE TEMP TABLE rfm_buyers ON COMMIT DROP AS "
            "SELECT contact_id, sum(orders)::int AS frequency, max(last_order_at) AS last_at, "
            "min(currency) AS currency, max(currency) AS other_currency, sum(revenue) AS monetary "
            "FROM contact_totals WHERE account_id = :account GROUP BY contact_id"
        ),
        {"account": account_id},
    )
    # Several currencies: M in the one of most orders (then alphabetical), as the window version does.
    session.execute(
        text(
            "UPDATE rfm_buyers b SET currency = c.currency, monetary = c.revenue "
            "FROM (SELECT DISTINCT ON (t.contact_id) t.contact_id, t.currency, t.revenue "
            "      FROM contact_totals t JOIN rfm_buyers x ON x.contact_id = t.contact_id "
            "      WHERE x.currency <> x.other_currency "
            "      ORDER BY t.contact_id, t.orders DESC, t.currency) c "
            "WHERE b.contact_id = c.contact_id"
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
        return 0
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
    new_values = f"n.{', n.'.join(SCORED_COLUMNS)}"
    # One full join with the stored rows finds every difference: new buyers, changed rows, and
    # rows of contacts who no longer have an order. Only those are written.
    session.execute(text("DROP TABLE IF EXISTS rfm_changes"))
    session.execute(
        text(
            "CREATE TEMP TABLE rfm_changes ON COMMIT DROP AS "  # noqa: S608
            f"SELECT n.contact_id, t.contact_id AS stored_id, {new_values} "
            f"FROM ({scored}) n FULL JOIN (SELECT * FROM rfm_scores WHERE account_id = :account) t "
            "ON t.contact_id = n.contact_id "
            "WHERE n.contact_id IS NULL OR t.contact_id IS NULL "
            f"OR (t.{', t.'.join(SCORED_COLUMNS)}) IS DISTINCT FROM ({new_values})"
        ),
        params,
    )
    changed = session.execute(
        text("SELECT count(*) FILTER (WHERE stored_id IS NULL), count(*) FROM rfm_changes")
    ).one()
    if not changed[1]:
        return int(n)
    session.execute(text("ANALYZE rfm_changes"))
    session.execute(
        text(
            "DELETE FROM rfm_scores t USING rfm_changes c "
            "WHERE c.contact_id IS NULL AND t.contact_id = c.stored_id"
        )
    )
    session.execute(
        text(
            f"UPDATE rfm_scores t SET ({columns}, computed_at) = ({new_values}, :now) "  # noqa: S608
            "FROM rfm_changes n WHERE n.stored_id IS NOT NULL AND t.contact_id = n.stored_id "
            "AND n.contact_id IS NOT NULL"
        ),
        {"now": now},
    )
    session.execute(
        text(
            f"INSERT INTO rfm_scores (contact_id, account_id, {columns}, computed_at) "  # noqa: S608
            f"SELECT n.contact_id, :account, {new_values}, :now FROM rfm_changes n WHERE n.stored_id IS NULL"
        ),
        {"account": account_id, "now": now},
    )
    if changed[0] > n // 10:
        session.execute(text("ANALYZE rfm_scores"))  # many new rows: plans need their statistics
    return int(n)
