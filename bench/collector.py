"""Storefront event intake (`POST /collect`), measured against the same server's trivial endpoint.

    python -m bench.collector [--sizes 20,2,1] [--requests 3000] [--rate 200] [--workers 2]
                              [--web-threads 4] [--stores 20] [--database-url ...] [--redis-url ...]
                              [--no-limits-run]

1. Starts PostgreSQL and Redis (throwaway servers unless given), migrates, and makes one account
   with --stores stores: half Shopify stores (`benchN.myshopify.com`, posted to as the web pixel
   does) and half API stores listing `https://shopN.example` as their snippet's origin (posted to
   as the tracking snippet does, with that `Origin`). Their public keys are read from the store.
2. Starts the web app under gunicorn with --workers processes of --web-threads threads (as the
   Procfile) on loopback, the collector's limits off (`STOREPULSE_COLLECT_RATE_PER_KEY=0`,
   `STOREPULSE_COLLECT_RATE_PER_ADDRESS=0`: this measures intake, not the limiter), and a separate
   client process. Against `/ping`, which touches neither database nor Redis (the ceiling), then
   against `/collect` for each batch size of --sizes (20: the most the pixel and the snippet put
   in one request; 2: a product page's view and page view, sent together; 1: an add to cart
   alone), the client posts --requests
   batches of page views, product views and adds to cart of visitors from a pool (unique event
   ids, `at` the time the batch was made) as `text/plain` JSON: first paced at --rate per second
   (latency p50/p95/p99), then as fast as 8 keep-alive connections go (requests and events
   accepted per second). Before each server's measured runs, WARM_UP requests go unmeasured (each
   web process opens its connections and reads the stores' keys then). The bodies are made before
   each run's clock starts (and just before it, so every `at` is current).
3. Unless --no-limits-run, starts the server again with the collector's default limits and repeats
   the two `/collect` runs of the first size: the limiter's cost (two Redis round trips a
   request). The app runs as behind one reverse proxy (`STOREPULSE_TRUSTED_PROXIES=1`) in every
   run, and each request carries its visitor's address in `X-Forwarded-For`, so the per-address
   limit sees the visitors rather than the load generator.

The aims: p99 ≤ P99_AIM_MS at --rate, and events accepted a second ≥ RATIO_AIM × `/ping`'s
requests a second; requests a second against `/ping`'s are reported beside them. Every `/collect`
answer must be 202 with all of its events accepted; afterwards the inbox must hold exactly one
`storefront` delivery per accepted batch, warm-ups included (it exits 1 otherwise). No worker
runs: this measures intake only; the batches stay in the inbox, pending.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from sqlalchemy import func, select

from bench.servers import SERVING, given_or_throwaway
from integration.accounts import add_store, create_account
from integration.store import session_scope
from integration.store.db import dispose_engines, upgrade
from integration.store.models import InboxDelivery, Platform

PIXEL_ORIGIN = "https://extensions.shopifycdn.com"  # where Shopify's pixel sandbox posts from
USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
VISITORS = 5000  # the pool batches come from; each has its own address (198.18.0.0/15, for benchmarks)
PRODUCTS = 200  # per store
PAGES = ("", "collections/all", "collections/new", "pages/about", "cart", "search?q=linen")
WORDS = ("Linen", "Wool", "Canvas", "Everyday", "Travel", "Cotton", "Classic", "Field", "Harbor", "Summit")
THINGS = ("Shirt", "Tote", "Scarf", "Jacket", "Mug", "Notebook", "Cap", "Blanket", "Backpack", "Socks")
LIMIT_SETTINGS = (
    "STOREPULSE_COLLECT_RATE_PER_KEY",
    "STOREPULSE_COLLECT_BURST_PER_KEY",
    "STOREPULSE_COLLECT_RATE_PER_ADDRESS",
    "STOREPULSE_COLLECT_BURST_PER_ADDRESS",
)

WARM_UP = 200  # requests before each server's measured runs
P99_AIM_MS = 50  # the slowest answer in a hundred at the paced rate
RATIO_AIM = 0.5  # events accepted a second, against /ping's requests a second
Request = tuple[bytes, dict[str, str]]


# --- the load-generating process ---------------------------------------------------------------


@dataclass(frozen=True)
class Visitor:
    id: str
    store: int  # index in Catalog.stores
    address: str
    customer: str | None  # a signed-in customer's id


@dataclass(frozen=True)
class Product:
    n: int
    title: str
    price: Decimal


class Catalog:
    """The stores, their products and the visitor pool, as the pixel and the snippet would name them."""

    def __init__(self, stores: list[dict[str, Any]], seed: int) -> None:
        rng = random.Random(seed)
        self.stores = stores
        self.visitors = [
            Visitor(
                id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                store=i % len(stores),
                address=f"198.{18 + i // 65536}.{i // 256 % 256}.{i % 256}",
                customer=str(7_100_000_000 + i) if rng.random() < 0.25 else None,
            )
            for i in range(VISITORS)
        ]
        self.products = [
            [
                Product(
                    n=n,
                    title=f"{rng.choice(WORDS)} {rng.choice(THINGS)}",
                    price=Decimal(rng.randrange(900, 15_000)).scaleb(-2),
                )
                for n in range(PRODUCTS)
            ]
            for _ in stores
        ]


def batches(catalog: Catalog, count: int, per_request: int, seed: int) -> list[Request]:
    """`count` batches of `per_request` events, each batch one visitor's, with unique event ids and
    `at` the last few seconds up to now; the request headers a browser would send with each."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    made: list[Request] = []
    for _ in range(count):
        visitor = rng.choice(catalog.visitors)
        store = catalog.stores[visitor.store]
        products = catalog.products[visitor.store]
        pixel = store["platform"] == "shopify"
        site = f"https://{store['shop_domain']}" if pixel else str(store["origin"])
        events = []
        for j in range(per_request):
            at = now - timedelta(milliseconds=1500 * (per_request - j) + rng.randrange(1000))
            kind = rng.choices(("page_view", "product_view", "add_to_cart"), (45, 40, 15))[0]
            event: dict[str, Any] = {
                "id": ("sh-" if pixel else "") + str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "type": kind,
                "at": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "visitor": visitor.id,
                "customer_id": visitor.customer,
            }
            if kind == "page_view":
                event["url"] = f"{site}/{rng.choice(PAGES)}"
            else:
                product = rng.choice(products)
                n = product.n
                handle = product.title.lower().replace(" ", "-") + f"-{n}"
                quantity = rng.choice((1, 1, 1, 2, 3)) if kind == "add_to_cart" else None
                # a product view carries the variant's price, an add to cart the line's cost
                price = product.price * (quantity or 1)
                event |= {
                    "url": f"{site}/products/{handle}",
                    "product_id": f"gid://shopify/Product/{8_000_000_000 + n}" if pixel else f"P{n}",
                    "variant_id": (
                        f"gid://shopify/ProductVariant/{40_000_000_000 + n}" if pixel else f"P{n}-V1"
                    ),
                    "sku": f"SKU-{n:05d}",
                    "title": product.title,
                    "price": str(price),
                    "currency": "USD",
                }
                if quantity is not None:
                    event["quantity"] = quantity
            events.append(event)
        payload: dict[str, Any] = {"key": store["public_key"]}
        if pixel:
            payload |= {"shop": store["shop_domain"], "source": "shopify_pixel"}
        else:
            payload["source"] = "snippet"
        payload["events"] = events
        headers = {
            "Content-Type": "text/plain;charset=UTF-8",
            "Origin": PIXEL_ORIGIN if pixel else str(store["origin"]),
            "User-Agent": USER_AGENT,
            "X-Forwarded-For": visitor.address,
            "X-Forwarded-Proto": "https",
        }
        made.append((json.dumps(payload, separators=(",", ":")).encode(), headers))
    return made


