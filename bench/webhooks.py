"""Webhook intake and inbox processing (Shopify's or WooCommerce's), measured against the same
server's trivial endpoint.

    python -m bench.webhooks [--platform shopify|woocommerce] [--deliveries 5000] [--rate 200]
                             [--database-url ...] [--redis-url ...]

1. Starts the web app under gunicorn on loopback (PostgreSQL and Redis: throwaway servers unless
   given) and a separate client process that posts N signed order deliveries (Shopify's
   `orders/create` or WooCommerce's `order.created`), each a distinct order in the platform's
   documented shape: first paced at --rate per second (latency p50/p99),
   then as fast as 8 keep-alive connections go (throughput). The same two runs against `/ping`, a
   route that touches neither database nor Redis, are the ceiling; the ratios compare the two.
   `/ping`'s fast run is made again right after the webhook's, and the ceiling of the throughput
   ratio is the mean of the two (the machine's pace drifts within a run; both figures are given).
   Each fast run also reports the CPU time a request cost each kind of process (`cpu_ms`: the web
   workers, PostgreSQL, Redis and the load generator, read from the operating system around the
   run; PostgreSQL and Redis are every process of that name on the machine, so a given shared
   server's other work counts too), and `busy_cores`, their sum over the run's time: a ratio of
   CPU per request moves less with the machine's pace than one of requests a second.
2. Starts one `storepulse worker --burst` process on the filled inbox and reports deliveries
   normalized per second, beside the ceiling of parsing the same bodies and inserting their orders
   and line items with plain executemany INSERTs: timed from the process's start to its exit, and
   from its first job's start to its last job's end as RQ recorded them (`worker_jobs_*`: the
   worker at work, as a running worker is, without the start of the process).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import http.client
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import psutil
from cryptography.fernet import Fernet
from sqlalchemy import func, insert, select

from bench.servers import SERVING, given_or_throwaway
from integration.accounts import add_store, create_account
from integration.crypto import encrypt_json
from integration.store import session_scope
from integration.store.db import dispose_engines, get_engine, upgrade
from integration.store.models import InboxDelivery, InboxStatus, Order, OrderLineItem, Platform

SECRET = "bench-shopify-secret"
SHOP = "bench-shop.myshopify.com"
FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
SAMPLE = FIXTURES / "shopify" / "orders_create.json"
WOO_SAMPLE = FIXTURES / "woocommerce" / "order_727.json"
WOO_SHOP = "https://bench-shop.example"


def deliveries(count: int, seed: int, platform: str = "shopify") -> list[tuple[bytes, str]]:
    """Distinct order bodies in the platform's documented shape, each with its signature."""
    if platform == "woocommerce":
        return woo_deliveries(count, seed)
    sample = json.loads(SAMPLE.read_text())
    made = []
    for i in range(count):
        order = dict(sample)
        order["id"] = 9_000_000_000 + seed * 10_000_000 + i
        order["name"] = f"#{seed}{i}"
        order["order_number"] = i
        order["checkout_token"] = f"bench-{seed}-{i}"
        order["customer"] = {
            **sample["customer"],
            "id": 7_000_000_000 + i % (count // 2 or 1),
            "email": f"buyer{i % (count // 2 or 1)}@example.com",
        }
        body = json.dumps(order).encode()
        signature = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
        made.append((body, signature))
    return made


def woo_deliveries(count: int, seed: int) -> list[tuple[bytes, str]]:
    """Distinct `order.created` bodies in WooCommerce's documented shape (order 727), signed."""
    sample = json.loads(WOO_SAMPLE.read_text())
    buyers = count // 2 or 1
    made = []
    for i in range(count):
        order = dict(sample)
        order["id"] = order["number"] = 1_000_000 + seed * 100_000 + i
        order["number"] = str(order["number"])
        order["billing"] = {**sample["billing"], "email": f"buyer{i % buyers}@example.com"}
        order["customer_id"] = 0 if i % 3 else 5_000 + i % buyers  # a third are registered customers
        order["line_items"] = [
            {**li, "id": order["id"] * 10 + n} for n, li in enumerate(sample["line_items"])
        ]
        body = json.dumps(order).encode()
        signature = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
        made.append((body, signature))
    return made


def webhook_path(platform: str, store_id: int) -> str:
    return "/webhooks/shopify" if platform == "shopify" else f"/webhooks/woocommerce/{store_id}"


def client_main(args: argparse.Namespace) -> None:
    """The load-generating process: prints one JSON line of results."""
    payloads = deliveries(args.deliveries, args.seed, args.platform)
    # Other orders: the fast run stores new ones too.
    more = deliveries(args.deliveries, args.seed + 10, args.platform)
    cpu = _ProcessCpu(args.web_pid)
    results: dict[str, Any] = {}
    for target in ("/ping", webhook_path(args.platform, args.store_id)):
        paced = _run(args.port, target, payloads, rate=args.rate, connections=16)
        flat = _run(args.port, target, more, rate=None, connections=8, id_offset=1, cpu=cpu)
        results["/ping" if target == "/ping" else "webhook"] = {"paced": paced, "unpaced": flat}
    # `/ping` again right after the webhook's fast run: this machine's pace drifts within a run, and
    # the ceiling is taken as the mean of the runs on either side of it.
    results["/ping"]["unpaced_after"] = _run(
        args.port, "/ping", more, rate=None, connections=8, id_offset=2, cpu=cpu
    )
    print(json.dumps(results))  # noqa: T201 - the parent process reads this line


class _ProcessCpu:
    """CPU seconds used so far by each kind of process: the web server's (its master and workers),
    PostgreSQL's and Redis's (every process of that name) and this load generator's."""

    def __init__(self, web_pid: int | None) -> None:
        self._web = psutil.Process(web_pid) if web_pid else None
        self._me = psutil.Process()

    def __call__(self) -> dict[str, dict[int, float]]:
        kinds: dict[str, list[psutil.Process]] = {
            "web": [], "postgres": [], "redis": [], "client": [self._me]
        }  # fmt: skip
        if self._web is not None:
            kinds["web"] = [self._web, *self._web.children(recursive=True)]
        for process in psutil.process_iter(["name"]):
            name = process.info["name"] or ""
            if name == "postgres" or name.startswith("postgres:"):
                kinds["postgres"].append(process)
            elif name.startswith("redis-server"):
                kinds["redis"].append(process)
        used: dict[str, dict[int, float]] = {}
        for kind, processes in kinds.items():
            used[kind] = {}
            for process in processes:
                try:
                    times = process.cpu_times()
                except psutil.Error:  # ended meanwhile
                    continue
                used[kind][process.pid] = times.user + times.system
        return used

    @staticmethod
    def per_request(
        before: dict[str, dict[int, float]], after: dict[str, dict[int, float]], requests: int
    ) -> dict[str, float]:
        """Milliseconds of CPU a request cost each kind (a process started meanwhile counts whole)."""
        spent = {
            kind: sum(t - before.get(kind, {}).get(pid, 0.0) for pid, t in now.items())
            for kind, now in after.items()
        }
        return {kind: round(1000 * seconds / max(requests, 1), 3) for kind, seconds in spent.items()}


def _run(
    port: int,
    path: str,
    payloads: list[tuple[bytes, str]],
    rate: float | None,
    connections: int,
    id_offset: int = 0,
    cpu: _ProcessCpu | None = None,
) -> dict[str, Any]:
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    next_index = [0]

    def work() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while True:
            with lock:
                i = next_index[0]
                next_index[0] += 1
            if i >= len(payloads):
                break
            if rate is not None:
                delay = started + i / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            body, signature = payloads[i]
            unique = f"{path}-{rate}-{id_offset}-{i}"
            headers = (
                {
                    "Content-Type": "application/json",
                    "X-WC-Webhook-Source": WOO_SHOP + "/",
                    "X-WC-Webhook-Topic": "order.created",
                    "X-WC-Webhook-Resource": "order",
                    "X-WC-Webhook-Event": "created",
                    "X-WC-Webhook-Signature": signature,
                    "X-WC-Webhook-ID": "12",
                    "X-WC-Webhook-Delivery-ID": hashlib.sha256(unique.encode()).hexdigest(),
                }
                if "/woocommerce/" in path
                else {
                    "Content-Type": "application/json",
                    "X-Shopify-Topic": "orders/create",
                    "X-Shopify-Hmac-Sha256": signature,
                    "X-Shopify-Shop-Domain": SHOP,
                    "X-Shopify-Webhook-Id": unique,
                    "X-Shopify-Triggered-At": "2026-11-23T10:00:00Z",
                }
            )
            sent = time.perf_counter()
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            took = time.perf_counter() - sent
            with lock:
                latencies.append(took)
                if response.status != 200:
                    errors[0] += 1

    threads = [threading.Thread(target=work) for _ in range(connections)]
    used_before = cpu() if cpu is not None else None
    started = time.perf_counter()  # the paced requests' schedule starts here too
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    result: dict[str, Any] = {
        "requests": len(latencies),
        "errors": errors[0],
        "per_second": len(latencies) / elapsed,
        "p50_ms": 1000 * statistics.median(ordered),
        "p99_ms": 1000 * ordered[int(0.99 * (len(ordered) - 1))],
    }
    if cpu is not None and used_before is not None:
        per_request = _ProcessCpu.per_request(used_before, cpu(), len(latencies))
        result["cpu_ms"] = {**per_request, "total": round(sum(per_request.values()), 3)}
        result["busy_cores"] = round(result["cpu_ms"]["total"] * len(latencies) / 1000 / elapsed, 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--platform", choices=("shopify", "woocommerce"), default="shopify")
    parser.add_argument("--store-id", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--deliveries", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--database-url")
    parser.add_argument("--redis-url")
    parser.add_argument("--port", type=int, default=8731)
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--web-threads", type=int, default=4, help="threads per web worker (as the Procfile)")
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--web-pid", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        client_main(args)
        return

    with given_or_throwaway(args.database_url, args.redis_url) as (workdir, url, redis_url):
        _measure(args, url, redis_url, workdir)


def _measure(args: argparse.Namespace, url: str, redis_url: str, workdir: Path) -> None:
    upgrade(url)
    encryption_key = Fernet.generate_key().decode()
    with session_scope(url) as session:
        account = create_account(session, "bench")
        woo = args.platform == "woocommerce"
        store = add_store(
            session,
            account.id,
            platform=Platform.WOOCOMMERCE if woo else Platform.SHOPIFY,
            name="bench",
            currency="USD",
            shop_domain=WOO_SHOP if woo else SHOP,
        )
        if woo:
            keys = {"consumer_key": "ck_bench", "consumer_secret": "cs_bench", "webhook_secret": SECRET}
            store.credentials = encrypt_json((encryption_key,), keys)
        store_id = store.id
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": "bench-secret-key-0123456789",
        "STOREPULSE_ENCRYPTION_KEY": encryption_key,
        "SHOPIFY_API_KEY": "bench",
        "SHOPIFY_API_SECRET": SECRET,
        "STOREPULSE_INSTANCE_PATH": str(workdir / "instance"),
        "STOREPULSE_LOG_LEVEL": "WARNING",
    }
    gunicorn = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", *SERVING, "--bind", f"127.0.0.1:{args.port}", "--workers",
         str(args.web_workers), "--threads", str(args.web_threads), "integration.web.app:create_app()"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_for_port(args.port)
        client = subprocess.run(
            [sys.executable, "-m", "bench.webhooks", "--client", "--port", str(args.port), "--deliveries",
             str(args.deliveries), "--rate", str(args.rate), "--platform", args.platform,
             "--store-id", str(store_id), "--web-pid", str(gunicorn.pid)],
            env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        http_results = json.loads(client.stdout.strip().splitlines()[-1])
    finally:
        gunicorn.terminate()
        gunicorn.wait()

    with session_scope(url) as session:
        pending = session.scalar(
            select(func.count()).select_from(InboxDelivery).where(InboxDelivery.status == InboxStatus.PENDING)
        )
    started, started_at = time.perf_counter(), datetime.now(UTC)
    subprocess.run([sys.executable, "-m", "integration.cli", "worker", "--burst"], env=env, check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    drain_seconds = time.perf_counter() - started
    busy_seconds = _jobs_span(redis_url, started_at)
    with session_scope(url) as session:
        processed = session.scalar(
            select(func.count())
            .select_from(InboxDelivery)
            .where(InboxDelivery.status == InboxStatus.PROCESSED)
        )
        orders = session.scalar(select(func.count()).select_from(Order))
    ceiling_seconds = _insert_ceiling(url, store_id, processed or 0, args.platform)
    dispose_engines()

    hook, ping = http_results["webhook"], http_results["/ping"]
    ping_per_second = statistics.mean(ping[k]["per_second"] for k in ("unpaced", "unpaced_after"))
    report = {
        "platform": args.platform,
        "deliveries_posted": hook["paced"]["requests"] + hook["unpaced"]["requests"],
        "errors": hook["paced"]["errors"] + hook["unpaced"]["errors"],
        "paced_rate_per_second": args.rate,
        "webhook_paced": hook["paced"],
        "ping_paced": ping["paced"],
        "p99_ratio_webhook_to_ping": hook["paced"]["p99_ms"] / ping["paced"]["p99_ms"],
        "webhook_throughput_per_second": hook["unpaced"]["per_second"],
        "ping_throughput_per_second": ping_per_second,
        "ping_throughput_before_and_after": [ping[k]["per_second"] for k in ("unpaced", "unpaced_after")],
        "throughput_ratio": hook["unpaced"]["per_second"] / ping_per_second,
        "webhook_cpu_ms": hook["unpaced"]["cpu_ms"],
        "ping_cpu_ms": [ping[k]["cpu_ms"] for k in ("unpaced", "unpaced_after")],
        "busy_cores_webhook_and_ping": [
            hook["unpaced"]["busy_cores"],
            *(ping[k]["busy_cores"] for k in ("unpaced", "unpaced_after")),
        ],
        # What a delivery costs the machine beside /ping, in CPU rather than in requests a second.
        "cpu_ratio": statistics.mean(ping[k]["cpu_ms"]["total"] for k in ("unpaced", "unpaced_after"))
        / hook["unpaced"]["cpu_ms"]["total"],
        "inbox_pending_before_worker": pending,
        "worker_seconds": drain_seconds,
        "worker_processed": processed,
        "orders_stored": orders,
        "worker_deliveries_per_second": (processed or 0) / drain_seconds,
        "worker_jobs_seconds": busy_seconds,
        "worker_jobs_deliveries_per_second": (processed or 0) / busy_seconds,
        "ceiling_insert_seconds": ceiling_seconds,
        "ceiling_deliveries_per_second": (processed or 0) / ceiling_seconds,
        "worker_ratio_to_ceiling": ceiling_seconds / drain_seconds,
        "worker_jobs_ratio_to_ceiling": ceiling_seconds / busy_seconds,
    }
    print(json.dumps(report, indent=2, default=str))  # noqa: T201 - the benchmark's report


def _jobs_span(redis_url: str, since: datetime) -> float:
    """Seconds from the first job's start to the last one's end, as RQ recorded them, among the jobs
    started since `since`: the worker's time at work, without the start of its process."""
    import redis
    from rq import Queue
    from rq.job import Job
    from rq.registry import FailedJobRegistry, FinishedJobRegistry
    from rq.serializers import JSONSerializer

    from jobs.queues import QUEUES

    client = redis.Redis.from_url(redis_url)
    ids = []
    for name in QUEUES:
        queue = Queue(name, connection=client, serializer=JSONSerializer)
        ids += FinishedJobRegistry(queue=queue).get_job_ids() + FailedJobRegistry(queue=queue).get_job_ids()
    fetched = Job.fetch_many(ids, connection=client, serializer=JSONSerializer)
    spans = [
        (_utc(job.started_at), _utc(job.ended_at))
        for job in fetched
        if job is not None and job.started_at is not None and job.ended_at is not None
    ]
    mine = [(start, end) for start, end in spans if start >= since]
    if not mine:
        raise RuntimeError("the worker recorded no job")
    return (max(end for _, end in mine) - min(start for start, _ in mine)).total_seconds()


def _utc(moment: datetime) -> datetime:
    """RQ's times are UTC, with or without their zone."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _insert_ceiling(url: str, store_id: int, count: int, platform: str) -> float:
    """Parse the same bodies and insert their orders and line items with plain INSERTs: the ceiling."""
    bodies = [body for body, _ in deliveries(count, seed=2, platform=platform)]
    woo = platform == "woocommerce"
    engine = get_engine(url)
    started = time.perf_counter()
    orders, items = [], []
    for body in bodies:
        data = json.loads(body)
        orders.append(
            {
                "store_id": store_id,
                "external_id": str(data["id"]),
                "name": f"#{data['number']}" if woo else data["name"],
                "created_at": _parse(data["date_created_gmt" if woo else "created_at"]),
                "updated_at": _parse(data["date_modified_gmt" if woo else "updated_at"]),
                "currency": data["currency"],
                "total_price": Decimal(data["total" if woo else "total_price"]),
            }
        )
        items.append(
            [{**li, "title": li["name"], "price": str(li["price"])} for li in data["line_items"]]
            if woo
            else data["line_items"]
        )
    with engine.begin() as conn:
        ids = conn.execute(insert(Order).returning(Order.id), orders).scalars().all()
        rows = [
            {
                "order_id": oid,
                "title": li["title"],
                "quantity": li["quantity"],
                "unit_price": Decimal(li["price"]),
            }
            for oid, lines in zip(ids, items, strict=True)
            for li in lines
        ]
        conn.execute(insert(OrderLineItem), rows)
    return time.perf_counter() - started


def _parse(raw: str) -> Any:
    from datetime import UTC, datetime

    moment = datetime.fromisoformat(raw)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # WooCommerce's `_gmt` times


def _wait_for_port(port: int, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/ping")
            if conn.getresponse().status == 200:
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


if __name__ == "__main__":
    main()
