"""Ingestion throughput: the full inbox → worker path against plain bulk INSERTs of the same rows.

    python -m bench.ingest [--contacts 5000] [--database-url postgresql://...]

Runs `storepulse demo` in a fresh instance folder (wall time, records per second), then inserts the
same generated records as rows into an empty store of the same schema with executemany and nothing
else: no inbox, no queue, no validation, no upsert checks, no classification. That is the ceiling;
the ratio says how much of it the real path reaches.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from cryptography.fernet import Fernet
from sqlalchemy import insert, select

from integration.demo import generator as demo
from integration.store.db import dispose_engines, get_engine, upgrade
from integration.store.models import (
    Account,
    Campaign,
    CampaignSend,
    Checkout,
    Contact,
    InteractionEvent,
    Order,
    OrderLineItem,
    Store,
)


def run_demo(contacts: int, env: dict[str, str]) -> tuple[float, dict[str, object]]:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "integration.cli", "demo", "--contacts", str(contacts), "--json"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return time.perf_counter() - started, json.loads(result.stdout)


def ceiling(url: str, data: demo.DemoData) -> float:
    """Insert the generated records as plain rows; return the seconds it took."""
    upgrade(url)
    engine = get_engine(url)
    started = time.perf_counter()
    with engine.begin() as conn:
        account_id = conn.execute(insert(Account).values(name="ceiling").returning(Account.id)).scalar_one()
        store_ids = []
        for s in data.stores:
            row = {"account_id": account_id, "platform": "api", "name": s["name"], "currency": s["currency"]}
            store_ids.append(conn.execute(insert(Store).values(row).returning(Store.id)).scalar_one())
        records = [
            (store_ids[i], topic, r)
            for p in data.phases
            for i, topics in p.items()
            for topic, rs in topics.items()
            for r in rs
        ]
        emails = sorted({r["email"] for _, t, r in records if t == "customers"})
        conn.execute(insert(Contact), [{"account_id": account_id, "email": e} for e in emails])
        contact_of = dict(conn.execute(select(Contact.email, Contact.id)).all())
        customer_email = {(s, r["id"]): r["email"] for s, t, r in records if t == "customers"}
        campaigns = {r["id"]: r for _, t, r in records if t == "campaigns"}
        conn.execute(insert(Campaign), [
            {"account_id": account_id, "external_id": c["id"], "channel": c["channel"], "name": c["name"]}
            for c in campaigns.values()
        ])  # fmt: skip
        campaign_of = dict(conn.execute(select(Campaign.external_id, Campaign.id)).all())

        def who(store_id: int, r: dict[str, object]) -> int:
            return contact_of[customer_email[(store_id, r["customer_id"])]]

        orders = [(s, r) for s, t, r in records if t == "orders"]
        conn.execute(insert(Order), [
            {"store_id": s, "external_id": r["id"], "contact_id": who(s, r), "currency": r["currency"],
             "total_price": Decimal(r["total_price"]), "created_at": _t(r["created_at"]),
             "updated_at": _t(r["updated_at"])}
            for s, r in orders
        ])  # fmt: skip
        order_of = dict(conn.execute(select(Order.external_id, Order.id)).all())
        conn.execute(insert(OrderLineItem), [
            {"order_id": order_of[r["id"]], "title": li["title"], "quantity": li["quantity"],
             "unit_price": Decimal(li["price"]), "product_id": li["product_id"]}
            for _, r in orders for li in r["line_items"]
        ])  # fmt: skip
        conn.execute(insert(Checkout), [
            {"store_id": s, "token": r["token"], "contact_id": who(s, r), "currency": r["currency"],
             "total_price": Decimal(r["total_price"]), "created_at": _t(r["created_at"]),
             "updated_at": _t(r["updated_at"])}
            for s, t, r in records if t == "checkouts"
        ])  # fmt: skip
        conn.execute(insert(InteractionEvent), [
            {"account_id": account_id, "store_id": s, "contact_id": who(s, r), "source": "api",
             "type": r["type"] if r["type"] != "bounce" else f"{r['bounce_type']}_bounce",
             "occurred_at": _t(r["occurred_at"]), "source_event_id": r["event_id"]}
            for s, t, r in records if t == "events"
        ])  # fmt: skip
        conn.execute(insert(CampaignSend), [
            {"campaign_id": campaign_of[r["campaign_id"]], "contact_id": who(s, r), "status": r["status"]}
            for s, t, r in records if t == "campaign_sends"
        ])  # fmt: skip
    return time.perf_counter() - started


def _t(value: object) -> datetime:
    return datetime.fromisoformat(str(value))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=5000)
    parser.add_argument(
        "--database-url", help="PostgreSQL URL of an empty database (default: embedded SQLite)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        env["STOREPULSE_INSTANCE_PATH"] = str(Path(tmp) / "instance")
        if args.database_url:
            env |= {"DATABASE_URL": args.database_url, "SECRET_KEY": "bench-secret-key-0123456789",
                    "STOREPULSE_ENCRYPTION_KEY": Fernet.generate_key().decode()}  # fmt: skip
        wall, summary = run_demo(args.contacts, env)
        data = demo.generate(args.contacts, seed=7)
        records = data.count()
        # The ceiling writes to the same kind of database (a new account, so nothing collides).
        ceiling_url = args.database_url or f"sqlite:///{Path(tmp) / 'ceiling.sqlite3'}"
        raw = ceiling(ceiling_url, data)
        dispose_engines()
    path = "PostgreSQL" if args.database_url else "embedded SQLite"
    print(f"storepulse demo, {args.contacts:,} contacts, {records:,} records, {path}")
    print(f"  full path (inbox, queue, worker, validation, upserts, classification): {wall:6.1f} s "
          f"({records / wall:,.0f} records/s, demo's own timer {summary['seconds']} s)")  # fmt: skip
    print(f"  ceiling (plain bulk INSERT of the same rows, same database):            {raw:6.1f} s "
          f"({records / raw:,.0f} records/s)")  # fmt: skip
    print(f"  ratio full path / ceiling throughput: {raw / wall:.2f}")


if __name__ == "__main__":
    main()
