"""Engagement at scale: classification, statistics and an event's way to the numbers, beside DuckDB.

    python -m bench.engagement [--contacts 1000000] [--interactions 20000000] [--orders 2000000]
                               [--database-url postgresql://...]

Generates the data in PostgreSQL with set-based SQL (a throwaway server unless a URL is given),
brings each contact's last counted interaction and blocking state up to date as ingestion keeps
them, then measures: the full reclassification after a time-frame change; 10,000 new interactions
through the inbox and one worker process (ingest and reclassification, with the worker's peak RSS);
the stats query (p50/p95); and the delay from an event posted to the API to its effect in the
stats. In the same run DuckDB computes the same classification from the raw interactions and
orders: the ceiling, reported as our time ÷ DuckDB's.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import psutil
import psycopg
from cryptography.fernet import Fernet
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bench.generator import run_generator
from bench.servers import migrated_store
from integration.accounts import add_store, create_account, create_api_key
from integration.analytics import history
from integration.analytics.stats import SubscriptionFilter, cached_stats, refresh_stats
from integration.contacts import engagement
from integration.ingest import inbox
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import Platform
from integration.store.redis import connection
from integration.store.types import utcnow
from integration.web.app import create_app
from jobs.ingest import process_inbox_job
from jobs.queues import INGEST, enqueue

WINDOW_DAYS = 180
NEW_WINDOW_DAYS = 90


def generate(url: str, contacts: int, interactions: int, orders: int) -> float:
    """Fill the store with set-based SQL; return the seconds it took."""
    started = time.perf_counter()
    with session_scope(url) as session:
        account = create_account(session, "Bench", "Europe/Prague")
        add_store(session, account.id, platform=Platform.API, name="Bench", currency="EUR")
    sql = [
        f"""INSERT INTO contacts (account_id, email, subscription_status, first_seen_at, tags,
                                 created_at, updated_at)
            SELECT 1, 'c' || g || '@example.com',
                   (ARRAY['subscribed','unknown','unsubscribed'])[1 + g % 3],
                   now() - (g % 730) * interval '1 day', '[]', now(), now()
            FROM generate_series(1, {contacts}) g""",
        f"""INSERT INTO interaction_events (account_id, contact_id, store_id, type, occurred_at,
                                           counted, source, attributes, ingested_at)
            SELECT 1, 1 + (g::bigint * 7919) % {contacts}, 1,
                   (ARRAY['email_open','email_click','product_view','add_to_cart','email_open'])[1 + g % 5],
                   now() - (random() * 730) * interval '1 day', g % 23 <> 0, 'bench', '{{}}', now()
            FROM generate_series(1, {interactions}) g""",
        f"""INSERT INTO interaction_events (account_id, contact_id, store_id, type, occurred_at,
                                           counted, source, attributes, ingested_at)
            SELECT 1, 1 + (g::bigint * 104729) % {contacts}, 1, 'hard_bounce',
                   now() - (random() * 730) * interval '1 day', false, 'bench', '{{}}', now()
            FROM generate_series(1, {contacts // 100}) g""",
        f"""INSERT INTO orders (store_id, contact_id, external_id, created_at, updated_at, cancelled_at,
                               financial_status, currency, total_price, ingested_at)
            SELECT 1, 1 + (g::bigint * 15485863) % {contacts}, 'o' || g, t, t,
                   CASE WHEN g % 50 = 0 THEN t END,
                   CASE WHEN g % 97 = 0 THEN 'voided' ELSE 'paid' END,
                   CASE WHEN g % 4 = 0 THEN 'USD' ELSE 'EUR' END,
                   round((10 + random() * 190)::numeric, 2), now()
            FROM (SELECT g, now() - (random() * 730) * interval '1 day' AS t
                  FROM generate_series(1, {orders}) g) s""",
        # What ingestion keeps current: each contact's newest counted interaction and its blocking.
        """UPDATE contacts c SET last_interaction_at = m.at, last_interaction_type = m.type
           FROM (SELECT DISTINCT ON (contact_id) contact_id, at, type FROM (
                   SELECT contact_id, occurred_at AS at, type FROM interaction_events WHERE counted
                   UNION ALL
                   SELECT contact_id, created_at, 'order_placed' FROM orders
                   WHERE cancelled_at IS NULL AND financial_status <> 'voided') x
                 ORDER BY contact_id, at DESC) m
           WHERE c.id = m.contact_id""",
        """UPDATE contacts c SET blocked_reason = 'hard_bounce', blocked_at = b.at
           FROM (SELECT contact_id, min(occurred_at) AS at FROM interaction_events WHERE type = 'hard_bounce'
                 GROUP BY contact_id) b WHERE c.id = b.contact_id""",
        "ANALYZE",
    ]
    run_generator(url, sql)
    return time.perf_counter() - started


def duckdb_ceiling(url: str, workdir: Path) -> float:
    """Classify from the raw interactions and orders in DuckDB; return the query's seconds."""
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    files = {}
    with psycopg.connect(conninfo) as conn:
        for name, query in {
            "contacts": "SELECT id, blocked_reason IS NOT NULL AS blocked FROM contacts",
            "events": "SELECT contact_id, occurred_at FROM interaction_events WHERE counted",
            "orders": "SELECT contact_id, created_at,"
            " cancelled_at IS NULL AND financial_status <> 'voided' AS placed FROM orders",
        }.items():
            path = workdir / f"{name}.csv"
            with (
                conn.cursor().copy(f"COPY ({query}) TO STDOUT WITH (FORMAT csv, HEADER true)") as copy,
                path.open("wb") as handle,
            ):
                for block in copy:
                    handle.write(block)
            files[name] = path
    db = duckdb.connect()
    for name, path in files.items():
        db.execute(f"CREATE TABLE {name} AS SELECT * FROM read_csv_auto('{path}')")
    started = time.perf_counter()
    db.execute(f"""
        CREATE TABLE classified AS
        WITH last AS (
            SELECT contact_id, max(ts) AS ts FROM (
                SELECT contact_id, occurred_at AS ts FROM events
                UNION ALL SELECT contact_id, created_at FROM orders WHERE placed) x
            GROUP BY contact_id)
        SELECT c.id, CASE WHEN c.blocked THEN 'blocked'
                          WHEN last.ts >= now() - INTERVAL {NEW_WINDOW_DAYS} DAY THEN 'engaged'
                          ELSE 'unengaged' END AS status
        FROM contacts c LEFT JOIN last ON last.contact_id = c.id""")
    elapsed = time.perf_counter() - started
    db.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--interactions", type=int, default=20_000_000)
    parser.add_argument("--orders", type=int, default=2_000_000)
    parser.add_argument("--database-url", help="an empty PostgreSQL database (default: a throwaway server)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        work = Path(tmp)
        url = migrated_store(args.database_url, work)
        generated = generate(url, args.contacts, args.interactions, args.orders)
        with session_scope(url) as session:
            engagement.classify(session, 1)  # first classification: every contact from "not yet"
        with session_scope(url) as session:
            # The day's snapshot: from here on the statistics carry a 30-day change, explained by
            # every transition logged since (the time-frame change below moves many contacts).
            history.take_snapshot(session, utcnow())
        with session_scope(url) as session:
            engagement.set_window(session, 1, NEW_WINDOW_DAYS)
        started = time.perf_counter()
        with session_scope(url) as session:
            changed = engagement.classify(session, 1)
        full = time.perf_counter() - started
        ceiling = duckdb_ceiling(url, work)

        settings = Settings(
            instance_path=work / "instance",
            database_url=url,
            redis_url=None,
            secret_key="bench-secret-key-0123456789",
            encryption_keys=(Fernet.generate_key().decode(),),
        )
        incremental, worker_rss = new_interactions(settings, args.contacts, work)

        touched = touched_reclassification(url, args.contacts)
        started = time.perf_counter()
        with session_scope(url) as session:
            refresh_stats(session, 1)
        refresh = time.perf_counter() - started
        durations = []
        for _ in range(200):
            started = time.perf_counter()
            with session_scope(url) as session:
                cached_stats(session, 1, SubscriptionFilter.SUBSCRIBED_UNKNOWN)
            durations.append(time.perf_counter() - started)
        delays = event_to_stats(settings)
    p50, p95 = statistics.median(durations), statistics.quantiles(durations, n=20)[-1]
    print(
        f"engagement: {args.contacts:,} contacts, {args.interactions:,} interactions, {args.orders:,} orders "
        f"(generated in {generated:.0f} s), PostgreSQL"
    )
    print(
        f"  full reclassification (time frame {WINDOW_DAYS} → {NEW_WINDOW_DAYS} days): {full:.2f} s, "
        f"{changed:,} contacts changed group"
    )
    print(
        f"  DuckDB from raw interactions (ceiling): {ceiling:.2f} s; "
        f"ratio ours / DuckDB: {full / ceiling:.1f}"
    )
    print(
        f"  10,000 new interactions through the inbox and one worker process: {incremental:.2f} s "
        f"(process start, validation, upserts, reclassification, statistics refresh), "
        f"worker peak RSS {worker_rss:.0f} MB"
    )
    print(f"  reclassification of the 10,000 contacts those interactions touched: {touched * 1000:.0f} ms")
    print(
        f"  statistics refresh (every filter, one pass; the 30-day change explained by the transitions "
        f"since the snapshot, {changed:,} of them from the time-frame change): {refresh:.2f} s"
    )
    print(f"  stats endpoint's query: p50 {p50 * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms")
    if not delays:  # a data set this small has no unengaged contact an event could move
        print("  event posted to the API → visible in the stats: not measured (no unengaged contact)")
        return
    q = statistics.quantiles(delays, n=20)[-1] if len(delays) > 1 else delays[0]
    print(
        f"  event posted to the API → visible in the stats (one worker running): "
        f"p50 {statistics.median(delays) * 1000:.0f} ms, p95 {q * 1000:.0f} ms, "
        f"max {max(delays) * 1000:.0f} ms"
    )


def new_interactions(settings: Settings, contacts: int, work: Path) -> tuple[float, float]:
    """Post 10,000 interactions as ten inbox deliveries and time one worker process draining them."""
    ids = []
    at = utcnow() - timedelta(minutes=5)
    with session_scope(settings.database_url) as session:
        for batch in range(10):
            records = [
                {
                    "event_id": f"inc-{batch}-{i}",
                    "email": f"c{1 + (batch * 1000 + i) * 37 % contacts}@example.com",
                    "type": "product_view",
                    "occurred_at": at.isoformat(),
                }
                for i in range(1000)
            ]
            received = inbox.receive(
                session,
                source="api",
                topic="events",
                delivery_id=f"bench-{batch}",
                body=json.dumps(records).encode(),
                store_id=1,
            )
            ids.append(received.id)
    connection(settings).ping()
    for delivery_id in ids:
        enqueue(settings, INGEST, process_inbox_job, [delivery_id])
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "SECRET_KEY": settings.secret_key,
        "STOREPULSE_ENCRYPTION_KEY": settings.encryption_keys[0],
        "STOREPULSE_INSTANCE_PATH": str(settings.instance_path),
    }
    env.pop("REDIS_URL", None)
    started = time.perf_counter()
    worker = subprocess.Popen(
        [sys.executable, "-m", "integration.cli", "worker", "--burst"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    peak = _peak_rss(worker)
    elapsed = time.perf_counter() - started
    if worker.returncode:
        raise RuntimeError(f"the worker failed with {worker.returncode}")
    return elapsed, peak


def _peak_rss(process: subprocess.Popen[bytes]) -> float:
    """Wait for a process, sampling its resident memory (with its children's) every 20 ms; return MB."""
    watched = psutil.Process(process.pid)
    peak = 0
    while process.poll() is None:
        try:
            members = [watched, *watched.children(recursive=True)]
            peak = max(peak, sum(m.memory_info().rss for m in members if m.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.02)
    return peak / 2**20


def touched_reclassification(url: str, contacts: int) -> float:
    """Reclassify 10,000 contacts whose last interaction ingest just moved forward; return the seconds."""
    ids = [1 + (i * 37) % contacts for i in range(10_000)]
    with session_scope(url) as session:
        session.execute(
            text("UPDATE contacts SET last_interaction_at = now(), last_interaction_type = 'product_view'"
                 " WHERE id = ANY(:ids) AND blocked_reason IS NULL"),
            {"ids": ids},
        )  # fmt: skip
    started = time.perf_counter()
    with session_scope(url) as session:
        engagement.classify(session, 1, ids)
    return time.perf_counter() - started


def event_to_stats(settings: Settings) -> list[float]:
    """Post single events for unengaged contacts and time until the engaged count moves."""
    app = create_app(
        {
            "database_url": settings.database_url,
            "redis_url": None,
            "instance_path": settings.instance_path,
            "secret_key": settings.secret_key,
            "encryption_keys": settings.encryption_keys,
            # The stats are polled every 10 ms, above the API's per-key limit: this measures the
            # delay, not the limit.
            "api_rate_limit_per_second": 100_000.0,
            "api_rate_limit_burst": 100_000,
        }
    )
    logging.getLogger().setLevel(logging.WARNING)  # the app logs every reclassification at INFO
    client = app.test_client()
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "SECRET_KEY": settings.secret_key,
        "STOREPULSE_ENCRYPTION_KEY": settings.encryption_keys[0],
        "STOREPULSE_INSTANCE_PATH": str(settings.instance_path),
        "STOREPULSE_LOG_LEVEL": "WARNING",
    }
    env.pop("REDIS_URL", None)
    # One worker running, as in production: it refreshes the statistics after each change.
    worker = subprocess.Popen(
        [sys.executable, "-m", "integration.cli", "worker"], env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        return _delays(client, settings)
    finally:
        worker.terminate()
        worker.wait(timeout=30)


def _delays(client: Any, settings: Settings) -> list[float]:
    with session_scope(settings.database_url) as session:
        _, token = create_api_key(session, 1)
        targets = (
            session.execute(
                text(
                    "SELECT email FROM contacts WHERE engagement_status = 'unengaged'"
                    " AND subscription_status <> 'unsubscribed' ORDER BY id LIMIT 20"
                )
            )
            .scalars()
            .all()
        )
    headers = {"Authorization": f"Bearer {token}"}
    delays = []
    for n, email in enumerate(targets):
        before = _engaged(client, headers)
        started = time.perf_counter()
        client.post(
            "/api/v1/stores/1/events",
            headers=headers,
            json=[
                {
                    "event_id": f"delay-{n}",
                    "email": email,
                    "type": "email_click",
                    "occurred_at": utcnow().isoformat(),
                }
            ],
        )
        while _engaged(client, headers) == before:
            if time.perf_counter() - started > 60:
                raise RuntimeError("the statistics did not follow the event within a minute")
            time.sleep(0.01)
        delays.append(time.perf_counter() - started)
    return delays


def _engaged(client: object, headers: dict[str, str]) -> int:
    stats = client.get("/api/v1/contacts/stats", headers=headers).get_json()  # type: ignore[attr-defined]
    return int(stats["groups"]["engaged"]["count"])


if __name__ == "__main__":
    main()
