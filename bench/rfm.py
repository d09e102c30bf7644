"""RFM and the leaderboard at scale, a million contacts, beside plain SQL over the orders.

    python -m bench.rfm [--contacts 1000000] [--orders 2000000] [--database-url postgresql://...]

Generates contacts and orders as the engagement benchmark does (a throwaway PostgreSQL unless a
URL is given), then:

1. times `rfm.compute` (cut points of the three metrics from the per-buyer rows ingestion keeps,
   the grid, the tiers, writing the rows that differ, and the score boundaries): the first time,
   twice with nothing changed, and after 1% more orders (their buyers' rows brought up to date as
   ingestion does, outside the timing), beside one plain query computing NTILE(5) quintiles of
   the same per-buyer rows without writing anything (the ceiling; the ratio is ceiling ÷ ours)
   and, for reference, the same quintiles aggregated from the raw orders;
2. builds the leaderboard's spend per contact and period from every order (what a first import
   does; afterwards each batch of orders updates only its contacts; only the periods a time frame
   can name are kept), then asks for the top 50 by every metric and every time frame, 10 times
   each (p50/p95), beside a plain GROUP BY over the orders of last year ranked by total spent
   (the ceiling).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from bench.engagement import generate
from bench.servers import throwaway_postgres
from integration.analytics import leaderboard, period_spend, rfm
from integration.analytics.periods import TimeFrame
from integration.commerce import totals
from integration.store import session_scope
from integration.store.db import upgrade

GROUP_BY = """
SELECT contact_id, count(*) AS n, sum(total_price) AS spent FROM orders
WHERE created_at >= date_trunc('year', now()) - interval '1 year' AND created_at < date_trunc('year', now())
  AND cancelled_at IS NULL AND financial_status <> 'voided'
GROUP BY contact_id ORDER BY spent DESC LIMIT 50
"""

# The ceiling: NTILE quintiles of the same per-buyer rows RFM reads, nothing written.
CEILING = """
SELECT contact_id,
       ntile(5) OVER (ORDER BY last_order_at) AS r,
       ntile(5) OVER (ORDER BY orders) AS f,
       ntile(5) OVER (PARTITION BY currency ORDER BY revenue) AS m
FROM buyers WHERE account_id = 1
"""

# For reference: the same quintiles aggregated from the raw orders.
FROM_ORDERS = """
SELECT contact_id,
       ntile(5) OVER (ORDER BY last_at) AS r,
       ntile(5) OVER (ORDER BY n) AS f,
       ntile(5) OVER (PARTITION BY currency ORDER BY spent) AS m
FROM (SELECT contact_id, max(created_at) AS last_at, count(*) AS n, min(currency) AS currency,
             sum(total_price) AS spent
      FROM orders WHERE cancelled_at IS NULL AND financial_status <> 'voided'
      GROUP BY contact_id) per
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=2_000_000)
    parser.add_argument("--database-url", help="an empty PostgreSQL database (default: a throwaway server)")
    parser.add_argument("--skip-leaderboard", action="store_true", help="measure RFM only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        url = args.database_url or throwaway_postgres(Path(tmp))
        url = make_url(url).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
        upgrade(url)
        generated = generate(url, args.contacts, 0, args.orders)
        runs = []
        for _ in range(3):  # the first writes every buyer's row; then nothing changed
            started = time.perf_counter()
            with session_scope(url) as session:
                buyers = rfm.compute(session, 1)
            runs.append(time.perf_counter() - started)
        with session_scope(url) as session:  # a day of trade: 1% more orders, for existing buyers
            session.execute(
                text(
                    f"""INSERT INTO orders (store_id, contact_id, external_id, created_at, updated_at,
                                           financial_status, currency, total_price, ingested_at)
                        SELECT 1, 1 + (g::bigint * 7919) % {args.contacts}, 'new' || g, now(), now(),
                               'paid', 'EUR', 42, now()
                        FROM generate_series(1, {args.orders // 100}) g"""
                )
            )
            # Ingestion keeps each buyer's totals current as the orders arrive: not part of RFM's time.
            buyers_of_the_day = session.scalars(
                text("SELECT DISTINCT contact_id FROM orders WHERE external_id LIKE 'new%'")
            )
            totals.refresh(session, 1, list(buyers_of_the_day))
        started = time.perf_counter()
        with session_scope(url) as session:
            rfm.compute(session, 1)
        after_orders = time.perf_counter() - started
        started = time.perf_counter()
        with session_scope(url) as session:
            session.execute(text(f"SELECT count(*), sum(r), sum(f), sum(m) FROM ({CEILING}) q"))
        ceiling = time.perf_counter() - started
        started = time.perf_counter()
        with session_scope(url) as session:
            session.execute(text(f"SELECT count(*), sum(r), sum(f), sum(m) FROM ({FROM_ORDERS}) q"))
        from_orders = time.perf_counter() - started
        with session_scope(url) as session:
            segments = rfm.overview(session, 1)["segments"]
        ours = after_orders
        listed = ", ".join(f"{s['name']} {s['contacts']:,}" for s in segments)
        print(  # noqa: T201 - the benchmark's report, printed as it goes
            f"rfm: {args.contacts:,} contacts, {args.orders:,} orders (generated in {generated:.0f} s), "
            f"PostgreSQL\n"
            f"  rfm.compute for {buyers:,} buyers: first (every row written) {runs[0]:.2f} s; "
            f"again, nothing changed: {runs[1]:.2f}, {runs[2]:.2f} s; "
            f"after 1% more orders: {after_orders:.2f} s\n"
            f"  NTILE quintiles of the same per-buyer rows, nothing written (ceiling): {ceiling:.2f} s; "
            f"ratio ceiling / ours {ceiling / ours:.2f} (ours: the recomputation after new orders); "
            f"NTILE quintiles aggregated from the raw orders: {from_orders:.2f} s\n"
            f"  segments: {listed}",
            flush=True,
        )
        if args.skip_leaderboard:
            return
        started = time.perf_counter()
        with session_scope(url) as session:
            period_spend.rebuild(session, 1)
        built = time.perf_counter() - started
        answers = []
        for rank_by in leaderboard.RankBy:
            for frame in TimeFrame:
                for _ in range(10):
                    started = time.perf_counter()
                    with session_scope(url) as session:
                        leaderboard.leaderboard(session, 1, rank_by=rank_by, time_frame=frame, limit=50)
                    answers.append(time.perf_counter() - started)
        started = time.perf_counter()
        with session_scope(url) as session:
            session.execute(text(GROUP_BY))
        group_by = time.perf_counter() - started
    print(  # noqa: T201 - the benchmark's report
        f"  leaderboard spend per contact and period built from every order: {built:.1f} s\n"
        f"  leaderboard top 50, 3 metrics × 7 time frames × 10: "
        f"p50 {statistics.median(answers) * 1000:.1f} ms, "
        f"p95 {statistics.quantiles(answers, n=20)[-1] * 1000:.1f} ms; "
        f"plain GROUP BY over last year's orders (ceiling): {group_by * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
