"""The admin's pages at scale: the Contacts page's server time, beside the cached statistics' call.

    python -m bench.admin_pages [--contacts 1000000] [--orders 2000000] [--days 90]
                                [--other-accounts 1000] [--requests 300] [--database-url postgresql://...]

Generates, with set-based SQL in PostgreSQL (a throwaway server unless a URL is given), one account
of classified contacts in every subscription status, their orders in two currencies and the buyers'
totals, and daily snapshots of its groups for `--days` days (plus a year of snapshots for
`--other-accounts` other accounts, so the trend query has to find its account's rows by index).
The statistics are computed once, as the refresh job keeps them. Then a user signs in through the
sign-in form and the Contacts page is requested through the real WSGI app (Flask's test client, no
network) on each subscription tab in turn: p50/p95 of the server time. In the same run the ceiling:
the JSON API's statistics call (the same cached numbers, no template, no trend) and `/ping`. The
trend query's plan is shown with EXPLAIN ANALYZE. Then the contact list page
(`/admin/contacts/list`) in its default order (latest interaction first) unfiltered and with each
single condition on an indexed field: `?group=engaged`, `?subscription=subscribed`, and a search
`?q=` by an email's beginning (a different one each request); each list query's plan is shown with
EXPLAIN ANALYZE. Target for every page: p95 ≤ 150 ms at 1,000,000 contacts.
"""

from __future__ import annotations

import argparse
import logging
import re
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from werkzeug.security import generate_password_hash

from bench.generator import run_generator
from bench.servers import throwaway_postgres
from integration.accounts import add_store, create_account, create_api_key
from integration.analytics.history import trend_start
from integration.analytics.stats import refresh_stats
from integration.contacts.lists import SORTS, list_contacts
from integration.store import get_engine, session_scope
from integration.store.db import upgrade
from integration.store.models import Platform, Role, User
from integration.store.types import utcnow
from integration.web.app import create_app

TARGET_P95_SECONDS = 0.150
# The contact list as measured: (name, query string, the list query the page makes for it).
LIST_PAGES: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("default order", "", {}),
    ("group=engaged", "group=engaged", {"condition": {"engagement": ["engaged"]}}),
    ("subscription=subscribed", "subscription=subscribed", {"condition": {"subscription": ["subscribed"]}}),
    ("q=<email beginning>", "q=c{prefix}", {"search": "c1234"}),
)
TABS = ("subscribed_unknown", "subscribed", "unknown")
EMAIL, PASSWORD = "owner@example.com", "bench password 0123456789"


