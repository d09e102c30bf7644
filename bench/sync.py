"""Sync back at 100,000 contacts against stand-ins that enforce the vendors' documented limits.

    python -m bench.sync [--contacts 100000] [--database-url postgresql://...] [--redis-url redis://...]

Generates subscribed contacts linked to a Shopify store (a throwaway PostgreSQL unless a URL is
given; the vendors' limits per API key are kept in Redis, as the worker keeps them: a throwaway
Redis unless a URL is given), saves a segment of them, and syncs it to three stand-in servers
(bench/standins.py, each in its own process): a Mailchimp audience, a Klaviyo list and Shopify
customer tags. For each:

1. the first sync of everyone, timed beside the ceiling the stand-in's limits allow in the same
   run (ratio = ceiling ÷ ours), and a count of what arrived (nothing lost);
2. a second sync, which must send nothing;
3. after 1% of the contacts changed (renamed: audience syncs; for Shopify, 0.5% left the
   segment, which goes out as single tag calls paced by the cost bucket), the sync that sends
   exactly them.

Ceilings: Mailchimp — the service time of every call made, spread over its 10 connections;
Klaviyo — the best client measured in the same run against a fresh stand-in (every profile
already encoded in memory, the ten jobs posted at once, the oldest unfinished job polled ten times
a second); Shopify — the bulk mutation's processing time, and for single calls the points they
cost beyond a full bucket at the Standard plan's 100 points a second.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests
from cryptography.fernet import Fernet
from redis import Redis
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bench import standins
from bench.servers import throwaway_postgres, throwaway_redis
from connectors.registry import opener
from connectors.shopify.client import ShopifyClient
from connectors.shopify.tags import ShopifyTags
from integration import contract
from integration.accounts import add_store, create_account
from integration.audiences import destinations, segments, sync
from integration.settings import Settings
from integration.store import session_scope
from integration.store.db import upgrade
from integration.store.models import DestinationKind, Platform, SyncMode

SHOP = "bench-shop.myshopify.com"


def generate(url: str, contacts: int) -> None:
    """One account, one Shopify store, `contacts` subscribed contacts each linked to a customer."""
    with session_scope(url) as session:
        account = create_account(session, "Bench")
        add_store(
            session, account.id, platform=Platform.SHOPIFY, name="Bench", currency="USD", shop_domain=SHOP
        )
    with session_scope(url) as session:
        session.execute(
            text(f"""INSERT INTO contacts (account_id, email, first_name, last_name, subscription_status,
                                           first_seen_at, tags, created_at, updated_at)
                     SELECT 1, 'c' || g || '@example.com', 'Name' || g, 'Bench', 'subscribed', now(),
                            '[]'::jsonb, now(), now()
                     FROM generate_series(1, {contacts}) g""")
        )
        session.execute(
            text("""INSERT INTO store_customers (store_id, contact_id, external_id, linked_at)
                    SELECT 1, id, (100000000 + id)::text, now() FROM contacts""")
        )
        session.execute(text("ANALYZE"))


def stats(base: str) -> dict[str, Any]:
    answer: dict[str, Any] = requests.get(f"{base}/stats", timeout=30).json()
    return answer


def timed(url: str, sync_id: int, factory: Any) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    run_id = sync.run(url, sync_id, factory)
    seconds = time.perf_counter() - started
    assert run_id is not None  # noqa: S101 - the benchmark's own sync
    with session_scope(url) as session:
        return seconds, destinations.runs(session, sync_id, limit=1)[0]


def klaviyo_best(base: str, url: str) -> float:
    """The best client for the same import: every profile already encoded in memory, ten jobs posted
    at once (the burst allows ten), then the oldest unfinished job polled at most ten times a second.
    Timed against a fresh stand-in; this is the Klaviyo ceiling.
    """
    with session_scope(url) as session:
        emails = session.scalars(
            text("SELECT email FROM contacts WHERE subscription_status = 'subscribed' ORDER BY id")
        ).all()
    bodies = []
    for start in range(0, len(emails), 10_000):
        profiles = [{"type": "profile", "attributes": {"email": e}} for e in emails[start : start + 10_000]]
        document = {
            "data": {
                "type": "profile-bulk-import-job",
                "attributes": {"profiles": {"data": profiles}},
                "relationships": {"lists": {"data": [{"type": "list", "id": "L1"}]}},
            }
        }
        bodies.append(json.dumps(document).encode())
    http = requests.Session()
    headers = {"Content-Type": "application/vnd.api+json", "revision": "2026-07-15"}

    def post(body: bytes) -> str:
        answer = http.post(f"{base}/api/profile-bulk-import-jobs", data=body, headers=headers, timeout=60)
        job_id: str = answer.json()["data"]["id"]
        return job_id

    started = time.perf_counter()
    with ThreadPoolExecutor(10) as pool:
        pending = list(pool.map(post, bodies))
    while pending:
        answer = http.get(f"{base}/api/profile-bulk-import-jobs/{pending[0]}", timeout=60).json()
        if answer["data"]["attributes"]["status"] == "complete":
            pending.pop(0)
        time.sleep(0.1)  # ten reads a second, the endpoint's burst
    return time.perf_counter() - started


def line(name: str, seconds: float, record: dict[str, Any], ceiling: float | None = None) -> str:
    sent = record["adds"] + record["updates"] + record["removes"]
    counts = f"{record['adds']:,} adds, {record['updates']:,} updates, {record['removes']:,} removes"
    text_ = f"  {name}: {seconds:6.1f} s, sent {sent:,} ({counts}), failed {record['failed']}"
    if ceiling is not None:
        text_ += f"; ceiling {ceiling:.1f} s, ratio {ceiling / seconds:.2f}, {sent / seconds:,.0f} contacts/s"
    return text_


def main() -> None:  # noqa: PLR0915 - a linear script
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--database-url")
    parser.add_argument("--redis-url")
    args = parser.parse_args()
    n = args.contacts
    report: list[str] = []
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        url = args.database_url or throwaway_postgres(Path(tmp))
        url = make_url(url).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
        upgrade(url)
        generate(url, n)
        settings = Settings(
            instance_path=Path(tmp) / "instance",
            database_url=url,
            redis_url=None,
            secret_key="bench-secret-key-0123456789",
            encryption_keys=(Fernet.generate_key().decode(),),
        )
        bases = {name: standins.start(name)[0] for name in ("mailchimp", "klaviyo", "shopify")}
        with session_scope(url) as session:
            segment = segments.save(
                session, 1, name="Subscribers", raw_filter={"subscription": ["subscribed"]}
            )
            ids = {}
            for kind, config, credentials in (
                (
                    DestinationKind.MAILCHIMP,
                    {"list_id": "L1", "base_url": bases["mailchimp"]},
                    {"api_key": "k-us1"},
                ),
                (
                    DestinationKind.KLAVIYO,
                    {"list_id": "L1", "base_url": bases["klaviyo"]},
                    {"api_key": "pk_bench"},
                ),
                (DestinationKind.SHOPIFY, {"store_id": 1}, {}),
            ):
                made = destinations.create_destination(
                    session,
                    1,
                    settings.encryption_keys,
                    kind=kind,
                    name=kind.value,
                    config=config,
                    credentials=credentials,
                )
                mode = SyncMode.TAGS if kind == DestinationKind.SHOPIFY else SyncMode.AUDIENCE
                ids[kind] = destinations.create_sync(
                    session,
                    1,
                    segment_id=segment.id,
                    destination_id=made.id,
                    mode=mode,
                    tag_prefix="storepulse:",
                    start=True,
                ).id
        redis_url, redis_process = args.redis_url, None
        if redis_url is None:
            redis_url, redis_process = throwaway_redis(Path(tmp))
        audience = opener(settings, redis=Redis.from_url(redis_url))

        def shopify(target: contract.Target) -> ShopifyTags:
            client = ShopifyClient(SHOP, "shpat_bench", "2026-07")
            client.url = f"{bases['shopify']}/graphql.json"  # the stand-in instead of the shop
            return ShopifyTags(client, target.config["tag"])

        report.append(f"sync: {n:,} subscribed contacts, PostgreSQL, stand-ins in their own processes")
        # 1. First syncs.
        before = stats(bases["mailchimp"])["counters"].get("service_seconds", 0)
        seconds, record = timed(url, ids[DestinationKind.MAILCHIMP], audience)
        mailchimp = stats(bases["mailchimp"])
        ceiling = (mailchimp["counters"]["service_seconds"] - before) / standins.MAILCHIMP_CONNECTIONS
        report.append(line("Mailchimp first sync", seconds, record, ceiling))
        report.append(
            f"    arrived: {mailchimp['subscribed']:,} subscribed, {mailchimp['tagged']:,} tagged; "
            f"peak {mailchimp['counters']['peak_connections']:.0f} connections, "
            f"{mailchimp['counters'].get('refused_429', 0):.0f} refused"
        )
        seconds, record = timed(url, ids[DestinationKind.KLAVIYO], audience)
        best = klaviyo_best(standins.start("klaviyo")[0], url)
        report.append(line("Klaviyo first sync", seconds, record, best))
        time.sleep(max(0.0, standins.KLAVIYO_JOB_BASE_SECONDS))
        klaviyo = stats(bases["klaviyo"])
        report.append(
            f"    arrived: {klaviyo['listed']:,} in the list from {klaviyo['jobs']} jobs, "
            f"{klaviyo['counters'].get('refused_429', 0):.0f} refused by the rate windows"
        )
        seconds, record = timed(url, ids[DestinationKind.SHOPIFY], shopify)
        shop = stats(bases["shopify"])
        report.append(line("Shopify tags first sync (bulk)", seconds, record, sum(shop["bulk_seconds"])))
        throttled = shop["counters"].get("throttled", 0)
        report.append(f"    arrived: {shop['tagged']:,} customers tagged, {throttled:.0f} throttled")

        # 2. Nothing changed: nothing sent.
        for kind, factory in (
            (DestinationKind.MAILCHIMP, audience),
            (DestinationKind.KLAVIYO, audience),
            (DestinationKind.SHOPIFY, shopify),
        ):
            seconds, record = timed(url, ids[kind], factory)
            report.append(line(f"{kind.value} second sync", seconds, record))

        # 3. 1% renamed: exactly they go to the audiences; Shopify's tag does not depend on names.
        with session_scope(url) as session:
            session.execute(text("UPDATE contacts SET first_name = 'Renamed' || id WHERE id % 100 = 0"))
        seconds, record = timed(url, ids[DestinationKind.MAILCHIMP], audience)
        report.append(line("Mailchimp after 1% renamed", seconds, record))
        report.append(f"    arrived: {stats(bases['mailchimp'])['renamed']:,} renamed members")
        seconds, record = timed(url, ids[DestinationKind.KLAVIYO], audience)
        report.append(line("Klaviyo after 1% renamed", seconds, record))
        seconds, record = timed(url, ids[DestinationKind.SHOPIFY], shopify)
        report.append(line("Shopify after 1% renamed", seconds, record))

        # 4. 0.5% leave the segment: single paced tag calls against a full bucket.
        time.sleep(standins.SHOPIFY_BUCKET / standins.SHOPIFY_RESTORE)  # let the bucket fill
        leaving = n // 200
        with session_scope(url) as session:
            session.execute(
                text(
                    "UPDATE contacts SET subscription_status = 'unknown' WHERE id % 200 = 1 AND id <= :last"
                ),
                {"last": leaving * 200},
            )
        seconds, record = timed(url, ids[DestinationKind.SHOPIFY], shopify)
        ceiling = max(
            0.0,
            (record["removes"] * standins.SHOPIFY_TAG_COST - standins.SHOPIFY_BUCKET)
            / standins.SHOPIFY_RESTORE,
        )
        report.append(line("Shopify after 0.5% left (single calls)", seconds, record, ceiling))
        shop = stats(bases["shopify"])
        throttled = shop["counters"].get("throttled", 0)
        report.append(f"    arrived: {shop['tagged']:,} customers still tagged, {throttled:.0f} throttled")
        if redis_process is not None:
            redis_process.terminate()
            redis_process.wait()
    print("\n".join(report))  # noqa: T201 - the benchmark's report


if __name__ == "__main__":
    main()
