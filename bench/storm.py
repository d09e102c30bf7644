"""The outage suite: Shopify deliveries while PostgreSQL and Redis go away, then the store checked.

    python -m bench.storm [--deliveries 10000] [--seed 7] [--rate 40] [--json] ...

1. Starts its own PostgreSQL and Redis (throwaway, on Unix sockets), migrates the store, and makes
   an account (abandonment delay 10 minutes, recovery window 7 days) with one Shopify store.
2. Starts the processes exactly as the Procfile starts them (`web` under gunicorn with the
   Procfile's arguments, `worker` twice, `scheduler`), with DATABASE_URL, REDIS_URL and
   SHOPIFY_API_SECRET in their environment, and no supervisor: a process that dies stays dead.
3. Sends the stream (`bench/storm_stream.py`) from a few threads over HTTP the way Shopify does: a
   delivery is delivered once it got a 200; on any other answer or a connection error it is sent
   again later with back-off. Duplicates resend the same `X-Shopify-Webhook-Id`.
4. During the stream: stops Redis for some seconds and starts it again, stops PostgreSQL for some
   seconds and starts it again (same socket, same data), and SIGKILLs one worker, after which a
   replacement worker is started, as the platform restarting a dead process would.
5. Waits for the inbox to be empty, lets the scheduler's cart job run once more, and compares the
   store with the state computed from what was sent and accepted. Exit status 1 if any of the
   counts that must be 0 is not, or a process died.

`processed_twice` counts deliveries whose inbox row was set processed in more than one committed
transaction (a trigger in the throwaway database records each), and duplicate rows.
"""

from __future__ import annotations

import argparse
import heapq
import http.client
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from sqlalchemy import func, select, text

from bench import storm_stream as ss
from bench.servers import RestartablePostgres, RestartableRedis

PROCFILE = Path(__file__).resolve().parent.parent / "Procfile"
SHOPIFY_TIMEOUT_SECONDS = 5.0  # Shopify gives up on a delivery's request after 5 s and retries later
AUDIT_SQL = """
CREATE TABLE storm_processed (inbox_id bigint NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE FUNCTION storm_note_processed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO storm_processed (inbox_id) VALUES (NEW.id); RETURN NEW; END $$;
CREATE TRIGGER storm_processed_insert AFTER INSERT ON inbox FOR EACH ROW
    WHEN (NEW.status = 'processed') EXECUTE FUNCTION storm_note_processed();
CREATE TRIGGER storm_processed_update AFTER UPDATE OF status ON inbox FOR EACH ROW
    WHEN (NEW.status = 'processed') EXECUTE FUNCTION storm_note_processed();
"""
# Counts that must be 0 for the round to pass.
ZERO_COUNTS = (
    "undelivered",
    "lost",
    "processed_twice",
    "forged_accepted",
    "malformed_stored_as_processed",
    "carts_differing",
    "processes_died",
)


@dataclass
class Options:
    deliveries: int = 10_000
    seed: int = 7
    rate: float = 40.0  # deliveries sent per second (resends included)
    senders: int = 4
    redis_at: float = 0.25  # when the outage starts, as a share of the stream's planned duration
    redis_down: float = 10.0  # seconds
    redis_forgets: bool = False  # restart Redis empty (its queued jobs lost)
    pg_at: float = 0.5
    pg_down: float = 10.0
    kill_at: float = 0.7
    replace_after: float = 2.0  # seconds between the kill and the replacement worker's start
    give_up: float = 900.0  # seconds a genuine delivery keeps being retried (Shopify: 48 hours)
    drain_timeout: float = 600.0
    settle_timeout: float = 90.0
    web_port: int = 0
    keep: bool = False


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    started: float
    ended: float | None = None
    killed: bool = False  # by the storm itself


@dataclass
class Outcome:
    status: int | None = None  # the last answer (None: a connection error or timeout)
    delivered: bool = False
    sends: int = 0
    answers: Counter[str] = field(default_factory=Counter)


