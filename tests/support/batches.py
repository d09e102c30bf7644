"""Deliveries in the inbox: stored for a drain to take, or received and processed as one batch."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from connectors.registry import SOURCES
from integration.ingest import inbox
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import InboxDelivery, InboxStatus
from tests.support.shopify import SHOP, connect_shop, payload


def process_batch(db_url: str, store_id: int, source: str, deliveries: list[tuple[str, Any]]) -> None:
    """Receive the deliveries (topic, body) and process them together; each must end processed."""
    run = uuid.uuid4().hex
    with session_scope(db_url) as session:
        ids = [
            inbox.receive(
                session,
                source=source,
                topic=topic,
                delivery_id=f"{run}-{n}",
                body=json.dumps(body).encode(),
                store_id=store_id,
                signature_verified=source == "shopify",
            ).id
            for n, (topic, body) in enumerate(deliveries)
        ]
        inbox.process(session, ids, SOURCES)
        statuses = session.scalars(select(InboxDelivery.status).where(InboxDelivery.id.in_(ids))).all()
        assert set(statuses) == {InboxStatus.PROCESSED}


def api_orders_of_one_customer(
    customer_id: str, first: str, second: str, at: datetime
) -> list[dict[str, Any]]:
    """Two API orders of one customer: order "1" at `at` with email `first`, "2" a day later with `second`."""
    return [
        {
            "id": str(n),
            "customer_id": customer_id,
            "email": email,
            "created_at": when.isoformat(),
            "updated_at": when.isoformat(),
            "currency": "EUR",
            "total_price": "10.00",
        }
        for n, email, when in ((1, first, at), (2, second, at + timedelta(days=1)))
    ]


# With its consent in the payload a new customer needs no read from Shopify (no test reaches it).
CONSENT = {
    "email_marketing_consent": {
        "state": "subscribed",
        "opt_in_level": "single_opt_in",
        "consent_updated_at": "2026-07-09T10:05:00-04:00",
    }
}


def processed(url: str) -> int:
    with session_scope(url) as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(InboxDelivery)
                .where(InboxDelivery.status == InboxStatus.PROCESSED)
            )
            or 0
        )


def store_deliveries(settings: Settings, count: int) -> int:
    """Connect a Shopify store and store `count` signed customers/create deliveries; return its id."""
    customer = payload("customers_create")
    store_id = connect_shop(settings)
    with session_scope(settings.database_url) as session:
        for n in range(count):
            body = {**customer, "id": 900_000 + n, "email": f"customer{n}@example.com", **CONSENT}
            inbox.receive(
                session,
                source="shopify",
                topic="customers/create",
                delivery_id=f"drain-{n}",
                body=json.dumps(body).encode(),
                store_id=store_id,
                headers={"X-Shopify-Topic": "customers/create", "X-Shopify-Shop-Domain": SHOP},
                signature_verified=True,
            )
    return store_id