def generate(url: str, contacts: int, orders: int, days: int, others: int) -> float:
    """Fill the store with set-based SQL; return the seconds it took."""
    started = time.perf_counter()
    with session_scope(url) as session:
        account = create_account(session, "Bench", "Europe/Warsaw")
        add_store(session, account.id, platform=Platform.API, name="Bench EUR", currency="EUR")
        add_store(session, account.id, platform=Platform.API, name="Bench PLN", currency="PLN")
        session.add(
            User(account_id=account.id, email=EMAIL, password_hash=generate_password_hash(PASSWORD),
                 role=Role.OWNER, locale="pl")
        )  # fmt: skip
    sql = [
        # Engaged contacts did something in the last 90 days, most unengaged ones earlier, a few never:
        # the contact list's default order (latest interaction first) has real times to sort.
        f"""INSERT INTO contacts (account_id, email, subscription_status, engagement_status,
                                 last_interaction_at, first_seen_at, tags, created_at, updated_at)
            SELECT 1, 'c' || g || '@example.com',
                   (ARRAY['subscribed','unknown','unsubscribed'])[1 + g % 3],
                   CASE WHEN g % 97 = 0 THEN 'blocked' WHEN g % 5 < 2 THEN 'engaged' ELSE 'unengaged' END,
                   CASE WHEN g % 97 = 0 OR g % 11 = 0 THEN NULL
                        WHEN g % 5 < 2 THEN now() - (g % 89) * interval '1 day' - g % 86400 * interval '1 s'
                        ELSE now() - (91 + g % 640) * interval '1 day' END,
                   now() - (g % 730) * interval '1 day', '[]', now(), now()
            FROM generate_series(1, {contacts}) g""",
        f"""INSERT INTO orders (store_id, contact_id, external_id, created_at, updated_at, cancelled_at,
                               financial_status, currency, total_price, ingested_at)
            SELECT 1 + (g % 4 = 0)::int, 1 + (g::bigint * 15485863) % {contacts}, 'o' || g, t, t,
                   CASE WHEN g % 50 = 0 THEN t END,
                   CASE WHEN g % 97 = 0 THEN 'voided' ELSE 'paid' END,
                   CASE WHEN g % 4 = 0 THEN 'PLN' ELSE 'EUR' END,
                   round((10 + random() * 190)::numeric, 2), now()
            FROM (SELECT g, now() - (random() * 730) * interval '1 day' AS t
                  FROM generate_series(1, {orders}) g) s""",
        f"""INSERT INTO accounts (name, time_zone, engagement_window_days, abandonment_delay_minutes,
                                 recovery_window_days, attribution_window_days, frequency_cap_days,
                                 sunset_days, created_at)
            SELECT 'Other ' || g, time_zone, engagement_window_days, abandonment_delay_minutes,
                   recovery_window_days, attribution_window_days, frequency_cap_days, sunset_days, now()
            FROM accounts, generate_series(1, {others}) g WHERE id = 1""",
        # The bench account's groups as the daily count saw them, drifting day by day.
        f"""INSERT INTO contact_snapshots (account_id, day, subscription_status, engagement_status,
                                          contacts, taken_at)
            SELECT 1, current_date - d, s.status, e.status,
                   greatest(0, n.n - d * (7 + e.k) + (d % 5) * 11), now() - d * interval '1 day'
            FROM generate_series(1, {days}) d,
                 (VALUES ('subscribed'), ('unknown'), ('unsubscribed')) s(status),
                 (VALUES ('engaged', 0), ('unengaged', 1), ('blocked', 2)) e(status, k),
                 LATERAL (SELECT count(*) AS n FROM contacts
                          WHERE account_id = 1 AND subscription_status = s.status
                            AND engagement_status = e.status) n""",
        """INSERT INTO contact_snapshots (account_id, day, subscription_status, engagement_status,
                                          contacts, taken_at)
            SELECT a.id, current_date - d, s.status, e.status, 100 + (a.id * 7 + d) % 900,
                   now() - d * interval '1 day'
            FROM accounts a, generate_series(0, 364) d,
                 (VALUES ('subscribed'), ('unknown'), ('unsubscribed')) s(status),
                 (VALUES ('engaged'), ('unengaged'), ('blocked')) e(status)
            WHERE a.id > 1""",
        "UPDATE accounts SET classified_at = now() WHERE id = 1",
        "ANALYZE",
    ]
    run_generator(url, sql)
    with session_scope(url) as session:
        refresh_stats(session, 1)  # what the refresh job keeps for the page and the API
    return time.perf_counter() - started


def timed(call: Callable[[], Any], requests: int) -> list[float]:
    """Call `requests` times (after a few warm-up calls); return each call's seconds."""
    for _ in range(5):
        call()
    durations = []
    for _ in range(requests):
        started = time.perf_counter()
        call()
        durations.append(time.perf_counter() - started)
    return durations


def p95(durations: list[float]) -> float:
    return statistics.quantiles(durations, n=20)[-1]