def client_main(args: argparse.Namespace) -> None:
    """The load-generating process: prints one JSON line of results, keyed by target and batch size."""
    catalog = Catalog(json.loads(Path(args.stores_file).read_text()), args.seed)
    results: dict[str, Any] = {}
    seed = args.seed * 1000
    for target in args.targets.split(","):
        status = 202 if target == "/collect" else 200
        sizes = [int(size) for size in args.sizes.split(",")] if target == "/collect" else [1]
        # Unmeasured first: each web worker opens its connections and reads the stores' keys.
        seed += 1
        warm = _run(args.port, target, batches(catalog, WARM_UP, sizes[0], seed), None, 8, status)
        results[f"{target} warm-up"] = {"ok": warm["ok"], "requests": warm["requests"]}
        for size in sizes:
            runs = {}
            for mode, rate, connections in (("paced", args.rate, 16), ("unpaced", None, 8)):
                seed += 1
                requests = batches(catalog, args.requests, size, seed)
                runs[mode] = _run(args.port, target, requests, rate, connections, status)
                runs[mode]["body_bytes_mean"] = statistics.fmean(len(body) for body, _ in requests)
            results[target if target == "/ping" else f"{target} {size}"] = runs
    print(json.dumps(results))  # the parent process reads this line


def _run(
    port: int, path: str, requests: list[Request], rate: float | None, connections: int, expected: int
) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    accepted_events = [0]
    lock = threading.Lock()
    next_index = [0]
    started = time.perf_counter()

    def work() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while True:
            with lock:
                i = next_index[0]
                next_index[0] += 1
            if i >= len(requests):
                break
            if rate is not None:
                delay = started + i / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            body, headers = requests[i]
            sent = time.perf_counter()
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            answer = response.read()
            took = time.perf_counter() - sent
            accepted = 0
            if response.status == 202:
                reply = json.loads(answer)
                if not reply["refused"]:
                    accepted = reply["accepted"]
            with lock:
                latencies.append(took)
                statuses[response.status] = statuses.get(response.status, 0) + 1
                accepted_events[0] += accepted

    threads = [threading.Thread(target=work) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)

    def pct(q: float) -> float:
        return 1000 * ordered[int(q * (len(ordered) - 1))]

    return {
        "requests": len(latencies),
        "ok": statuses.get(expected, 0),
        "errors": len(latencies) - statuses.get(expected, 0),
        "statuses": {str(code): n for code, n in sorted(statuses.items())},
        "accepted_events": accepted_events[0],
        "seconds": elapsed,
        "per_second": len(latencies) / elapsed,
        "events_per_second": accepted_events[0] / elapsed,
        "p50_ms": 1000 * statistics.median(ordered),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
    }


