"""Deliveries received and processed as one batch of the inbox, as a worker's drain takes them."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from connectors import SOURCES
from integration.ingest import inbox
from integration.store import session_scope
from integration.store.models import InboxDelivery, InboxStatus


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