def describe(name: str, durations: list[float]) -> str:
    return (
        f"  {name}: p50 {statistics.median(durations) * 1000:.1f} ms, p95 {p95(durations) * 1000:.1f} ms, "
        f"max {max(durations) * 1000:.1f} ms over {len(durations)} requests"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=2_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--other-accounts", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument(
        "--list-requests", type=int, default=200, help="requests of each contact list page (at least 200)"
    )
    parser.add_argument("--database-url", help="an empty PostgreSQL database (default: a throwaway server)")
    args = parser.parse_args()
    if args.requests < 200 or args.list_requests < 200:
        parser.error("--requests, --list-requests: at least 200, for a p95 that means something")
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        work = Path(tmp)
        url = args.database_url or throwaway_postgres(work)
        url = make_url(url).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
        upgrade(url)
        generated = generate(url, args.contacts, args.orders, args.days, args.other_accounts)
        plan = trend_plan(url)
        app = create_app(
            {
                "database_url": url,
                "redis_url": None,
                "instance_path": work / "instance",
                "secret_key": "bench-secret-key-0123456789",
                "encryption_keys": (Fernet.generate_key().decode(),),
                # Measured around the API's per-key limit, not through it.
                "api_rate_limit_per_second": 100_000.0,
                "api_rate_limit_burst": 100_000,
            }
        )
        logging.getLogger().setLevel(logging.WARNING)  # one access line per request at INFO
        page = app.test_client()
        sign_in(page)
        with session_scope(url) as session:
            _, token = create_api_key(session, 1)
        headers = {"Authorization": f"Bearer {token}"}
        api = app.test_client()
        ticks = iter(range(10**9))

        def contacts_page() -> None:
            tab = TABS[next(ticks) % len(TABS)]
            answer = page.get(f"/admin/?subscription={tab}")
            if answer.status_code != 200 or b"data-count" not in answer.data:
                raise RuntimeError(f"the Contacts page answered {answer.status_code}")

        def stats_call() -> None:
            tab = TABS[next(ticks) % len(TABS)]
            if api.get(f"/api/v1/contacts/stats?subscription={tab}", headers=headers).status_code != 200:
                raise RuntimeError("the statistics call failed")

        def ping() -> None:
            api.get("/ping")

        ours = timed(contacts_page, args.requests)
        stats = timed(stats_call, args.requests)
        floor = timed(ping, args.requests)
        lists = {name: timed(list_page(page, query), args.list_requests) for name, query, _ in LIST_PAGES}
        list_plans = {name: list_plan(url, kwargs) for name, _, kwargs in LIST_PAGES}
    verdict = "meets" if p95(ours) <= TARGET_P95_SECONDS else "MISSES"
    print(
        f"admin pages: {args.contacts:,} contacts, {args.orders:,} orders, {args.days} days of snapshots "
        f"(+ a year of them for {args.other_accounts:,} other accounts), generated in {generated:.0f} s, "
        "PostgreSQL, through the WSGI app signed in"
    )
    print(describe("Contacts page (cards, 30-day change, trend chart and table)", ours))
    print(describe("ceiling: GET /api/v1/contacts/stats (the same cached numbers as JSON)", stats))
    print(describe("ceiling: GET /ping", floor))
    print(
        f"  page p95 ÷ stats call p95: {p95(ours) / p95(stats):.1f}; "
        f"target p95 ≤ {TARGET_P95_SECONDS * 1000:.0f} ms: {verdict}"
    )
    print("  trend query (EXPLAIN ANALYZE):")
    for line in plan:
        print(f"    {line}")
    print("contact list page (/admin/contacts/list, 50 rows, latest interaction first):")
    for name, durations in lists.items():
        verdict = "meets" if p95(durations) <= TARGET_P95_SECONDS else "MISSES"
        print(describe(name, durations) + f"; ÷ stats call p95: {p95(durations) / p95(stats):.1f}; {verdict}")
    for name, lines in list_plans.items():
        print(f"  list query, {name} (EXPLAIN ANALYZE):")
        for line in lines:
            print(f"    {line}")


def list_page(client: Any, query: str) -> Callable[[], None]:
    """A request of the contact list with `query` (a search takes a new email beginning each time)."""
    ticks = iter(range(10**9))

    def call() -> None:
        path = "/admin/contacts/list" + (
            "?" + query.format(prefix=1000 + next(ticks) % 9000) if query else ""
        )
        answer = client.get(path)
        if answer.status_code != 200 or b'id="contact-list"' not in answer.data:
            raise RuntimeError(f"{path} answered {answer.status_code}")

    return call


def list_plan(url: str, kwargs: dict[str, Any]) -> list[str]:
    """The plan and timing of the list query the page makes (captured as it runs, then explained)."""
    engine = get_engine(url)
    seen: list[tuple[str, Any]] = []

    def capture(
        _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool
    ) -> None:
        if "FROM contacts" in statement and "LIMIT" in statement:
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        with session_scope(url) as session:
            list_contacts(
                session,
                1,
                kwargs.get("condition"),
                search=kwargs.get("search"),
                sort=SORTS[0],
                limit=50,
                now=utcnow(),
            )
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    statement, parameters = seen[-1]
    with engine.connect() as connection:
        rows = connection.exec_driver_sql("EXPLAIN (ANALYZE, COSTS OFF) " + statement, parameters).all()
    return [row[0] for row in rows]


def sign_in(client: Any) -> None:
    """Sign in through the form, with its CSRF token, as a merchant does."""
    form = client.get("/admin/signin").get_data(as_text=True)
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', form
    )
    if found is None:
        raise RuntimeError("no CSRF token on the sign-in form")
    answer = client.post(
        "/admin/signin", data={"email": EMAIL, "password": PASSWORD, "csrf_token": found.group(1)}
    )
    if answer.status_code != 302:
        raise RuntimeError(f"sign-in answered {answer.status_code}")


def trend_plan(url: str) -> list[str]:
    """The plan and timing of the page's trend query (the `both` tab, 90 days)."""
    since = trend_start(90, utcnow())
    with session_scope(url) as session:
        rows = session.execute(
            text(
                "EXPLAIN (ANALYZE, COSTS OFF) SELECT day, engagement_status, sum(contacts)"
                " FROM contact_snapshots WHERE account_id = 1 AND day >= :since"
                " AND subscription_status IN ('subscribed', 'unknown')"
                " GROUP BY day, engagement_status ORDER BY day"
            ),
            {"since": since},
        ).all()
    return [row[0] for row in rows]


if __name__ == "__main__":
    main()
