"""Cart events: each cart transition (abandoned, recovered) as an uncounted event on its contact."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import BigInteger, String, cast, delete, literal, select
from sqlalchemy.orm import Session

from integration.store.bulk import chunks, insert_for
from integration.store.models import Checkout, InteractionEvent, InteractionType, table_of
from integration.store.types import JSONDocument, UTCDateTime, utcnow

EVENT_SOURCE = "carts"


def record(session: Session, account_id: int, checkout_ids: Sequence[int], kind: InteractionType) -> None:
    """Record cart transitions as (uncounted) events on their contacts, once each, set-based."""
    at = Checkout.abandoned_at if kind == InteractionType.CART_ABANDONED else Checkout.recovered_at
    events = table_of(InteractionEvent)
    for part in chunks(list(checkout_ids), 10_000):
        rows = select(
            literal(account_id, BigInteger()),
            Checkout.contact_id,
            Checkout.store_id,
            literal(kind.value, String()),
            at,
            literal(False),  # noqa: FBT003 - a SQL literal, not a flag
            literal(EVENT_SOURCE, String()),
            cast(Checkout.id, String) + literal(f":{kind.value}", String()),
            literal({}, JSONDocument),
            literal(utcnow(), UTCDateTime()),
        ).where(Checkout.id.in_(part), Checkout.contact_id.is_not(None), at.is_not(None))
        session.execute(
            insert_for(session, events)
            .from_select(
                [
                    "account_id",
                    "contact_id",
                    "store_id",
                    "type",
                    "occurred_at",
                    "counted",
                    "source",
                    "source_event_id",
                    "attributes",
                    "ingested_at",
                ],
                rows,
            )
            .on_conflict_do_nothing(index_elements=["account_id", "source", "source_event_id"])
        )


def withdraw(session: Session, account_id: int, checkout_ids: Sequence[int], kind: InteractionType) -> None:
    """Withdraw the cart events of checkouts whose transition turned out not to have happened."""
    for part in chunks([f"{c}:{kind.value}" for c in checkout_ids], 10_000):
        session.execute(
            delete(InteractionEvent).where(
                InteractionEvent.account_id == account_id,
                InteractionEvent.source == EVENT_SOURCE,
                InteractionEvent.source_event_id.in_(part),
            )
        )
