"""Many workers on one filled inbox: throughput, and no delivery processed twice or lost.

    python -m bench.scaleout [--deliveries 10000] [--workers 1,2,4] [--with-start]
                             [--database-url ...] [--redis-url ...]

For each layout — one busy Shopify store, and the same deliveries spread over 50 stores — and each
worker count, the inbox is emptied and filled with the same deliveries through `inbox.receive`
(the receivers' own call): signed-shape `orders/create` bodies, each a distinct order (two orders a
customer), and for one order in ten an `orders/updated` with a later `updated_at` and another
total, half of them stored *before* their creation (deliveries arrive out of order). Then the
work is queued in one of two ways to N worker processes:

- *drain*: one drain request per store, as arriving deliveries ask (one drain runs per store at a
  time; different stores drain on different workers);
- *sweep*: every delivery in jobs of 200, as the sweeper queues deliveries stored while Redis was
  away (`inbox.stale_pending`, each store's together): every worker takes part in the same store
  at once, competing for its rows and contacts.

By default the workers are started first (`storepulse worker`, as they run in production) and
the clock runs from queueing the work, once every worker waits for a job, until the inbox holds no
pending delivery, the queues are empty and every worker is idle again (the follow-up jobs — the
statistics, RFM — included). With `--with-start` the workers are `--burst` processes started after
the work is queued, and the clock runs from their start to the last one's exit: the start of the
processes (about a second of CPU each, importing the package) included. Then the store is checked
against what was sent:

- *lost*: deliveries not processed, orders missing, orders not at their latest version's total,
  contacts' order counts or period purchases short of the orders;
- *twice*: deliveries tried more than once, line items beyond each order's own, order counts or
  period purchases beyond the orders.

Both must be 0 (the benchmark exits 1 otherwise). On a machine with few cores the aim is no
collapse: 4 workers at least as fast as 1. PostgreSQL and Redis are throwaway servers unless given.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from decimal import Decimal
from typing import Any

from cryptography.fernet import Fernet
from sqlalchemy import func, select, text

from bench.servers import given_or_throwaway
from bench.webhooks import SAMPLE
from integration.accounts import add_store, create_account
from integration.settings import Settings
from integration.store import session_scope
from integration.store.db import dispose_engines, upgrade
from integration.store.models import (
    Base,
    ContactPeriodSpend,
    ContactTotals,
    InboxDelivery,
    InboxStatus,
    Order,
    OrderLineItem,
    Platform,
)

UPDATED_SHARE = 10  # one order in ten is updated


Arrival = tuple[int, str, str, bytes]  # store index, topic, delivery id, body


def planned(count: int, stores: int) -> tuple[list[Arrival], dict[tuple[int, str], Decimal]]:
    """The deliveries in arrival order — (store index, topic, delivery id, body) — and each
    order's total in its latest version, by (store index, order id)."""
    sample = json.loads(SAMPLE.read_text())
    buyers = max(count // 2, 1)
    arrivals: list[Arrival] = []
    latest: dict[tuple[int, str], Decimal] = {}
    early: list[Arrival] = []
    for i in range(count):
        store = i % stores
        order = dict(sample)
        order["id"] = 9_000_000_000 + i
        order["name"] = f"#{i}"
        order["order_number"] = i
        order["checkout_token"] = f"scaleout-{i}"
        order["customer"] = {
            **sample["customer"],
            "id": 7_000_000_000 + i % buyers,
            "email": f"buyer{i % buyers}@example.com",
        }
        arrivals.append((store, "orders/create", f"create-{i}", json.dumps(order).encode()))
        latest[(store, str(order["id"]))] = Decimal(order["total_price"])
        if i % UPDATED_SHARE == 0:
            update = {**order, "updated_at": "2026-07-10T13:00:01-04:00", "total_price": "503.00"}
            delivery = (store, "orders/updated", f"update-{i}", json.dumps(update).encode())
            latest[(store, str(order["id"]))] = Decimal("503.00")
            # Half the updates arrive before their order's creation, the other half long after.
            (arrivals if i % (2 * UPDATED_SHARE) else early).append(delivery)
    for n, delivery in enumerate(early):
        position = max(0, n * count // max(len(early), 1))
        arrivals.insert(position, delivery)
    return arrivals, latest


def _reset(url: str) -> None:
    with session_scope(url) as session:
        names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        session.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


def _fill(url: str, stores: int, arrivals: list[Arrival]) -> list[int]:
    """A fresh account with `stores` Shopify stores and the deliveries in its inbox; the store ids."""
    from integration.ingest import inbox

    with session_scope(url) as session:
        account = create_account(session, "scale-out")
        ids = [
            add_store(
                session,
                account.id,
                platform=Platform.SHOPIFY,
                name=f"shop {n}",
                currency="USD",
                shop_domain=f"scaleout-{n}.myshopify.com",
            ).id
            for n in range(stores)
        ]
    with session_scope(url) as session:
        for store, topic, delivery_id, body in arrivals:
            inbox.receive(
                session,
                source="shopify",
                topic=topic,
                delivery_id=delivery_id,
                body=body,
                store_id=ids[store],
                signature_verified=True,
            )
    return ids


def _queue(settings: Settings, mode: str, store_ids: list[int], url: str) -> int:
    """Queue the work as arriving deliveries (drain) or the sweeper (sweep) would; jobs queued."""
    from integration.ingest import inbox
    from jobs.ingest import SWEEP_BATCH, process_inbox_job, request_drain
    from jobs.queues import INGEST, enqueue

    if mode == "drain":
        return sum(request_drain(settings, "shopify", store_id) for store_id in store_ids)
    with session_scope(url) as session:  # as `sweep_inbox_job` picks them, every delivery being stale
        ids = inbox.stale_pending(session, timedelta(0), limit=10**9)
    for start in range(0, len(ids), SWEEP_BATCH):
        enqueue(settings, INGEST, process_inbox_job, ids[start : start + SWEEP_BATCH])
    return (len(ids) + SWEEP_BATCH - 1) // SWEEP_BATCH


def _worker(env: dict[str, str], *, burst: bool) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "integration.cli", "worker", *(["--burst"] if burst else [])]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _stopped(process: subprocess.Popen[bytes]) -> int:
    """Wait for a worker asked to stop; kill it after a minute."""
    try:
        return process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


POLL_SECONDS = 0.02
SETTLED_POLLS = 3  # idle this many polls in a row: no job was between a queue and its worker


def _wait_until_idle(
    settings: Settings, url: str, workers: int, *, deadline_seconds: float, settled: bool
) -> None:
    """Wait until `workers` workers are registered and idle with every queue empty — with `settled`,
    also no delivery pending, for SETTLED_POLLS polls in a row (a job popped from its queue but not
    yet started leaves its worker idle for an instant). Jobs put off for later (a retry's back-off,
    an RFM recomputation deferred by its five-minute rule) are not waited for, as a burst worker
    does not wait for them either."""
    from rq import Worker
    from rq.registry import StartedJobRegistry

    from integration.store.redis import connection
    from jobs.queues import QUEUES, queue

    client = connection(settings)
    queues = [queue(settings, name) for name in QUEUES]
    deadline = time.monotonic() + deadline_seconds
    quiet = 0
    while quiet < (SETTLED_POLLS if settled else 1):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the workers were not idle within {deadline_seconds:.0f} s")
        time.sleep(POLL_SECONDS)
        found = Worker.all(connection=client)
        idle = len(found) == workers and all(w.get_state() == "idle" for w in found)
        idle = idle and not any(q.count or StartedJobRegistry(queue=q).count for q in queues)
        if idle and settled:
            with session_scope(url) as session:
                pending = select(func.count()).where(InboxDelivery.status == InboxStatus.PENDING)
                idle = not session.scalar(pending)
        quiet = quiet + 1 if idle else 0


def _check(url: str, store_ids: list[int], latest: dict[tuple[int, str], Decimal]) -> dict[str, Any]:
    """Compare the store with what was sent: deliveries, orders and what is kept per buyer."""
    index = {store_id: n for n, store_id in enumerate(store_ids)}
    with session_scope(url) as session:
        by_status = select(InboxDelivery.status, func.count()).group_by(InboxDelivery.status)
        statuses = Counter(dict(session.execute(by_status).all()))
        retried = session.scalar(select(func.count()).where(InboxDelivery.attempts > 1)) or 0
        stored = {
            (index[store_id], external_id): total
            for store_id, external_id, total in session.execute(
                select(Order.store_id, Order.external_id, Order.total_price)
            )
        }
        items = Counter(session.scalars(select(OrderLineItem.order_id)))
        counted = session.scalar(select(func.coalesce(func.sum(ContactTotals.orders), 0))) or 0
        # Each order counts once in its store's year (the sample's orders all fall in one year).
        purchases = session.scalar(
            select(func.coalesce(func.sum(ContactPeriodSpend.purchases), 0)).where(
                ContactPeriodSpend.store_id != 0, ContactPeriodSpend.period.like("y%")
            )
        ) or 0  # fmt: skip
    per_order = len(json.loads(SAMPLE.read_text())["line_items"])
    missing = sum(1 for key in latest if key not in stored)
    stale = sum(1 for key, total in latest.items() if key in stored and stored[key] != total)
    orders = len(latest)
    lost = (
        statuses[InboxStatus.PENDING] + statuses[InboxStatus.FAILED] + missing + stale
        + max(0, orders - counted) + max(0, orders - purchases)
    )  # fmt: skip
    twice = (
        retried + sum(max(0, n - per_order) for n in items.values())
        + max(0, counted - orders) + max(0, purchases - orders)
    )  # fmt: skip
    return {
        "processed": statuses[InboxStatus.PROCESSED],
        "pending": statuses[InboxStatus.PENDING],
        "failed": statuses[InboxStatus.FAILED],
        "retried": retried,
        "orders_missing": missing,
        "orders_not_latest": stale,
        "lost": lost,
        "twice": twice,
    }


def _run(
    args: argparse.Namespace,
    url: str,
    redis_url: str,
    env: dict[str, str],
    stores: int,
    mode: str,
    workers: int,
) -> dict[str, Any]:
    import redis

    arrivals, latest = planned(args.deliveries, stores)
    _reset(url)
    redis.Redis.from_url(redis_url).flushdb()
    store_ids = _fill(url, stores, arrivals)
    dispose_engines()
    settings = Settings.from_env()
    if args.with_start:
        jobs = _queue(settings, mode, store_ids, url)
        started = time.perf_counter()
        processes = [_worker(env, burst=True) for _ in range(workers)]
        codes = [p.wait() for p in processes]
        seconds = time.perf_counter() - started
    else:
        processes = [_worker(env, burst=False) for _ in range(workers)]
        try:
            _wait_until_idle(settings, url, workers, deadline_seconds=120, settled=False)
            started = time.perf_counter()
            jobs = _queue(settings, mode, store_ids, url)
            _wait_until_idle(settings, url, workers, deadline_seconds=1800, settled=True)
            seconds = time.perf_counter() - started
        finally:
            for process in processes:
                process.terminate()
            codes = [_stopped(p) for p in processes]
    checked = _check(url, store_ids, latest)
    dispose_engines()
    return {
        "stores": stores,
        "mode": mode,
        "workers": workers,
        "timed": "from the processes' start" if args.with_start else "running workers",
        "deliveries": len(arrivals),
        "jobs_queued": jobs,
        "worker_exit_codes": codes,
        "seconds": round(seconds, 2),
        "deliveries_per_second": round(len(arrivals) / seconds, 1),
        **checked,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--deliveries", type=int, default=10_000, help="orders/create deliveries (updates added)"
    )
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--stores", default="1,50")
    parser.add_argument("--modes", default="drain,sweep")
    parser.add_argument("--database-url")
    parser.add_argument("--redis-url")
    parser.add_argument(
        "--with-start", action="store_true",
        help="burst workers started after the work is queued, their start timed too",
    )  # fmt: skip
    args = parser.parse_args()
    with given_or_throwaway(args.database_url, args.redis_url) as (workdir, url, redis_url):
        upgrade(url)
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "REDIS_URL": redis_url,
            "SECRET_KEY": "bench-secret-key-0123456789",
            "STOREPULSE_ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "STOREPULSE_INSTANCE_PATH": str(workdir / "instance"),
            "STOREPULSE_LOG_LEVEL": "WARNING",
        }
        os.environ.update(env)
        results = []
        for stores in (int(s) for s in args.stores.split(",")):
            for mode in args.modes.split(","):
                for workers in (int(w) for w in args.workers.split(",")):
                    result = _run(args, url, redis_url, env, stores, mode, workers)
                    results.append(result)
                    print(json.dumps(result), file=sys.stderr, flush=True)  # noqa: T201 - progress
    for stores in {r["stores"] for r in results}:
        for mode in {r["mode"] for r in results}:
            runs = [r for r in results if r["stores"] == stores and r["mode"] == mode]
            one = next((r for r in runs if r["workers"] == 1), None)
            for r in runs:
                ratio = r["deliveries_per_second"] / one["deliveries_per_second"] if one else None
                r["speed_vs_one_worker"] = round(ratio, 2) if ratio is not None else None
    print(json.dumps(results, indent=2))  # noqa: T201 - the benchmark's report
    if any(r["lost"] or r["twice"] for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