# --- the benchmark -----------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes",
        default="20,2,1",
        help="events a request, one pair of /collect runs each (the first also for the limits run)",
    )
    parser.add_argument("--requests", type=int, default=3000, help="per run")
    parser.add_argument("--rate", type=float, default=200.0, help="requests a second of the paced runs")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn web workers")
    parser.add_argument("--web-threads", type=int, default=4, help="threads per web worker (as the Procfile)")
    parser.add_argument("--stores", type=int, default=20)
    parser.add_argument("--database-url")
    parser.add_argument("--redis-url")
    parser.add_argument("--port", type=int, default=8732)
    parser.add_argument(
        "--no-limits-run", action="store_true", help="skip the runs with the collector's default limits"
    )
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--stores-file", help=argparse.SUPPRESS)
    parser.add_argument("--targets", default="/ping,/collect", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        client_main(args)
        return
    try:
        sizes = [int(size) for size in args.sizes.split(",")]
    except ValueError:
        parser.error("--sizes: whole numbers separated by commas")
    if not all(1 <= size <= 50 for size in sizes):
        parser.error("--sizes: the collector takes 1 to 50 events a request")
    if args.stores < 2:
        parser.error("--stores: at least 2 (a Shopify store and an API store)")

    began = time.perf_counter()
    with given_or_throwaway(args.database_url, args.redis_url) as (workdir, url, redis_url):
        report = _measure(args, url, redis_url, workdir)
    report["run_seconds"] = time.perf_counter() - began
    print(json.dumps(report, indent=2, default=str))
    _summary(report)
    if not report["checks_passed"]:
        sys.exit(1)


def _measure(args: argparse.Namespace, url: str, redis_url: str, workdir: Path) -> dict[str, Any]:
    upgrade(url)
    stores = _make_stores(url, args.stores)
    stores_file = workdir / "stores.json"
    stores_file.write_text(json.dumps(stores))
    env = {
        **{name: value for name, value in os.environ.items() if name not in LIMIT_SETTINGS},
        "DATABASE_URL": url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": "bench-secret-key-0123456789",
        "STOREPULSE_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "SHOPIFY_API_KEY": "bench",
        "SHOPIFY_API_SECRET": "bench-shopify-secret",
        "STOREPULSE_INSTANCE_PATH": str(workdir / "instance"),
        "STOREPULSE_LOG_LEVEL": "WARNING",
        "STOREPULSE_TRUSTED_PROXIES": "1",
    }
    unlimited = {**env, "STOREPULSE_COLLECT_RATE_PER_KEY": "0", "STOREPULSE_COLLECT_RATE_PER_ADDRESS": "0"}
    sizes = [int(size) for size in args.sizes.split(",")]
    results = _serve_and_load(args, unlimited, stores_file, "/ping,/collect", args.sizes, seed=1)
    if not args.no_limits_run:
        limited = _serve_and_load(args, env, stores_file, "/collect", str(sizes[0]), seed=2)
        results["/collect limited"] = limited[f"/collect {sizes[0]}"]
        results["/collect limited warm-up"] = limited["/collect warm-up"]

    with session_scope(url) as session:
        stored = session.scalar(
            select(func.count()).select_from(InboxDelivery).where(InboxDelivery.source == "storefront")
        )
    dispose_engines()

    ping = results["/ping"]
    runs: list[tuple[str, int, dict[str, Any]]] = [
        (f"/collect {size}", size, results[f"/collect {size}"]) for size in sizes
    ]
    if "/collect limited" in results:
        runs.append(("/collect limited", sizes[0], results["/collect limited"]))
    posted = sum(run["requests"] for _, _, pair in runs for run in pair.values())
    accepted = sum(run["ok"] for _, _, pair in runs for run in pair.values())
    events_expected = sum(run["requests"] * size for _, size, pair in runs for run in pair.values())
    events_accepted = sum(run["accepted_events"] for _, _, pair in runs for run in pair.values())
    warm_ups = [results[name] for name in results if name.startswith("/collect") and name.endswith("warm-up")]
    warmed = sum(warm["ok"] for warm in warm_ups)
    checks = {
        "every_collect_answer_202": accepted == posted and warmed == sum(w["requests"] for w in warm_ups),
        "every_event_accepted": events_accepted == events_expected,
        "inbox_rows_equal_accepted_batches": stored == accepted + warmed,
        "ping_errors": ping["paced"]["errors"] + ping["unpaced"]["errors"] == 0,
    }
    ceiling = ping["unpaced"]["per_second"]
    by_size = {
        size: {
            "paced": pair["paced"],
            "unpaced": pair["unpaced"],
            "p99_ms_at_paced_rate": pair["paced"]["p99_ms"],
            "p99_within_aim": pair["paced"]["p99_ms"] <= P99_AIM_MS,
            "requests_per_second": pair["unpaced"]["per_second"],
            "events_per_second": pair["unpaced"]["events_per_second"],
            "request_ratio_to_ping": pair["unpaced"]["per_second"] / ceiling,
            "event_ratio_to_ping": pair["unpaced"]["events_per_second"] / ceiling,
            "event_ratio_within_aim": pair["unpaced"]["events_per_second"] / ceiling >= RATIO_AIM,
        }
        for name, size, pair in runs
        if name != "/collect limited"
    }
    report: dict[str, Any] = {
        "stores": {
            "shopify": sum(s["platform"] == "shopify" for s in stores),
            "api": sum(s["platform"] == "api" for s in stores),
        },
        "web_workers": args.workers,
        "web_threads": args.web_threads,
        "requests_per_run": args.requests,
        "paced_rate_per_second": args.rate,
        "ping_paced": ping["paced"],
        "ping_unpaced": ping["unpaced"],
        "ping_throughput_per_second": ceiling,
        "collect_by_events_per_request": by_size,
        "p99_aim_ms": P99_AIM_MS,
        "ratio_aim": RATIO_AIM,
        "collect_requests_posted": posted,
        "collect_requests_accepted": accepted,
        "collect_warm_up_requests": warmed,
        "collect_events_accepted": events_accepted,
        "inbox_storefront_rows": stored,
        "checks": checks,
        "checks_passed": all(checks.values()),
    }
    if "/collect limited" in results:
        limited_pair, unlimited_pair = results["/collect limited"], results[f"/collect {sizes[0]}"]
        report |= {
            "limits_events_per_request": sizes[0],
            "collect_paced_default_limits": limited_pair["paced"],
            "collect_unpaced_default_limits": limited_pair["unpaced"],
            "limits_p99_ms_off_on": [unlimited_pair["paced"]["p99_ms"], limited_pair["paced"]["p99_ms"]],
            "limits_throughput_ratio_on_to_off": limited_pair["unpaced"]["per_second"]
            / unlimited_pair["unpaced"]["per_second"],
        }
    return report


def _make_stores(url: str, count: int) -> list[dict[str, Any]]:
    """One account's stores, half Shopify and half API ones listing their snippet's origin; the
    public keys as the store made them."""
    made = []
    with session_scope(url) as session:
        account = create_account(session, "bench")
        for i in range(count):
            if i % 2 == 0:
                shop = f"bench{i // 2}.myshopify.com"
                store = add_store(
                    session, account.id, platform=Platform.SHOPIFY, name=f"bench {i // 2}", currency="USD",
                    shop_domain=shop,
                )  # fmt: skip
                made.append(store)
            else:
                store = add_store(
                    session, account.id, platform=Platform.API, name=f"shop {i // 2}", currency="USD"
                )
                store.allowed_origins = [f"https://shop{i // 2}.example"]
                made.append(store)
        session.flush()
        return [
            {
                "public_key": store.public_key,
                "platform": "shopify" if store.platform == Platform.SHOPIFY else "api",
                "shop_domain": store.shop_domain,
                "origin": store.allowed_origins[0] if store.allowed_origins else None,
            }
            for store in made
        ]


def _serve_and_load(
    args: argparse.Namespace, env: dict[str, str], stores_file: Path, targets: str, sizes: str, seed: int
) -> dict[str, Any]:
    """Start gunicorn with `env`, run the client process against `targets`, stop gunicorn."""
    gunicorn = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", *SERVING, "--bind", f"127.0.0.1:{args.port}", "--workers",
         str(args.workers), "--threads", str(args.web_threads), "integration.web.app:create_app()"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_for_port(args.port)
        client = subprocess.run(
            [sys.executable, "-m", "bench.collector", "--client", "--port", str(args.port),
             "--stores-file", str(stores_file), "--targets", targets, "--requests", str(args.requests),
             "--sizes", sizes, "--rate", str(args.rate),
             "--seed", str(seed)],
            env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        results: dict[str, Any] = json.loads(client.stdout.strip().splitlines()[-1])
        return results
    finally:
        gunicorn.terminate()
        gunicorn.wait()


def _summary(report: dict[str, Any]) -> None:
    pp = report["ping_paced"]
    print(
        f"\n{report['web_workers']} web workers; /ping at {report['paced_rate_per_second']:g} requests/s:"
        f" p50 {pp['p50_ms']:.1f} ms, p99 {pp['p99_ms']:.1f} ms;"
        f" 8 connections: {report['ping_throughput_per_second']:,.0f} requests/s (the ceiling)"
    )
    for size, run in report["collect_by_events_per_request"].items():
        cp = run["paced"]
        print(
            f"/collect, {size} events a request: at {report['paced_rate_per_second']:g} requests/s"
            f" p50 {cp['p50_ms']:.1f} ms, p99 {cp['p99_ms']:.1f} ms"
            f" (aim ≤ {report['p99_aim_ms']} ms: {'met' if run['p99_within_aim'] else 'missed'});"
            f" 8 connections: {run['requests_per_second']:,.0f} requests/s"
            f" ({run['request_ratio_to_ping']:.2f}× /ping), {run['events_per_second']:,.0f} events/s"
            f" ({run['event_ratio_to_ping']:.2f}× /ping's requests; aim ≥ {report['ratio_aim']}:"
            f" {'met' if run['event_ratio_within_aim'] else 'missed'})"
        )
    if "collect_paced_default_limits" in report:
        lp, lu = report["collect_paced_default_limits"], report["collect_unpaced_default_limits"]
        print(
            f"  with the default limits ({report['limits_events_per_request']} events a request):"
            f" p50 {lp['p50_ms']:.1f} ms, p99 {lp['p99_ms']:.1f} ms; {lu['per_second']:,.0f} requests/s"
            f" ({report['limits_throughput_ratio_on_to_off']:.2f}× the run without)"
        )
    print(
        f"  inbox: {report['inbox_storefront_rows']:,} storefront deliveries for"
        f" {report['collect_requests_accepted'] + report['collect_warm_up_requests']:,} accepted"
        f" of {report['collect_requests_posted'] + report['collect_warm_up_requests']:,} posted"
        f" (warm-ups included): {'ok' if report['checks_passed'] else 'FAILED ' + str(report['checks'])}"
    )


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
