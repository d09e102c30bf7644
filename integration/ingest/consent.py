"""Consent: subscription changes applied only when newer than the stored one, each logged.

Customers (their consent fields), events (unsubscribes, subscribes) and the Shopify source's consent
topics all change a contact's subscription through here.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, ColumnElement, String, Subquery, Table, and_, literal, or_, select, update
from sqlalchemy.orm import Session

from integration.store.bulk import rows_table
from integration.store.models import Contact, SubscriptionTransition, table_of
from integration.store.types import UTCDateTime, utcnow


def consent_is_newer(table: Table, change: Subquery) -> ColumnElement[bool]:
    """SQL: the change carries a status, and it happened after the stored one."""
    return and_(
        change.c.status.is_not(None),
        or_(table.c.subscription_changed_at.is_(None), table.c.subscription_changed_at < change.c.at),
    )


def log_consent(session: Session, change: Subquery) -> None:
    """Log the subscription changes that `change` (id, status, at, reason) is about to apply."""
    table = table_of(Contact)
    log = table_of(SubscriptionTransition)
    session.execute(
        log.insert().from_select(
            ["account_id", "contact_id", "from_status", "to_status", "changed_at", "at", "reason"],
            select(
                table.c.account_id,
                table.c.id,
                table.c.subscription_status,
                change.c.status,
                change.c.at,
                literal(utcnow(), UTCDateTime()),
                change.c.reason,
            ).where(
                table.c.id == change.c.id,
                consent_is_newer(table, change),
                table.c.subscription_status != change.c.status,
            ),
        )
    )


def apply_consent(session: Session, rows: list[dict[str, Any]]) -> None:
    """Set subscription status where the change (`_at`) is newer than the stored one; log each change.

    Of several changes of one contact in `rows`, the newest applies (the first of equally new ones).
    """
    if not rows:
        return
    newest: dict[int, dict[str, Any]] = {}
    for row in rows:
        if row["_id"] not in newest or row["_at"] > newest[row["_id"]]["_at"]:
            newest[row["_id"]] = row
    change = rows_table(
        session,
        "consent",
        {"id": BigInteger(), "status": String(), "at": UTCDateTime(), "reason": String()},
        [
            {"id": r["_id"], "status": str(r["_status"]), "at": r["_at"], "reason": r["_reason"]}
            for r in newest.values()
        ],
    )
    log_consent(session, change)
    table = table_of(Contact)
    session.execute(
        update(table)
        .where(table.c.id == change.c.id, consent_is_newer(table, change))
        .values(
            subscription_status=change.c.status,
            subscription_changed_at=change.c.at,
            subscription_reason=change.c.reason,
        )
    )
