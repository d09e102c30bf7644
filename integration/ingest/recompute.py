"""Rebuild contacts' last counted interaction from the raw events and orders, for retractions."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import BigInteger, String, and_, func, select, update
from sqlalchemy.orm import Session

from integration.commerce import orders
from integration.store.bulk import among, chunks, rows_table
from integration.store.locks import lock_contacts
from integration.store.models import (
    Contact,
    InteractionEvent,
    InteractionType,
    Order,
    table_of,
)
from integration.store.types import UTCDateTime


def recompute_last_interactions(session: Session, account_id: int, contact_ids: Iterable[int]) -> None:
    """Set each contact's last counted interaction from its events and placed orders.

    Used when something that counted is retracted (a cancelled or voided order, a redacted event);
    everything else moves the value forward at ingest without reading history.
    """
    ids = sorted(set(contact_ids))
    lock_contacts(session, ids)  # a writer moving one of them forward meanwhile is waited for, then read
    for part in chunks(ids):
        newest: dict[int, tuple[datetime, InteractionType] | None] = dict.fromkeys(part)
        latest_event = (
            select(InteractionEvent.contact_id, func.max(InteractionEvent.occurred_at).label("at"))
            .where(among(session, InteractionEvent.contact_id, part), InteractionEvent.counted.is_(True))
            .group_by(InteractionEvent.contact_id)
            .subquery()
        )
        events = session.execute(
            select(InteractionEvent.contact_id, InteractionEvent.occurred_at, InteractionEvent.type).join(
                latest_event,
                and_(
                    InteractionEvent.contact_id == latest_event.c.contact_id,
                    InteractionEvent.occurred_at == latest_event.c.at,
                    InteractionEvent.counted.is_(True),
                ),
            )
        )
        placed_orders = session.execute(
            select(Order.contact_id, func.max(Order.created_at))
            .where(among(session, Order.contact_id, part), orders.placed())
            .group_by(Order.contact_id)
        )
        for contact_id, at, kind in [
            *events,
            *((c, at, InteractionType.ORDER_PLACED) for c, at in placed_orders),
        ]:
            current = newest[contact_id]
            if current is None or at > current[0]:
                newest[contact_id] = (at, kind)
        table = table_of(Contact)
        last = rows_table(
            session,
            "last",
            {"id": BigInteger(), "at": UTCDateTime(), "type": String()},
            [
                {"id": cid, "at": hit[0] if hit else None, "type": hit[1].value if hit else None}
                for cid, hit in newest.items()
            ],
        )
        session.execute(
            update(table)
            .where(table.c.id == last.c.id, table.c.account_id == account_id)
            .values(last_interaction_at=last.c.at, last_interaction_type=last.c.type)
        )