class Storm:
    """One round: servers, processes, the stream and the outages; `run()` returns the report."""

    def __init__(self, options: Options) -> None:
        self.o = options
        self.t0 = time.monotonic()
        self.events: list[tuple[float, str]] = []
        self.processes: list[Process] = []
        self.lock = threading.Lock()
        self.outcomes: dict[str, Outcome] = {}
        self.last_server_back: float | None = None

    def log(self, message: str) -> None:
        at = time.monotonic() - self.t0
        with self.lock:
            self.events.append((round(at, 1), message))
        print(f"[storm {at:7.1f}s] {message}", file=sys.stderr, flush=True)  # noqa: T201 - progress

    # --- servers and processes ---------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        workdir = Path(tempfile.mkdtemp(prefix="storepulse-storm-"))
        pg_dir = Path(tempfile.mkdtemp(prefix="storepulse-storm-pg-"))  # PostgreSQL's user owns it
        (workdir / "redis").mkdir()
        self.pg = RestartablePostgres(pg_dir)
        self.redis = RestartableRedis(workdir / "redis", persistent=not self.o.redis_forgets)
        try:
            self.url = self.pg.create_database("storm")
            self.log(f"servers up: PostgreSQL in {pg_dir}, Redis in {workdir / 'redis'}")
            self.store_id = self._prepare_store()
            self.port = self.o.web_port or _free_port()
            self.env = self._environment(workdir)
            self.commands = procfile_commands()
            self._start("web")
            self._start("worker")
            self._start("worker")
            self._start("scheduler")
            _wait_for_web(self.port)
            self.log(f"web up on port {self.port}")
            return self._storm()
        finally:
            from integration.store.db import dispose_engines

            self._stop_all()
            dispose_engines()
            self.redis.stop()
            self.pg.stop()
            if self.o.keep:
                self.log(f"kept: {workdir} and {pg_dir}")
            else:
                shutil.rmtree(workdir, ignore_errors=True)
                shutil.rmtree(pg_dir, ignore_errors=True)

    def _prepare_store(self) -> int:
        from integration.accounts import add_store, create_account
        from integration.store import session_scope
        from integration.store.db import dispose_engines, upgrade
        from integration.store.models import Platform

        upgrade(self.url)
        with session_scope(self.url) as session:
            account = create_account(session, "storm")
            account.abandonment_delay_minutes = int(ss.DELAY.total_seconds() // 60)
            account.recovery_window_days = ss.RECOVERY.days
            store = add_store(
                session,
                account.id,
                platform=Platform.SHOPIFY,
                name="storm",
                currency="USD",
                shop_domain=ss.SHOP,
            )
            store_id = store.id
            session.execute(text(AUDIT_SQL))
        dispose_engines()
        return store_id

    def _environment(self, workdir: Path) -> dict[str, str]:
        bindir = str(Path(sys.executable).parent)
        return {
            **os.environ,
            "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}",
            "PORT": str(self.port),
            "DATABASE_URL": self.url,
            "REDIS_URL": self.redis.url,
            "SHOPIFY_API_KEY": "storm-api-key",
            "SHOPIFY_API_SECRET": ss.SECRET,
            "SECRET_KEY": "storm-secret-key-0123456789",
            "STOREPULSE_ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "STOREPULSE_INSTANCE_PATH": str(workdir / "instance"),
            "APP_URL": "https://storm.example",
        }

    def _start(self, kind: str) -> Process:
        n = 1 + sum(p.name.startswith(kind) for p in self.processes)
        name = f"{kind}-{n}"
        log = Path(self.env["STOREPULSE_INSTANCE_PATH"]).parent / f"{name}.log"
        with log.open("wb") as out:
            # As a Procfile runner does: the line through a shell, which becomes the process itself.
            popen = subprocess.Popen(
                ["/bin/sh", "-c", f"exec {self.commands[kind]}"],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, killed whole like a container
            )
        process = Process(name, popen, log, time.monotonic() - self.t0)
        self.processes.append(process)
        self.log(f"started {name} (pid {popen.pid})")
        return process

    def _watch(self, stop: threading.Event) -> None:
        while not stop.wait(0.5):
            for p in list(self.processes):
                if p.ended is None and p.popen.poll() is not None:
                    p.ended = time.monotonic() - self.t0
                    how = "killed by the storm" if p.killed else f"DIED (exit {p.popen.returncode})"
                    self.log(f"{p.name} {how}")

    def _stop_all(self) -> None:
        for p in self.processes:
            if p.popen.poll() is None:
                try:
                    os.killpg(p.popen.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for p in self.processes:
            try:
                p.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.popen.pid, signal.SIGKILL)
                p.popen.wait()

    # --- the storm ---------------------------------------------------------------------------

    def _storm(self) -> dict[str, Any]:
        stream = ss.build_stream(self.o.deliveries, self.o.seed, datetime.now(UTC))
        self.stream = stream
        duration = len(stream.sends) / self.o.rate
        self.log(
            f"stream: {len(stream.deliveries)} deliveries, {len(stream.sends)} sends over ~{duration:.0f} s"
        )
        stop_watch = threading.Event()
        watcher = threading.Thread(target=self._watch, args=(stop_watch,), daemon=True)
        watcher.start()
        chaos = threading.Thread(target=self._chaos, args=(duration,))
        started = time.monotonic()
        chaos.start()
        self._send(stream, started, duration)
        chaos.join()
        sent_seconds = time.monotonic() - started
        self.log(f"stream sent in {sent_seconds:.0f} s")
        drain = self._wait_for_empty_inbox()
        self._settle_carts()
        stop_watch.set()
        watcher.join()
        report = self._check(stream)
        report["timing"] = {
            "stream_seconds": round(sent_seconds, 1),
            "inbox_empty_seconds_after_last_server_returned": drain,
            "total_seconds": round(time.monotonic() - self.t0, 1),
        }
        report["events"] = [f"{at:7.1f}s {message}" for at, message in self.events]
        return report

    def _chaos(self, duration: float) -> None:
        events = ((self.o.redis_at, "redis"), (self.o.pg_at, "pg"), (self.o.kill_at, "kill"))
        plan = sorted((at * duration, what) for at, what in events if at >= 0)  # a negative share: none
        start = time.monotonic()
        for at, what in plan:
            time.sleep(max(0.0, start + at - time.monotonic()))
            if what == "redis":
                self.log(f"stopping Redis for {self.o.redis_down:.0f} s")
                self.redis.stop()
                time.sleep(self.o.redis_down)
                self.redis.start()
                self.last_server_back = time.monotonic()
                self.log("Redis is back")
            elif what == "pg":
                self.log(f"stopping PostgreSQL for {self.o.pg_down:.0f} s")
                self.pg.stop()
                time.sleep(self.o.pg_down)
                self.pg.start()
                self.last_server_back = time.monotonic()
                self.log("PostgreSQL is back")
            else:
                alive = [p for p in self.processes if p.name.startswith("worker") and p.popen.poll() is None]
                if not alive:
                    self.log("no worker alive to kill")
                    continue
                victim = alive[0]
                victim.killed = True
                self.log(f"SIGKILL {victim.name} (pid {victim.popen.pid})")
                os.killpg(victim.popen.pid, signal.SIGKILL)
                time.sleep(self.o.replace_after)
                self._start("worker")

    def _send(self, stream: ss.Stream, started: float, duration: float) -> None:
        queue: list[tuple[float, int, int, int]] = []  # (due, serial, delivery index, attempt)
        for serial, (place, index) in enumerate(stream.sends):
            queue.append((started + place * duration, serial, index, 0))
        heapq.heapify(queue)
        for d in stream.deliveries:
            self.outcomes[d.webhook_id] = Outcome()
        condition = threading.Condition()
        busy = [0]
        serial_next = [len(queue)]

        def worker() -> None:
            rng = random.Random()
            conn: http.client.HTTPConnection | None = None
            while True:
                with condition:
                    while True:
                        if not queue:
                            if busy[0] == 0:
                                condition.notify_all()
                                if conn is not None:
                                    conn.close()
                                return
                            condition.wait(0.5)
                            continue
                        due = queue[0][0]
                        now = time.monotonic()
                        if due <= now:
                            _, _, index, attempt = heapq.heappop(queue)
                            busy[0] += 1
                            break
                        condition.wait(min(0.5, due - now))
                delivery = stream.deliveries[index]
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=SHOPIFY_TIMEOUT_SECONDS)
                status = _post(conn, delivery)
                if status is None:
                    conn.close()
                    conn = None
                again = self._record(delivery, status, started)
                with condition:
                    if again:
                        wait = min(10.0, 0.5 * 2**attempt) * rng.uniform(0.5, 1.5)
                        serial_next[0] += 1
                        heapq.heappush(queue, (time.monotonic() + wait, serial_next[0], index, attempt + 1))
                    busy[0] -= 1
                    condition.notify_all()

        threads = [threading.Thread(target=worker) for _ in range(self.o.senders)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def _record(self, delivery: ss.Delivery, status: int | None, started: float) -> bool:
        """Note an answer; whether to send the delivery again, as Shopify would."""
        with self.lock:
            outcome = self.outcomes[delivery.webhook_id]
            outcome.sends += 1
            outcome.status = status
            outcome.answers[str(status or "error")] += 1
            if status == 200:
                outcome.delivered = True
                return False
        if delivery.kind == ss.FORGED:
            return False  # a forger does not retry
        if delivery.kind == ss.MALFORMED and status is not None and 400 <= status < 500:
            return False  # refused for what it is: final
        return time.monotonic() - started < self.o.give_up

    def _inbox_pending(self) -> int | None:
        from integration.store import session_scope
        from integration.store.models import InboxDelivery, InboxStatus

        try:
            with session_scope(self.url) as session:
                return session.scalar(
                    select(func.count())
                    .select_from(InboxDelivery)
                    .where(InboxDelivery.status == InboxStatus.PENDING)
                )
        except Exception:  # noqa: BLE001 - the database may still be coming back
            return None

    def _wait_for_empty_inbox(self) -> float | None:
        back = self.last_server_back or time.monotonic()
        deadline = time.monotonic() + self.o.drain_timeout
        last_seen = None
        while time.monotonic() < deadline:
            pending = self._inbox_pending()
            if pending == 0:
                seconds = round(time.monotonic() - back, 1)
                self.log(f"inbox empty, {seconds} s after the last server returned")
                return seconds
            if pending != last_seen:
                self.log(f"inbox: {pending} pending")
                last_seen = pending
            time.sleep(1.0)
        self.log(f"inbox still not empty after {self.o.drain_timeout:.0f} s")
        return None

    def _settle_carts(self) -> None:
        """Let the scheduler's cart job run once more after the last delivery was processed."""
        import redis

        try:
            # The job runs once a minute; removing its throttle key makes it due at the next tick.
            with redis.Redis.from_url(self.redis.url) as client:
                client.delete("storepulse:schedule:mark-abandoned-checkouts")
        except redis.RedisError as exc:
            self.log(f"could not reach Redis: {exc}")
        deadline = time.monotonic() + self.o.settle_timeout
        while time.monotonic() < deadline:
            expected = ss.expected_state(self.stream, self._delivered())
            if not self._cart_differences(expected.carts):
                self.log("carts settled")
                return
            time.sleep(2.0)
        self.log(f"carts still differ after {self.o.settle_timeout:.0f} s")

    def _delivered(self) -> set[str]:
        return {wid for wid, o in self.outcomes.items() if o.delivered}

    # --- the check ---------------------------------------------------------------------------

    def _cart_differences(self, carts: dict[str, str]) -> Counter[str]:
        from integration.store import session_scope
        from integration.store.models import Checkout

        with session_scope(self.url) as session:
            stored = dict(
                session.execute(
                    select(Checkout.token, Checkout.state).where(Checkout.store_id == self.store_id)
                ).all()
            )
        differing: Counter[str] = Counter()
        for token, outcome in carts.items():
            got = stored.get(token)
            got_name = got.value if got is not None else "missing"
            if got_name != outcome:
                differing[f"{outcome} -> {got_name}"] += 1
        return differing

    def _check(self, stream: ss.Stream) -> dict[str, Any]:
        from integration.store import session_scope
        from integration.store.models import (
            Checkout,
            Contact,
            InboxDelivery,
            InboxStatus,
            Order,
            OrderLineItem,
            StoreCustomer,
        )

        delivered = self._delivered()
        expected = ss.expected_state(stream, delivered)
        with session_scope(self.url) as session:
            inbox = {
                r.delivery_id: (r.id, r.status, r.attempts)
                for r in session.execute(
                    select(
                        InboxDelivery.id,
                        InboxDelivery.delivery_id,
                        InboxDelivery.status,
                        InboxDelivery.attempts,
                    )
                )
            }
            errors = dict(
                session.execute(
                    select(InboxDelivery.delivery_id, InboxDelivery.last_error).where(
                        InboxDelivery.status != InboxStatus.PROCESSED
                    )
                ).all()
            )
            twice = set(
                session.scalars(
                    text("SELECT inbox_id FROM storm_processed GROUP BY inbox_id HAVING count(*) > 1")
                )
            )
            customers: dict[str, list[tuple[int, str, str | None, str | None]]] = {}
            for ext, cid, email, first, last in session.execute(
                select(
                    StoreCustomer.external_id,
                    Contact.id,
                    Contact.email,
                    Contact.first_name,
                    Contact.last_name,
                )
                .join(Contact, Contact.id == StoreCustomer.contact_id)
                .where(StoreCustomer.store_id == self.store_id)
            ):
                customers.setdefault(ext, []).append((cid, email, first, last))
            contacts = dict(session.execute(select(Contact.id, Contact.email)).all())
            items = (
                select(func.count())
                .select_from(OrderLineItem)
                .where(OrderLineItem.order_id == Order.id)
                .scalar_subquery()
            )
            orders: dict[str, list[Any]] = {}
            for row in session.execute(
                select(
                    Order.external_id,
                    Order.updated_at,
                    Order.total_price,
                    Order.financial_status,
                    Order.email,
                    items.label("items"),
                ).where(Order.store_id == self.store_id)
            ):
                orders.setdefault(row.external_id, []).append(row)
            checkouts = Counter(
                session.scalars(select(Checkout.token).where(Checkout.store_id == self.store_id))
            )
            checkout_emails = set(session.scalars(select(Checkout.email).where(Checkout.email.is_not(None))))

        # Deliveries: every genuine one accepted must have been processed, exactly once.
        genuine = [d for d in stream.deliveries if d.kind == ss.GENUINE]
        undelivered = [d.webhook_id for d in genuine if d.webhook_id not in delivered]
        stuck = [
            {"webhook_id": d.webhook_id, "topic": d.topic, "status": inbox[d.webhook_id][1].value,
             "attempts": inbox[d.webhook_id][2], "error": (errors.get(d.webhook_id) or "")[:300]}
            for d in genuine
            if d.webhook_id in inbox and inbox[d.webhook_id][1] != InboxStatus.PROCESSED
        ]  # fmt: skip
        not_processed = Counter(
            "missing" if d.webhook_id not in inbox else inbox[d.webhook_id][1].value
            for d in genuine
            if d.webhook_id in delivered
            and (d.webhook_id not in inbox or inbox[d.webhook_id][1] != InboxStatus.PROCESSED)
        )
        twice_deliveries = [wid for wid, (rid, _, _) in inbox.items() if rid in twice]

        # Records: each customer and order as its newest accepted version says.
        wrong_customers: Counter[str] = Counter()
        for ext, want in expected.customers.items():
            rows = customers.get(ext)
            if not rows:
                wrong_customers["missing"] += 1
                continue
            _, email, first, last = rows[0]
            for name, got in (("email", email), ("first_name", first), ("last_name", last)):
                if (got or "").lower() != (want[name] or "").lower():
                    wrong_customers[f"wrong {name}"] += 1
        wrong_orders: Counter[str] = Counter()
        for ext, want in expected.orders.items():
            rows = orders.get(ext)
            if not rows:
                wrong_orders["missing"] += 1
                continue
            row = rows[0]
            if row.updated_at != want["updated_at"]:
                wrong_orders["not the newest version"] += 1
            elif row.total_price != want["total_price"] or row.financial_status != want["financial_status"]:
                wrong_orders["wrong fields"] += 1
            elif row.items < want["line_items"]:
                wrong_orders["line items missing"] += 1

        # Duplicate rows.
        linked = {cid for rows in customers.values() for cid, *_ in rows}
        genuine_emails = {
            e.lower() for versions in stream.customers.values() for e in (b["email"] for b in versions)
        }
        duplicates = Counter(
            {
                "customers linked twice": sum(len(r) - 1 for r in customers.values() if len(r) > 1),
                "orders stored twice": sum(len(r) - 1 for r in orders.values() if len(r) > 1),
                "checkouts stored twice": sum(n - 1 for n in checkouts.values() if n > 1),
                "orders with extra line items": sum(
                    1
                    for ext, want in expected.orders.items()
                    if orders.get(ext) and orders[ext][0].items > want["line_items"]
                ),
                "contacts beside the customer's own": sum(
                    1
                    for cid, email in contacts.items()
                    if cid not in linked and email.lower() in genuine_emails
                ),
            }
        )

        # Forged and malformed deliveries: nothing of them anywhere.
        markers_found = (
            {e.lower() for e in contacts.values()}
            | {(r.email or "").lower() for rows in orders.values() for r in rows}
            | {e.lower() for e in checkout_emails}
        )
        foreign_orders = stream.foreign_ids.get("order", set())
        foreign_customers = stream.foreign_ids.get("customer", set())

        def landed(d: ss.Delivery) -> bool:
            kind, key = d.entity
            return bool(
                (d.marker and d.marker.lower() in markers_found)
                or (kind == "order" and key in foreign_orders and key in orders)
                or (kind == "customer" and key in foreign_customers and key in customers)
            )

        forged = [d for d in stream.deliveries if d.kind == ss.FORGED]
        forged_accepted = [d.webhook_id for d in forged if d.webhook_id in inbox or landed(d)]
        malformed = [d for d in stream.deliveries if d.kind == ss.MALFORMED]
        malformed_processed = [
            d.webhook_id
            for d in malformed
            if (d.webhook_id in inbox and inbox[d.webhook_id][1] == InboxStatus.PROCESSED) or landed(d)
        ]
        carts = self._cart_differences(expected.carts)

        died = [
            {
                "process": p.name,
                "exit": p.popen.returncode if p.popen.returncode is not None else p.popen.poll(),
                "at_seconds": p.ended,
                "last_log_lines": _tail(p.log, 4),
            }
            for p in self.processes
            if not p.killed and (p.ended is not None or p.popen.poll() is not None)
        ]
        answers: Counter[str] = Counter()
        for o in self.outcomes.values():
            answers.update(o.answers)
        lost = sum(not_processed.values()) + sum(wrong_customers.values()) + sum(wrong_orders.values())
        report: dict[str, Any] = {
            "seed": self.o.seed,
            "deliveries": len(stream.deliveries),
            "sends": sum(o.sends for o in self.outcomes.values()),
            "answers": dict(sorted(answers.items())),
            "delivered": len(delivered),
            "genuine": len(genuine),
            "forged": len(forged),
            "malformed": len(malformed),
            "duplicates_sent": len(stream.sends) - len(stream.deliveries),
            "expected": {
                "customers": len(expected.customers),
                "orders": len(expected.orders),
                "carts": dict(Counter(expected.carts.values())),
            },
            "undelivered": len(undelivered),
            "lost": lost,
            "lost_detail": {
                "deliveries not processed": dict(not_processed),
                "customers": dict(wrong_customers),
                "orders": dict(wrong_orders),
            },
            "not_processed_examples": stuck[:5],
            "deadlocks_in_database_log": _count_in(self.pg.log_path, "deadlock detected"),
            "processed_twice": len(twice_deliveries) + sum(duplicates.values()),
            "processed_twice_detail": {
                "deliveries processed more than once": len(twice_deliveries),
                **{k: v for k, v in duplicates.items() if v},
            },
            "forged_accepted": len(forged_accepted),
            "malformed_stored_as_processed": len(malformed_processed),
            "malformed_answers": dict(Counter(str(self.outcomes[d.webhook_id].status) for d in malformed)),
            "carts_differing": sum(carts.values()),
            "carts_differing_detail": dict(carts),
            "processes_died": len(died),
            "processes_died_detail": died,
            "killed_by_storm": [p.name for p in self.processes if p.killed],
            "inbox_attempts_over_1": sum(1 for _, _, a in inbox.values() if a > 1),
        }
        report["passed"] = all(report[k] == 0 for k in ZERO_COUNTS)
        return report


def procfile_commands(path: Path = PROCFILE) -> dict[str, str]:
    """The Procfile's process types and their command lines."""
    commands = {}
    for line in path.read_text().splitlines():
        name, sep, command = line.partition(":")
        if sep and name.strip() and not name.startswith("#"):
            commands[name.strip()] = command.strip()
    return commands


def _post(conn: http.client.HTTPConnection, d: ss.Delivery) -> int | None:
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": d.topic,
        "X-Shopify-Shop-Domain": ss.SHOP,
        "X-Shopify-API-Version": "2026-07",
        "X-Shopify-Webhook-Id": d.webhook_id,
        "X-Shopify-Event-Id": f"event-{d.webhook_id}",
        "X-Shopify-Triggered-At": d.triggered_at,
    }
    if d.signature is not None:
        headers["X-Shopify-Hmac-Sha256"] = d.signature
    try:
        conn.request("POST", "/webhooks/shopify", body=d.body, headers=headers)
        response = conn.getresponse()
        response.read()
    except (OSError, http.client.HTTPException):
        return None
    if response.getheader("Connection", "").lower() == "close":
        conn.close()
    return response.status


