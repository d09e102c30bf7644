"""Run the demo: a fresh demo account fed through the inbox, drained by a real worker process."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import tempfile
import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import delete, func, select

from integration.accounts import add_store, create_account, create_api_key
from integration.analytics.summary import account_summary
from integration.campaigns import results as campaign_results
from integration.commerce import carts
from integration.demo import generator as demo
from integration.ingest import inbox
from integration.settings import Settings
from integration.store import session_scope
from integration.store.db import upgrade
from integration.store.models import Account, InboxDelivery, InboxStatus, Platform, Role, User
from integration.store.redis import connection
from integration.users import create_user
from jobs.ingest import process_inbox_job
from jobs.queues import INGEST, enqueue

DEMO_ACCOUNT = "Demo Boutique"
# The demo account's owner, who signs in to the admin; a new password each run, printed once.
DEMO_OWNER = "owner@demo.storepulse.example"
POLL_SECONDS = 0.25
STOREFRONT_JOB = 200  # deliveries a job normalizes together (one store's go in one call)


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description:<28}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def run_demo(settings: Settings, *, contacts: int, seed: int, console: Console) -> tuple[dict[str, Any], str]:
    """Build the demo account from scratch; return its summary (with each campaign's results and the
    owner's sign-in to the admin) and a new API key for it."""
    with console.status("Preparing the store and queues"):
        upgrade(settings.database_url)
        connection(settings).ping()  # start (or join) the embedded Redis before the worker does
        with session_scope(settings.database_url) as session:
            session.execute(delete(Account).where(Account.name == DEMO_ACCOUNT))
            account = create_account(session, DEMO_ACCOUNT, "Europe/Prague")
    with console.status(f"Generating {contacts:,} contacts over two years"):
        data = demo.generate(contacts=contacts, seed=seed)
    with session_scope(settings.database_url) as session:
        stores = [
            add_store(
                session,
                account.id,
                platform=Platform(store["platform"]),
                name=store["name"],
                currency=store["currency"],
                time_zone=store["time_zone"],
                shop_domain=store.get("shop_domain"),
            )
            for store in data.stores
        ]
        store_ids = [store.id for store in stores]
        keys = [store.public_key for store in stores]
        _, token = create_api_key(session, account.id, "demo")
        session.execute(delete(User).where(User.email == DEMO_OWNER))  # a user left by an older demo
        password = secrets.token_urlsafe(12)
        create_user(session, account.id, DEMO_OWNER, password, Role.OWNER)

    run = demo.new_run_id()
    for phase, label in enumerate(("customers, carts, events", "orders")):
        ids = _deliver(settings, data, phase, run, store_ids, console, label)
        _drain(settings, ids, console, f"Processing {label}")
        if phase == 0:
            # Carts left open by now are abandoned before the orders that recover some of them
            # arrive (after the phase's deliveries: the worker takes its queues in turn).
            with session_scope(settings.database_url) as session:
                carts.mark_abandoned(session)
    ids = _deliver_storefront(settings, data, run, store_ids, keys, console)
    _drain(settings, ids, console, "Processing storefront visits")
    with session_scope(settings.database_url) as session:
        summary = account_summary(session, account.id)
        # The same figures as GET /api/v1/campaigns, oldest campaign first.
        page = campaign_results.list_campaigns(session, account.id, limit=campaign_results.MAX_LIMIT)
        summary["campaign_results"] = page["campaigns"][::-1]
        summary["admin"] = {"url": f"{settings.app_url}/admin/", "email": DEMO_OWNER, "password": password}
        return summary, token


def _deliver(
    settings: Settings,
    data: demo.DemoData,
    phase: int,
    run: str,
    store_ids: list[int],
    console: Console,
    label: str,
) -> dict[int, int]:
    """Store the phase's deliveries in the inbox and enqueue their processing; return id → records."""
    ids: dict[int, int] = {}
    with _progress(console) as progress:
        task = progress.add_task(f"Receiving {label}", total=data.count(phase))
        for store_index, topic, delivery_id, body, count in data.deliveries(phase, run):
            with session_scope(settings.database_url) as session:
                received = inbox.receive(
                    session,
                    source="api",
                    topic=topic,
                    delivery_id=delivery_id,
                    body=body,
                    store_id=store_ids[store_index],
                )
            enqueue(settings, INGEST, process_inbox_job, [received.id])
            ids[received.id] = count
            progress.advance(task, count)
        # The WooCommerce shop's webhooks, stored as its receiver stores them (one record each).
        shop = next(i for i, s in enumerate(data.stores) if s["platform"] == "woocommerce")
        woo: list[int] = []
        with session_scope(settings.database_url) as session:
            for n, (topic, document) in enumerate(data.woocommerce[phase]):
                received = inbox.receive(
                    session,
                    source="woocommerce",
                    topic=topic,
                    delivery_id=f"{store_ids[shop]}:demo-{run}-{phase}-{n}",
                    body=json.dumps(document, separators=(",", ":")).encode(),
                    store_id=store_ids[shop],
                )
                ids[received.id] = 1
                woo.append(received.id)
        for start in range(0, len(woo), STOREFRONT_JOB):
            enqueue(settings, INGEST, process_inbox_job, woo[start : start + STOREFRONT_JOB])
        progress.advance(task, len(woo))
    return ids


def _deliver_storefront(
    settings: Settings,
    data: demo.DemoData,
    run: str,
    store_ids: list[int],
    keys: list[str],
    console: Console,
) -> dict[int, int]:
    """Store the last day's storefront batches as the collector stores them (the pixel's for the
    Shopify store, the snippet's for the other, with each store's public key); return id → events."""
    ids: dict[int, int] = {}
    with _progress(console) as progress:
        task = progress.add_task(
            "Receiving storefront visits", total=sum(len(b) for b in data.storefront.values())
        )
        for store_index, batches in data.storefront.items():
            with session_scope(settings.database_url) as session:
                for n, batch in enumerate(batches):
                    body = json.dumps({**batch, "key": keys[store_index]}, separators=(",", ":")).encode()
                    received = inbox.receive(
                        session,
                        source="storefront",
                        topic="events",
                        delivery_id=f"demo-{run}-storefront-{store_index}-{n}",
                        body=body,
                        store_id=store_ids[store_index],
                    )
                    ids[received.id] = len(batch["events"])
            progress.advance(task, len(batches))
    for start in range(0, len(ids), STOREFRONT_JOB):
        enqueue(settings, INGEST, process_inbox_job, list(ids)[start : start + STOREFRONT_JOB])
    return ids


def _drain(settings: Settings, ids: dict[int, int], console: Console, label: str) -> None:
    """Run a worker process until the queues are empty, showing records processed."""
    # The worker's log goes to a file, read only if it fails: a pipe nobody reads while the worker
    # runs fills up, and the worker would wait on it holding its transaction.
    log = tempfile.TemporaryFile(mode="w+")
    worker = subprocess.Popen(
        [sys.executable, "-m", "integration.cli", "worker", "--burst"],
        stdout=subprocess.DEVNULL,
        stderr=log,
        text=True,
    )
    with _progress(console) as progress:
        task = progress.add_task(label, total=sum(ids.values()))
        while True:
            finished = worker.poll() is not None
            with session_scope(settings.database_url) as session:
                done = session.scalars(
                    select(InboxDelivery.id).where(
                        InboxDelivery.id.in_(list(ids)), InboxDelivery.status != InboxStatus.PENDING
                    )
                ).all()
            progress.update(task, completed=sum(ids[i] for i in done))
            if finished:
                break
            time.sleep(POLL_SECONDS)
    worker.wait()
    log.seek(0)
    errors = log.read()
    log.close()
    if worker.returncode != 0:
        raise RuntimeError(f"the demo worker failed:\n{errors[-4000:]}")
    with session_scope(settings.database_url) as session:
        failed = session.scalar(
            select(func.count()).where(
                InboxDelivery.id.in_(list(ids)), InboxDelivery.status != InboxStatus.PROCESSED
            )
        )
    if failed:
        raise RuntimeError(f"{failed} demo deliveries were not processed; see `storepulse jobs failed`")
