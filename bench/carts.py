"""Cart detection at scale: abandonment and recovery over a million contacts, beside plain SQL.

    python -m bench.carts [--contacts 1000000] [--orders 1000000] [--checkouts 300000]
                          [--database-url postgresql://...]

Generates with set-based SQL (a throwaway PostgreSQL unless a URL is given): contacts; orders with
a line item each (half carrying a checkout token, half without, as POS or API orders do); and
checkouts with a line item each, two thirds still open past the abandonment delay and one third
completed. Then measures:

1. the first detection run, which finds every open checkout past its delay at once (the worst
   case: after an import), beside one plain `UPDATE … SET state = 'abandoned'` of the same rows
   run and rolled back in the same run (the ceiling; the ratio is ceiling ÷ ours);
2. a steady-state run of the periodic job (every minute) after 1,000 more checkouts went past
   their delay;
3. recovery on order arrival: 500 token-less orders of contacts with abandoned carts, ingested as
   one batch (the product rule within the recovery window).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from bench.generator import run_generator
from bench.servers import throwaway_postgres
from integration import ingest
from integration.commerce.carts import mark_abandoned
from integration.contract import LineItemRecord, OrderRecord
from integration.store import session_scope
from integration.store.db import upgrade
from integration.store.models import Checkout, CheckoutState, Platform, Store
from integration.store.types import utcnow

PRODUCTS = 500


def generate(url: str, contacts: int, orders: int, checkouts: int) -> float:
    """Fill the store with set-based SQL; return the seconds it took."""
    from integration.accounts import add_store, create_account

    started = time.perf_counter()
    with session_scope(url) as session:
        account = create_account(session, "Bench", "Europe/Prague")
        add_store(session, account.id, platform=Platform.API, name="Bench", currency="EUR")
    sql = [
        f"""INSERT INTO contacts (account_id, email, subscription_status, first_seen_at, tags,
                                 created_at, updated_at)
            SELECT 1, 'c' || g || '@example.com', 'subscribed', now() - interval '400 days', '[]',
                   now(), now()
            FROM generate_series(1, {contacts}) g""",
        f"""INSERT INTO orders (store_id, contact_id, external_id, created_at, updated_at, financial_status,
                               currency, total_price, checkout_token, ingested_at)
            SELECT 1, 1 + (g::bigint * 15485863) % {contacts}, 'o' || g, t, t, 'paid', 'EUR',
                   round((10 + random() * 190)::numeric, 2),
                   CASE WHEN g % 2 = 0 THEN 'ord-' || g END, now()
            FROM (SELECT g, now() - (random() * 365) * interval '1 day' AS t
                  FROM generate_series(1, {orders}) g) s""",
        f"""INSERT INTO order_line_items (order_id, product_id, title, quantity, unit_price)
            SELECT id, 'p' || (id % {PRODUCTS}), 'Product ' || (id % {PRODUCTS}), 1, total_price
            FROM orders""",
        f"""INSERT INTO checkouts (store_id, token, contact_id, email, created_at, updated_at, completed_at,
                                  platform_completed_at, currency, total_price, state, ingested_at)
            SELECT 1, 'k' || g, c, 'c' || c || '@example.com', t - interval '5 minutes', t,
                   CASE WHEN g % 3 = 0 THEN t + interval '3 minutes' END,
                   CASE WHEN g % 3 = 0 THEN t + interval '3 minutes' END, 'EUR', 50,
                   CASE WHEN g % 3 = 0 THEN 'completed' ELSE 'open' END, now()
            FROM (SELECT g, 1 + (g::bigint * 7919) % {contacts} AS c,
                         now() - interval '1 hour' - (random() * 30) * interval '1 day' AS t
                  FROM generate_series(1, {checkouts}) g) s""",
        f"""INSERT INTO checkout_line_items (checkout_id, product_id, title, quantity, unit_price)
            SELECT id, 'p' || (id % {PRODUCTS}), 'Product ' || (id % {PRODUCTS}), 1, 50 FROM checkouts""",
        "ANALYZE",
    ]
    run_generator(url, sql, totals_of=None)
    return time.perf_counter() - started


def ceiling(url: str) -> float:
    """The same abandonment as one plain UPDATE with no rules, rolled back; return its seconds."""
    with session_scope(url) as session:
        started = time.perf_counter()
        session.execute(
            text("""UPDATE checkouts
                    SET state = 'abandoned', abandoned_at = updated_at + interval '10 minutes'
                    WHERE state = 'open' AND completed_at IS NULL AND deleted_at IS NULL
                      AND updated_at < now() - interval '10 minutes'
                      AND (contact_id IS NOT NULL OR email IS NOT NULL)""")
        )
        elapsed = time.perf_counter() - started
        session.rollback()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--checkouts", type=int, default=300_000)
    parser.add_argument("--database-url", help="an empty PostgreSQL database (default: a throwaway server)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        url = args.database_url or throwaway_postgres(Path(tmp))
        url = make_url(url).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
        upgrade(url)
        generated = generate(url, args.contacts, args.orders, args.checkouts)
        plain = ceiling(url)

        started = time.perf_counter()
        with session_scope(url) as session:
            first = mark_abandoned(session)
        first_run = time.perf_counter() - started
        with session_scope(url) as session:
            states = dict(
                session.execute(select(Checkout.state, func.count()).group_by(Checkout.state)).all()
            )

        now = utcnow()
        with session_scope(url) as session:
            session.execute(
                text("""INSERT INTO checkouts (store_id, token, contact_id, email, created_at, updated_at,
                                              currency, total_price, state, ingested_at)
                        SELECT 1, 'new' || g, g * 13, 'c' || (g * 13) || '@example.com', :t, :t, 'EUR', 50,
                               'open', now() FROM generate_series(1, 1000) g"""),
                {"t": now - timedelta(minutes=11)},
            )
        started = time.perf_counter()
        with session_scope(url) as session:
            steady = mark_abandoned(session)
        steady_run = time.perf_counter() - started

        with session_scope(url) as session:
            carts = session.execute(
                select(Checkout.contact_id, Checkout.abandoned_at, Checkout.id)
                .where(Checkout.state == CheckoutState.ABANDONED)
                .order_by(Checkout.id)
                .limit(500)
            ).all()
        records = [
            OrderRecord(
                external_id=f"recover-{checkout_id}",
                created_at=abandoned_at + timedelta(days=1),
                updated_at=abandoned_at + timedelta(days=1),
                currency="EUR",
                total_price=Decimal(50),
                email=f"c{contact_id}@example.com",
                line_items=[
                    LineItemRecord(
                        title="x", quantity=1, unit_price=50, product_id=f"p{checkout_id % PRODUCTS}"
                    )  # type: ignore[arg-type]
                ],
            )
            for contact_id, abandoned_at, checkout_id in carts
        ]
        started = time.perf_counter()
        with session_scope(url) as session:
            store = session.get(Store, 1)
            assert store is not None  # noqa: S101 - generated above
            ingest.ingest_orders(session, store, records)
        recovery_run = time.perf_counter() - started
        with session_scope(url) as session:
            recovered = session.scalar(
                select(func.count()).select_from(Checkout).where(Checkout.state == CheckoutState.RECOVERED)
            )

    print(  # noqa: T201 - the benchmark's report
        f"carts: {args.contacts:,} contacts, {args.orders:,} orders, {args.checkouts:,} checkouts "
        f"(generated in {generated:.0f} s), PostgreSQL\n"
        f"  first detection run: {first:,} checkouts in {first_run:.2f} s "
        f"({ {k.value: v for k, v in states.items()} }); plain UPDATE ceiling {plain:.2f} s; "
        f"ratio ceiling / ours {plain / first_run:.2f}\n"
        f"  steady state (1,000 newly past the delay): {steady:,} in {steady_run * 1000:.0f} ms\n"
        f"  500 token-less orders recovering carts (one ingest batch): {recovery_run * 1000:.0f} ms, "
        f"{recovered:,} recovered"
    )


if __name__ == "__main__":
    main()