def _count_in(path: Path, needle: str) -> int:
    try:
        return path.read_text(errors="replace").count(needle)
    except OSError:
        return 0


def _tail(path: Path, lines: int) -> list[str]:
    try:
        return path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return []


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_web(port: int, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            try:
                conn.request("GET", "/ping")
                if conn.getresponse().status == 200:
                    return
            finally:
                conn.close()
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the web process did not answer on port {port} within {seconds:.0f} s")
        time.sleep(0.2)


def render(report: dict[str, Any]) -> str:
    """The report as text: the counts that must be 0 first, then the details."""
    lines = [
        f"storm round, seed {report['seed']}: {report['deliveries']} deliveries "
        f"({report['genuine']} genuine, {report['forged']} forged, {report['malformed']} malformed), "
        f"{report['duplicates_sent']} resent with the same id, {report['sends']} requests",
        f"answers: {report['answers']}",
        f"delivered (got a 200): {report['delivered']}",
    ]
    for key in ZERO_COUNTS:
        value = report[key]
        detail = report.get(f"{key}_detail")
        flag = "ok " if value == 0 else "BAD"
        lines.append(
            f"  {flag} {key.replace('_', ' ')}: {value}"
            + (f"  {json.dumps(detail)}" if value and detail else "")
        )
    if report["not_processed_examples"]:
        lines.append(f"  deliveries not processed, e.g.: {json.dumps(report['not_processed_examples'])}")
    lines.append(f"  deadlocks in the database log: {report['deadlocks_in_database_log']}")
    timing = report["timing"]
    drain = timing["inbox_empty_seconds_after_last_server_returned"]
    lines.append(
        f"inbox empty {drain} s after the last server returned; "
        f"stream {timing['stream_seconds']} s, round {timing['total_seconds']} s"
    )
    lines.append("events:")
    lines.extend(f"  {e}" for e in report["events"])
    lines.append("PASSED" if report["passed"] else "FAILED")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    defaults = Options()
    parser.add_argument("--deliveries", type=int, default=defaults.deliveries)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument(
        "--rate", type=float, default=defaults.rate, help="requests per second (resends included)"
    )
    parser.add_argument("--senders", type=int, default=defaults.senders, help="concurrent sending threads")
    parser.add_argument(
        "--redis-at", type=float, default=defaults.redis_at, help="share of the stream (0-1); -1: none"
    )
    parser.add_argument("--redis-down", type=float, default=defaults.redis_down, help="seconds")
    parser.add_argument("--redis-forgets", action="store_true", help="restart Redis empty")
    parser.add_argument(
        "--pg-at", type=float, default=defaults.pg_at, help="share of the stream (0-1); -1: none"
    )
    parser.add_argument("--pg-down", type=float, default=defaults.pg_down, help="seconds")
    parser.add_argument(
        "--kill-at", type=float, default=defaults.kill_at, help="share of the stream (0-1); -1: none"
    )
    parser.add_argument("--replace-after", type=float, default=defaults.replace_after, help="seconds")
    parser.add_argument("--give-up", type=float, default=defaults.give_up, help="seconds of retrying")
    parser.add_argument("--drain-timeout", type=float, default=defaults.drain_timeout, help="seconds")
    parser.add_argument("--settle-timeout", type=float, default=defaults.settle_timeout, help="seconds")
    parser.add_argument("--keep", action="store_true", help="keep the servers' folders and the process logs")
    parser.add_argument("--json", action="store_true", dest="as_json")
    args = parser.parse_args(argv)
    options = Options(**{k: v for k, v in vars(args).items() if k != "as_json"})
    report = Storm(options).run()
    print(json.dumps(report, indent=2, default=str) if args.as_json else render(report))  # noqa: T201
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
