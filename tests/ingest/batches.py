"""Deliveries received and processed as one batch of the inbox, as a worker's drain takes them."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import select

from connectors import SOURCES
from integration import inbox
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
