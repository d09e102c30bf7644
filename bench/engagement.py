"""Engagement at scale: classification, statistics and an event's way to the numbers, beside DuckDB.

    python -m bench.engagement [--contacts 1000000] [--interactions 20000000] [--orders 2000000]
                               [--database-url postgresql://...] [--load-rate 200]

Generates the data in PostgreSQL with set-based SQL (a throwaway server unless a URL is given),
brings each contact's last counted interaction and blocking state up to date as ingestion keeps
them, then measures: the full reclassification after a time-frame change; 10,000 new interactions
through the inbox and one worker process (ingest and reclassification, with the worker's peak RSS);
the statistics refresh (the first, counting every contact; after 10,000 contacts changed; with
nothing changed); the stats query (p50/p95); and how soon posted interactions show in the stats
with a worker running (`freshness`: single events, also while webhooks arrive, and 10,000 at once).
In the same run DuckDB computes the same classification from the raw interactions and orders: the
ceiling, reported as our time ÷ DuckDB's.
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import psutil
import psycopg
from cryptography.fernet import Fernet
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bench import webhooks
from bench.generator import run_generator
from bench.servers import SERVING, migrated_store
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
from jobs.compute import RFM_LATER
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
    parser.add_argument("--load-rate", type=float, default=200.0, help="webhooks a second while measuring")
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
        first_refresh = timed_refresh(url)  # the first counts every contact (and the moves) afresh
        incremental, worker_rss = new_interactions(settings, args.contacts, work)

        touched = touched_reclassification(url, args.contacts)
        with session_scope(url) as session:
            noted = session.scalar(text("SELECT count(DISTINCT contact_id) FROM stats_dirty"))
        refresh = timed_refresh(url)
        unchanged = min(timed_refresh(url) for _ in range(5))
        durations = []
        for _ in range(200):
            started = time.perf_counter()
            with session_scope(url) as session:
                cached_stats(session, 1, SubscriptionFilter.SUBSCRIBED_UNKNOWN)
            durations.append(time.perf_counter() - started)
        fresh = freshness(settings, args.load_rate)
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
        f"  first statistics refresh (every contact counted afresh, and the {changed:,}+ contacts changed "
        f"since the snapshot): {first_refresh:.2f} s"
    )
    print(f"  statistics refresh after those 10,000 contacts changed ({noted:,} noted): {refresh:.2f} s")
    print(f"  statistics refresh with nothing changed: {unchanged * 1000:.0f} ms")
    print(f"  stats endpoint's query: p50 {p50 * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms")
    if not fresh["quiet"]:  # a data set this small has no unengaged contact an event could move
        print("  event posted to the API → visible in the stats: not measured (no unengaged contact)")
        return
    for name, label in (("quiet", "nothing else arriving"), ("loaded", "")):
        delays = fresh[name]
        if name == "loaded":
            label = (
                f"webhooks arriving at {fresh['load_rate']:.0f}/s, {fresh['load_errors']} refused, "
                f"measured after {fresh['warm_up_seconds']:.0f} s of them; an RFM recomputation "
                f"{'ran' if fresh['rfm_during'] else 'did not run'} while measuring"
            )
        q = statistics.quantiles(delays, n=20)[-1] if len(delays) > 1 else delays[0]
        print(
            f"  event posted to the API → visible in the stats (one worker running; {label}): "
            f"p50 {statistics.median(delays) * 1000:.0f} ms, p95 {q * 1000:.0f} ms, "
            f"max {max(delays) * 1000:.0f} ms ({len(delays)} events)"
        )
    print(
        f"  10,000 interactions posted through the API (ten calls) → all in the stats: "
        f"{fresh['bulk_seconds']:.2f} s after the last answer"
    )


def timed_refresh(url: str) -> float:
    """Refresh the statistics of account 1 once; return the seconds it took."""
    started = time.perf_counter()
    with session_scope(url) as session:
        refresh_stats(session, 1)
    return time.perf_counter() - started


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


def freshness(settings: Settings, load_rate: float) -> dict[str, Any]:
    """How soon the statistics show what was posted, with one worker running as in production.

    Single events for unengaged contacts, timed until the engaged count moves: first with nothing
    else arriving, then while Shopify order webhooks arrive at `load_rate` a second (signed, through
    a gunicorn web process; the same worker drains them). Then 10,000 interactions posted through
    the API in ten calls, timed from the last call's answer until the statistics count them all.
    """
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
    with session_scope(settings.database_url) as session:
        known = session.execute(
            text("SELECT 1 FROM stores WHERE shop_domain = :d"), {"d": webhooks.SHOP}
        ).first()
        if known is None:  # (a second run on the same database finds it)
            add_store(
                session, 1, platform=Platform.SHOPIFY, name="Load", currency="USD", shop_domain=webhooks.SHOP
            )
        _, token = create_api_key(session, 1)
    headers = {"Authorization": f"Bearer {token}"}
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "SECRET_KEY": settings.secret_key,
        "STOREPULSE_ENCRYPTION_KEY": settings.encryption_keys[0],
        "STOREPULSE_INSTANCE_PATH": str(settings.instance_path),
        "STOREPULSE_LOG_LEVEL": "WARNING",
        "SHOPIFY_API_KEY": "bench",
        "SHOPIFY_API_SECRET": webhooks.SECRET,
    }
    env.pop("REDIS_URL", None)
    port = 8000 + os.getpid() % 1000
    # One worker running, as in production: it drains, reclassifies and refreshes the statistics.
    worker = subprocess.Popen(
        [sys.executable, "-m", "integration.cli", "worker"], env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", *SERVING, "--bind", f"127.0.0.1:{port}", "--workers", "2",
         "integration.web.app:create_app()"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    run = uuid.uuid4().hex[:8]
    try:
        _wait_for_worker(settings)
        webhooks._wait_for_port(port)
        quiet = _delays(client, headers, settings, f"{run}-quiet", 20)
        stop, sent = threading.Event(), {"requests": 0, "errors": 0}
        payloads = webhooks.deliveries(int(load_rate * 90), seed=int(time.time()) % 1000)
        loader = threading.Thread(target=_load, args=(port, load_rate, payloads, stop, sent))
        load_started = utcnow()
        loader.start()
        # The drain under way, and the RFM recomputation the first orders ask for done (seconds at
        # a million contacts; then at most one in five minutes): the steady state.
        warm_up = _wait_for_rfm(settings, load_started)
        rfm_before = _rfm_computed_at(settings)
        started = time.perf_counter()
        loaded = _delays(client, headers, settings, f"{run}-loaded", 40)
        load_seconds = time.perf_counter() - started
        rfm_during = _rfm_computed_at(settings) != rfm_before
        stop.set()
        loader.join()
        bulk = _bulk_to_stats(client, headers, settings, run)
    finally:
        for process in (web, worker):
            process.terminate()
            process.wait(timeout=30)
    return {
        "quiet": quiet,
        "loaded": loaded,
        "load_rate": sent["requests"] / (load_seconds + warm_up),
        "warm_up_seconds": warm_up,
        "rfm_during": rfm_during,
        "load_errors": sent["errors"],
        "bulk_seconds": bulk,
    }


def _rfm_computed_at(settings: Settings) -> Any:
    with session_scope(settings.database_url) as session:
        return session.scalar(text("SELECT rfm_computed_at FROM accounts WHERE id = 1"))


def _wait_for_rfm(
    settings: Settings, load_started: datetime, at_least: float = 8.0, limit: float = 120.0
) -> float:
    """Wait at least `at_least` seconds, and until the RFM recomputation the load's orders asked
    for has run — or, when one ran less than five minutes ago, been put off until then; return
    the seconds waited."""
    started = time.perf_counter()
    later = RFM_LATER.key(1)
    while True:
        waited = time.perf_counter() - started
        computed = _rfm_computed_at(settings)
        done = computed is not None and computed >= load_started
        if waited >= at_least and (done or connection(settings).exists(later)):
            return waited
        if waited > limit:
            raise RuntimeError("the RFM recomputation the orders asked for did not run within two minutes")
        time.sleep(0.1)


def _wait_for_worker(settings: Settings) -> None:
    from rq import Worker

    deadline = time.monotonic() + 60
    while not Worker.count(connection=connection(settings)):
        if time.monotonic() > deadline:
            raise RuntimeError("the worker did not start within a minute")
        time.sleep(0.05)


def _load(
    port: int, rate: float, payloads: list[tuple[bytes, str]], stop: threading.Event, sent: dict[str, int]
) -> None:
    """Post these signed Shopify `orders/create` webhooks at `rate` a second until `stop` is set."""
    lock = threading.Lock()
    started = time.perf_counter()
    index = [0]

    def work() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while not stop.is_set():
            with lock:
                i = index[0]
                index[0] += 1
            if i >= len(payloads):
                return
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            body, signature = payloads[i]
            conn.request(
                "POST",
                "/webhooks/shopify",
                body=body,
                headers={
                    "Content-Type": "application/json",
                    "X-Shopify-Topic": "orders/create",
                    "X-Shopify-Hmac-Sha256": signature,
                    "X-Shopify-Shop-Domain": webhooks.SHOP,
                    "X-Shopify-Webhook-Id": f"load-{started}-{i}",
                    "X-Shopify-Triggered-At": "2026-11-23T10:00:00Z",
                },
            )
            response = conn.getresponse()
            response.read()
            with lock:
                sent["requests"] += 1
                sent["errors"] += response.status != 200

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _targets(settings: Settings, count: int) -> list[str]:
    """Unengaged, unblocked contacts that count in the subscribed-and-unknown statistics."""
    with session_scope(settings.database_url) as session:
        return list(
            session.execute(
                text(
                    "SELECT email FROM contacts WHERE engagement_status = 'unengaged'"
                    " AND subscription_status <> 'unsubscribed' AND email LIKE 'c%@example.com'"
                    " ORDER BY id DESC LIMIT :n"
                ),
                {"n": count},
            ).scalars()
        )


def _delays(client: Any, headers: dict[str, str], settings: Settings, run: str, count: int) -> list[float]:
    delays = []
    for n, email in enumerate(_targets(settings, count)):
        before = _engaged(client, headers)
        started = time.perf_counter()
        answer = client.post(
            "/api/v1/stores/1/events",
            headers=headers,
            json=[
                {
                    "event_id": f"delay-{run}-{n}",
                    "email": email,
                    "type": "email_click",
                    "occurred_at": utcnow().isoformat(),
                }
            ],
        )
        if answer.status_code >= 300:
            raise RuntimeError(
                f"the API refused the event: {answer.status_code} {answer.get_data(as_text=True)}"
            )
        while _engaged(client, headers) == before:
            if time.perf_counter() - started > 60:
                raise RuntimeError("the statistics did not follow the event within a minute")
            time.sleep(0.01)
        delays.append(time.perf_counter() - started)
    return delays


def _bulk_to_stats(client: Any, headers: dict[str, str], settings: Settings, run: str) -> float:
    """Post 10,000 clicks of as many unengaged contacts (ten calls of 1,000); return the seconds
    from the last call's answer until the engaged count has grown by all of them."""
    emails = _targets(settings, 10_000)
    before = _engaged(client, headers)
    at = utcnow().isoformat()
    for part in range(0, len(emails), 1000):
        answer = client.post(
            "/api/v1/stores/1/events",
            headers=headers,
            json=[
                {
                    "event_id": f"bulk-{run}-{part + i}",
                    "email": email,
                    "type": "email_click",
                    "occurred_at": at,
                }
                for i, email in enumerate(emails[part : part + 1000])
            ],
        )
        if answer.status_code >= 300:
            raise RuntimeError(f"the API refused the interactions: {answer.status_code}")
    answered = time.perf_counter()
    while _engaged(client, headers) < before + len(emails):
        if time.perf_counter() - answered > 120:
            raise RuntimeError("the statistics did not count the interactions within two minutes")
        time.sleep(0.01)
    return time.perf_counter() - answered


def _engaged(client: object, headers: dict[str, str]) -> int:
    stats = client.get("/api/v1/contacts/stats", headers=headers).get_json()  # type: ignore[attr-defined]
    return int(stats["groups"]["engaged"]["count"])


if __name__ == "__main__":
    main()
