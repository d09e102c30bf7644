"""A Billbee first import through a local stand-in that enforces Billbee's documented limit.

    python -m bench.billbee [--orders 100000] [--workers 2] [--database-url ...] [--redis-url ...]

The stand-in (`tests.support.billbee`) serves N orders in Billbee's documented shape, 250 a page,
and answers 429 beyond 2 requests a second to one endpoint. One store's first import runs through
`storepulse worker` processes (PostgreSQL and Redis: throwaway servers unless given), from the
upkeep that starts it to the last page kept in the inbox, while the store's drains normalize the
pages. Reported beside the ceiling: the limit's own throughput (2 pages a second, 500 orders a
second), so the ratio says how much of Billbee's allowance the import uses; and the 429s received.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cryptography.fernet import Fernet
from sqlalchemy import func, select

from connectors.billbee import sync
from connectors.billbee.client import PAGE_SIZE
from integration.accounts import create_account
from integration.settings import Settings, configure
from integration.store import session_scope
from integration.store.db import dispose_engines, upgrade
from integration.store.models import Backfill, BackfillStatus, InboxDelivery, InboxStatus, Order
from jobs.billbee import billbee_upkeep_job
from tests.support.billbee import API_KEY, LIMIT, LOGIN, PASSWORD, StandIn, order, serve


def _measure(args: argparse.Namespace, url: str, redis_url: str, workdir: Path) -> dict[str, object]:
    upgrade(url)
    stand_in = StandIn()
    stand_in.orders = [
        order(10_000 + i, f"buyer{i % (args.orders // 2 or 1)}@example.com") for i in range(args.orders)
    ]
    server = serve(stand_in)
    key = Fernet.generate_key().decode()
    settings = Settings(
        instance_path=workdir / "instance",
        database_url=url,
        redis_url=redis_url,
        secret_key="bench-secret-key-0123456789",
        encryption_keys=(key,),
        billbee_api_key=API_KEY,
        billbee_api_url=stand_in.url,
    )
    configure(settings)
    with session_scope(url) as session:
        account = create_account(session, "bench").id
        store, _ = sync.connect(
            session, settings, account, LOGIN, PASSWORD, name="bench", currency="EUR", time_zone="UTC"
        )
        store_id = store.id
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": settings.secret_key,
        "STOREPULSE_ENCRYPTION_KEY": key,
        "BILLBEE_API_KEY": API_KEY,
        "BILLBEE_API_URL": stand_in.url,
        "STOREPULSE_INSTANCE_PATH": str(workdir / "instance"),
        "STOREPULSE_LOG_LEVEL": "WARNING",
    }
    started = time.perf_counter()
    billbee_upkeep_job()  # enqueues the first import's first stage
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "integration.cli", "worker"], env=env, stdout=subprocess.DEVNULL
        )
        for _ in range(args.workers)
    ]
    try:
        read_seconds = None
        while True:
            time.sleep(0.5)
            with session_scope(url) as session:
                stages = session.execute(
                    select(Backfill.stage, Backfill.status).where(Backfill.store_id == store_id)
                ).all()
                pending = session.scalar(
                    select(func.count()).where(
                        InboxDelivery.store_id == store_id, InboxDelivery.status == InboxStatus.PENDING
                    )
                )
            done = dict(stages).get("orders") == BackfillStatus.COMPLETED
            if done and read_seconds is None:
                read_seconds = time.perf_counter() - started
            if any(status == BackfillStatus.FAILED for _, status in stages):
                raise RuntimeError(f"a stage failed: {stages}")
            if done and not pending:
                break
            if time.perf_counter() - started > args.timeout:
                raise RuntimeError(f"not finished within {args.timeout} s: {stages}, {pending} pending")
        total_seconds = time.perf_counter() - started
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait()
        server.shutdown()
    with session_scope(url) as session:
        stored = session.scalar(select(func.count()).select_from(Order).where(Order.store_id == store_id))
    dispose_engines()
    assert read_seconds is not None  # noqa: S101 - set when the loop ends
    limit_per_second = LIMIT * PAGE_SIZE
    orders_per_second = args.orders / read_seconds
    return {
        "orders": args.orders,
        "workers": args.workers,
        "orders_stored": stored,
        "requests": len(stand_in.requests),
        "answered_429": sum(1 for r in stand_in.requests if r.status == 429),
        "most_orders_requests_in_a_second": stand_in.most_in_a_second("orders"),
        "read_seconds": round(read_seconds, 1),
        "read_orders_per_second": round(orders_per_second, 1),
        "limit_orders_per_second": limit_per_second,
        "ratio_to_limit": round(orders_per_second / limit_per_second, 3),
        "until_all_normalized_seconds": round(total_seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--database-url")
    parser.add_argument("--redis-url")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        url, redis_url, redis_process = args.database_url, args.redis_url, None
        if url is None:
            from bench.servers import throwaway_postgres

            url = throwaway_postgres(workdir)
        if redis_url is None:
            from bench.servers import throwaway_redis

            redis_url, redis_process = throwaway_redis(workdir)
        try:
            print(json.dumps(_measure(args, url, redis_url, workdir), indent=2))
        finally:
            if redis_process is not None:
                redis_process.terminate()
                redis_process.wait()


if __name__ == "__main__":
    main()
