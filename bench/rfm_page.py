"""The RFM page at scale: its server time beside the JSON API's RFM call, at a million contacts.

    python -m bench.rfm_page [--contacts 1000000] [--orders 2000000] [--requests 200]
                             [--database-url postgresql://...]

Generates the admin pages' data set (`bench.admin_pages.generate`: classified contacts, their
orders in EUR and PLN and the buyers' totals, set-based in PostgreSQL; a throwaway server unless
a URL is given), computes RFM once as its job does, and makes the predefined segments (marked
computed: the page links to them, it does not read their members). Then a user signs in through
the form and `/admin/rfm` is requested through the real WSGI app (Flask's test client, no
network): p50/p95 of the server time, beside the ceiling `GET /api/v1/rfm` (the same stored
scores, the same domain functions, as JSON) and `/ping`. The page's queries are shown with
EXPLAIN ANALYZE. Target: p95 ≤ 200 ms at 1,000,000 contacts.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from sqlalchemy import update
from sqlalchemy.orm import Session

from bench.admin_pages import clients, describe, explained, generate, p95, timed
from bench.servers import migrated_store
from integration.analytics import rfm
from integration.audiences import segments
from integration.store import session_scope
from integration.store.models import Segment
from integration.store.types import utcnow

TARGET_P95_SECONDS = 0.200


def prepare(url: str) -> float:
    """RFM computed as the job computes it, and the predefined segments made; return the seconds of RFM."""
    started = time.perf_counter()
    with session_scope(url) as session:
        rfm.compute(session, 1)
    took = time.perf_counter() - started
    with session_scope(url) as session:
        segments.ensure_predefined(session, 1)
        session.execute(update(Segment).where(Segment.account_id == 1).values(refreshed_at=utcnow()))
    return took


READS = ("rfm_scores", "rfm_summaries", "buyers", "contacts")  # the tables whose reads grow with the account


def plans(url: str) -> list[tuple[str, list[str]]]:
    """Each query the page makes that reads the scores or their stored sums, with its plan and timing."""

    def page(session: Session) -> None:
        rfm.overview(session, 1)
        rfm.grid(session, 1)

    return explained(url, lambda statement: any(f"FROM {t}" in statement for t in READS), page)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=2_000_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--database-url", help="an empty PostgreSQL database (default: a throwaway server)")
    args = parser.parse_args()
    if args.requests < 20:
        parser.error("--requests: at least 20, for a p95 that means something")
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        work = Path(tmp)
        url = migrated_store(args.database_url, work)
        generated = generate(url, args.contacts, args.orders, days=1, others=0)
        computed = prepare(url)
        page, api, headers = clients(url, work)

        def rfm_page() -> None:
            answer = page.get("/admin/rfm")
            if answer.status_code != 200 or b'id="rfm-grid"' not in answer.data:
                raise RuntimeError(f"the RFM page answered {answer.status_code}")

        def rfm_call() -> None:
            if api.get("/api/v1/rfm", headers=headers).status_code != 200:
                raise RuntimeError("the RFM call failed")

        def ping() -> None:
            api.get("/ping")

        ours = timed(rfm_page, args.requests)
        ceiling = timed(rfm_call, args.requests)
        floor = timed(ping, args.requests)
        query_plans = plans(url)
    verdict = "meets" if p95(ours) <= TARGET_P95_SECONDS else "MISSES"
    print(
        f"RFM page: {args.contacts:,} contacts, {args.orders:,} orders, generated in {generated:.0f} s, "
        f"RFM computed in {computed:.1f} s, PostgreSQL, through the WSGI app signed in"
    )
    print(describe("RFM page (grid, boundaries, segments, tiers, scheme form)", ours))
    print(describe("ceiling: GET /api/v1/rfm (the same stored scores as JSON)", ceiling))
    print(describe("ceiling: GET /ping", floor))
    print(
        f"  page p95 ÷ API call p95: {p95(ours) / p95(ceiling):.1f}; "
        f"target p95 ≤ {TARGET_P95_SECONDS * 1000:.0f} ms: {verdict}"
    )
    for statement, lines in query_plans:
        print(f"  {statement} (EXPLAIN ANALYZE):")
        for line in lines:
            print(f"    {line}")


if __name__ == "__main__":
    main()
