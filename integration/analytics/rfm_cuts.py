"""RFM on PostgreSQL by cut points: the same scores as the window ranks, at a million buyers in seconds.

`score = 1 + ⌊5·(rank − 1)/n⌋` with ties sharing the first rank equals one plus the number of
the four cut points strictly below the value, where cut point k is the value at 1-based position
⌈k·n/5⌉ in ascending order. Likewise a value is in the top share s (rank among the descending
values − 1 < s·n) when it is at least the value at descending position ⌈s·n⌉, which is ascending
position n − ⌈s·n⌉ + 1. The positions are counted exactly in Python and `percentile_disc` picks
them (it returns the value at position ⌈p·n⌉; p = (position − ½)/n leaves no room for rounding),
so one ascending sort per metric gives every boundary, and
scoring is comparisons; no per-row ranking. The values come from `contact_totals` (each buyer's
orders per currency, kept current at ingest), not from the orders. Only the rows whose values
changed are written: after a batch of orders or a new day, most buyers keep their scores.

The statements are assembled from fixed fragments; every value (cut points, currencies, segment
names from the account's scheme) is a bound parameter, hence the `noqa: S608` below.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from integration.money import amount

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


# Each buyer as RFM sees it, from the rows ingestion keeps current (`integration.commerce.totals`).
BUYERS = (
    "(SELECT contact_id, orders AS frequency, last_order_at AS last_at, currency, revenue AS monetary "
    "FROM buyers WHERE account_id = :account) b"
)


def quintile_positions(n: int) -> list[int]:
    """The 1-based positions of the four quintile cut points among n ascending values: ⌈k·n/5⌉."""
    return [(k * n + 4) // 5 for k in range(1, 5)]


def top(n: int, share: Decimal) -> int:
    """The ascending position of the smallest value still in the top `share` of n values.

    Rank r (ties sharing the first) is in the top share when r − 1 < share·n, i.e. the value is at
    least the one at descending position ⌈share·n⌉ — counted exactly, no floating point.
    """
    return n - max(1, math.ceil(share * n)) + 1


def fractions(n: int, positions: list[int]) -> list[float]:
    """`percentile_disc` fractions that pick exactly these positions (it takes position ⌈p·n⌉)."""
    return [(position - 0.5) / n for position in positions]


def _span(bounds: list[int]) -> range:
    return range(bounds[0], bounds[1] + 1)


def compute(
    session: Session,
    account_id: int,
    scheme: list[dict[str, Any]],
    shares: tuple[Decimal, Decimal, Decimal],
    prospects: str,
    now: datetime,
) -> tuple[int, dict[str, Any]]:
    """Write the account's RFM rows (PostgreSQL), changing only those that changed.

    Return the number of buyers and each score's range of values (what `rfm._cuts` computes).
    """
    big, medium, frequent = shares
    # Sorting and hashing a million rows: in memory rather than in files (this transaction only).
    session.execute(text("SET LOCAL jit = off"))
    session.execute(text("SET LOCAL work_mem = '64MB'"))
    per_currency = session.execute(
        text(f"SELECT currency, count(*) FROM {BUYERS} GROUP BY currency ORDER BY currency"),  # noqa: S608
        {"account": account_id},
    ).all()
    n = sum(count for _, count in per_currency)
    if not n:
        session.execute(text("DELETE FROM rfm_scores WHERE account_id = :a"), {"a": account_id})
        return 0, {"r": [], "f": [], "m": []}
    # Ascending orders only: a top share's boundary is a position counted from the other end, so
    # each metric needs one sort.
    r_cuts, f_cuts = session.execute(
        text(
            "SELECT percentile_disc(CAST(:r AS float8[])) WITHIN GROUP (ORDER BY last_at), "  # noqa: S608
            f"percentile_disc(CAST(:f AS float8[])) WITHIN GROUP (ORDER BY frequency) FROM {BUYERS}"
        ),
        {
            "account": account_id,
            "r": fractions(n, quintile_positions(n)),
            "f": fractions(n, [*quintile_positions(n), top(n, frequent)]),
        },
    ).one()
    f_cuts, f_top = f_cuts[:4], f_cuts[4]
    params: dict[str, Any] = {"account": account_id, "now": now, "f_top": f_top}
    m_whens, big_whens, medium_whens = [], [], []
    m_cut_points: dict[str, list[Any]] = {}
    for i, (currency, count) in enumerate(per_currency):
        *cuts, big_cut, medium_cut = session.execute(
            text(
                "SELECT percentile_disc(CAST(:m AS float8[])) WITHIN GROUP (ORDER BY monetary) "  # noqa: S608
                f"FROM {BUYERS} WHERE currency = :currency"
            ),
            {
                "account": account_id,
                "currency": currency,
                "m": fractions(count, [*quintile_positions(count), top(count, big), top(count, medium)]),
            },
        ).scalar_one()
        m_cut_points[currency] = cuts
        params[f"c{i}"] = currency
        params |= {f"m{i}_{k}": v for k, v in enumerate(cuts)}
        params |= {f"big{i}": big_cut, f"medium{i}": medium_cut}
        m_whens.append(
            f"WHEN :c{i} THEN " + " + ".join(["1"] + [f"(b.monetary > :m{i}_{k})::int" for k in range(4)])
        )
        big_whens.append(f"WHEN b.currency = :c{i} AND b.monetary >= :big{i} THEN 'big'")
        medium_whens.append(f"WHEN b.currency = :c{i} AND b.monetary >= :medium{i} THEN 'medium'")
    r_expr = " + ".join(["1"] + [f"(b.last_at > :r{k})::int" for k in range(4)])
    f_expr = " + ".join(["1"] + [f"(b.frequency > :f{k})::int" for k in range(4)])
    params |= {f"r{k}": v for k, v in enumerate(r_cuts)} | {f"f{k}": v for k, v in enumerate(f_cuts)}
    # The scheme as a 5×5 grid of names, cell (r, f) at (r − 1)·5 + f: one lookup per buyer.
    grid = {(r, f): rule["name"] for rule in scheme for r in _span(rule["r"]) for f in _span(rule["f"])}
    params["grid"] = [grid.get((r, f), prospects) for r in range(1, 6) for f in range(1, 6)]
    # OFFSET 0 keeps the scores computed once per row, not once per use in the outer expressions.
    scored = f"""
        SELECT contact_id, last_order_at, frequency, monetary, currency, r, f, m,
               CAST((CAST(:grid AS text[]))[(r - 1) * 5 + f] AS varchar(60)) AS segment,
               spender_tier, frequent_buyer
        FROM (SELECT b.contact_id, b.last_at AS last_order_at, b.frequency, b.monetary, b.currency,
                     {r_expr} AS r, {f_expr} AS f,
                     CASE b.currency {" ".join(m_whens)} END AS m,
                     CAST(CASE {" ".join(big_whens)} {" ".join(medium_whens)} ELSE 'low' END AS varchar(20))
                         AS spender_tier,
                     b.frequency >= :f_top AS frequent_buyer
              FROM {BUYERS} OFFSET 0) s"""  # noqa: S608
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
    new, changed = session.execute(
        text("SELECT count(*) FILTER (WHERE stored_id IS NULL), count(*) FROM rfm_changes")
    ).one()
    if changed:
        _write(session, account_id, now, n, new, changed)
    return int(n), {
        "r": [
            {"score": score, "last_order_from": _utc(low), "last_order_to": _utc(high)}
            for score, low, high in _ranges(session, account_id, "last_order_at", r_cuts)
        ],
        "f": [
            {"score": score, "orders_from": low, "orders_to": high}
            for score, low, high in _ranges(session, account_id, "orders", f_cuts)
        ],
        "m": [
            {"currency": currency, "score": score, "spent_from": amount(low), "spent_to": amount(high)}
            for currency, cuts in m_cut_points.items()
            for score, low, high in _ranges(session, account_id, "revenue", cuts, currency)
        ],
    }


def _write(session: Session, account_id: int, now: datetime, n: int, new: int, changed: int) -> None:
    """Apply the differences in `rfm_changes`: delete, update and insert only those rows."""
    columns = ", ".join(SCORED_COLUMNS)
    new_values = f"n.{', n.'.join(SCORED_COLUMNS)}"
    session.execute(text("ANALYZE rfm_changes"))
    session.execute(
        text(
            "DELETE FROM rfm_scores t USING rfm_changes c "
            "WHERE c.contact_id IS NULL AND t.contact_id = c.stored_id"
        )
    )
    if changed - new < n // 10:
        # A few changed rows: each found by its key rather than by hashing every stored row.
        session.execute(text("SET LOCAL enable_hashjoin = off"))
        session.execute(text("SET LOCAL enable_mergejoin = off"))
    session.execute(
        text(
            f"UPDATE rfm_scores t SET ({columns}, computed_at) = ({new_values}, :now) "  # noqa: S608
            "FROM rfm_changes n WHERE n.stored_id IS NOT NULL AND t.contact_id = n.stored_id "
            "AND n.contact_id IS NOT NULL"
        ),
        {"now": now},
    )
    session.execute(text("SET LOCAL enable_hashjoin = on"))
    session.execute(text("SET LOCAL enable_mergejoin = on"))
    session.execute(
        text(
            f"INSERT INTO rfm_scores (contact_id, account_id, {columns}, computed_at) "  # noqa: S608
            f"SELECT n.contact_id, :account, {new_values}, :now FROM rfm_changes n WHERE n.stored_id IS NULL"
        ),
        {"account": account_id, "now": now},
    )
    if new > n // 10:
        session.execute(text("ANALYZE rfm_scores"))  # many new rows: plans need their statistics


def _ranges(
    session: Session, account_id: int, column: str, cuts: list[Any], currency: str | None = None
) -> list[tuple[int, Any, Any]]:
    """Each non-empty score's lowest and highest value: score s holds the values in (c[s−1], c[s]].

    A cut point is a value of the data, so when c[s−1] < c[s] the highest value of score s is c[s]
    itself; the lowest is the first value above c[s−1], found by one probe of the buyers' index on
    the metric. No scan of the scores.
    """
    where = "account_id = :account" + (" AND currency = :currency" if currency else "")
    params = {"account": account_id, "currency": currency}

    def probe(aggregate: str, above: Any) -> Any:
        condition = f" AND {column} > :above" if above is not None else ""
        return session.execute(
            text(f"SELECT {aggregate}({column}) FROM buyers WHERE {where}{condition}"),  # noqa: S608
            params | {"above": above},
        ).scalar()

    bounds = [None, *cuts, None]
    ranges = []
    for score in range(1, 6):
        low, high = bounds[score - 1], bounds[score]
        if low is not None and high is not None and not low < high:
            continue  # equal cut points: no value scores here
        lowest = probe("min", low)
        if lowest is None:
            continue
        ranges.append((score, lowest, high if high is not None else probe("max", None)))
    return ranges


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()
