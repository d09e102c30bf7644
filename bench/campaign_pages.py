"""The Campaigns pages' server time beside the API calls that give the same numbers.

Generates, with set-based SQL in PostgreSQL (a throwaway server unless a URL is given), one account
with two stores (EUR, PLN), `--contacts` contacts, `--orders` orders over two years and
`--campaigns` campaigns, each sent to `--sends` contacts (half delivered and opened, a tenth clicked)
at times spread over the two years, so a share of the orders falls in each send's attribution window.
Then a user signs in through the form and the list (`/admin/campaigns`) and the largest campaign's
page (`/admin/campaigns/<id>`: results, sends and credited orders) are requested through the WSGI
app, beside `GET /api/v1/campaigns` and `GET /api/v1/campaigns/<id>/results` as ceilings. Target
for every page: p95 ≤ 150 ms at 1,000,000 contacts.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from werkzeug.security import generate_password_hash

from bench.admin_pages import EMAIL, PASSWORD, TARGET_P95_SECONDS, clients, describe, p95, timed
from bench.generator import run_generator
from bench.servers import migrated_store
from integration.accounts import add_store, create_account
from integration.store import session_scope
from integration.store.models import Platform, Role, User


def generate(url: str, contacts: int, orders: int, campaigns: int, sends: int) -> float:
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
    run_generator(
        url,
        [
            f"""INSERT INTO contacts (account_id, email, subscription_status, engagement_status,
                                     first_seen_at, tags, created_at, updated_at)
                SELECT 1, 'c' || g || '@example.com', 'subscribed', 'engaged',
                       now() - interval '800 days', '[]', now(), now()
                FROM generate_series(1, {contacts}) g""",
            f"""INSERT INTO orders (store_id, contact_id, external_id, name, created_at, updated_at,
                                   financial_status, currency, total_price, ingested_at)
                SELECT 1 + (g % 4 = 0)::int, 1 + (g::bigint * 15485863) % {contacts}, 'o' || g, '#' || g,
                       t, t, 'paid', CASE WHEN g % 4 = 0 THEN 'PLN' ELSE 'EUR' END,
                       round((10 + random() * 190)::numeric, 2), now()
                FROM (SELECT g, now() - (random() * 730) * interval '1 day' AS t
                      FROM generate_series(1, {orders}) g) s""",
            f"""INSERT INTO campaigns (account_id, external_id, channel, name, created_at)
                SELECT 1, 'bench-' || c, CASE WHEN c % 5 = 0 THEN 'letter' ELSE 'email' END,
                       'Campaign ' || c, now() - (730 - c * 700 / {campaigns}) * interval '1 day'
                FROM generate_series(1, {campaigns}) c""",
            f"""INSERT INTO campaign_sends (campaign_id, contact_id, status, sent_at, delivered_at,
                                           opened_at, clicked_at, frequency_cap_overridden, updated_at)
                SELECT c.id, 1 + (g::bigint * 7919 + c.id * 104729) % {contacts},
                       CASE WHEN g % 2 = 0 THEN 'delivered' ELSE 'sent' END,
                       c.created_at, CASE WHEN g % 2 = 0 THEN c.created_at + interval '1 hour' END,
                       CASE WHEN g % 2 = 0 THEN c.created_at + interval '3 hours' END,
                       CASE WHEN g % 10 = 0 THEN c.created_at + interval '4 hours' END, false, now()
                FROM campaigns c, generate_series(1, {sends}) g
                ON CONFLICT DO NOTHING""",
            "ANALYZE",
        ],
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=2_000_000)
    parser.add_argument("--campaigns", type=int, default=40)
    parser.add_argument("--sends", type=int, default=100_000, help="sends of each campaign")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--database-url", help="an empty PostgreSQL database (default: a throwaway server)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        work = Path(tmp)
        url = migrated_store(args.database_url, work)
        generated = generate(url, args.contacts, args.orders, args.campaigns, args.sends)
        page, api, headers = clients(url, work)
        campaign_id = args.campaigns  # the newest

        def get(client: object, path: str, **kwargs: object) -> None:
            answer = client.get(path, **kwargs)  # type: ignore[attr-defined]
            if answer.status_code != 200:
                raise RuntimeError(f"{path} answered {answer.status_code}")

        measured = {
            "Campaigns page (20 campaigns with results and median days)": timed(
                lambda: get(page, "/admin/campaigns"), args.requests
            ),
            "ceiling: GET /api/v1/campaigns (20 campaigns)": timed(
                lambda: get(api, "/api/v1/campaigns", headers=headers), args.requests
            ),
            "campaign page (results, 50 sends, 50 credited orders, versions)": timed(
                lambda: get(page, f"/admin/campaigns/{campaign_id}"), args.requests
            ),
            "ceiling: GET /api/v1/campaigns/<id>/results": timed(
                lambda: get(api, f"/api/v1/campaigns/{campaign_id}/results", headers=headers), args.requests
            ),
        }
    print(
        f"campaign pages: {args.contacts:,} contacts, {args.orders:,} orders, {args.campaigns} campaigns "
        f"of {args.sends:,} sends, generated in {generated:.0f} s, PostgreSQL, through the WSGI app signed in"
    )
    for name, durations in measured.items():
        verdict = (
            ""
            if name.startswith("ceiling")
            else ("; meets" if p95(durations) <= TARGET_P95_SECONDS else "; MISSES")
        )
        print(describe(name, durations) + verdict)


if __name__ == "__main__":
    main()
