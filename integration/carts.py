"""Checkouts that nobody completed: open checkouts become abandoned after the account's delay."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.orm import Session

from integration.store.models import Account, Checkout, CheckoutState, Store, table_of
from integration.store.types import utcnow


def mark_abandoned(session: Session, now: datetime | None = None) -> int:
    """Mark open, uncompleted checkouts with a known contact as abandoned once their delay has passed.

    Only checkouts with an email or a customer count (a guest with neither cannot be reached);
    the abandonment time is the last update plus the account's delay. Returns how many changed.
    """
    now = now or utcnow()
    changed = 0
    accounts = session.execute(select(Account.id, Account.abandonment_delay_minutes)).all()
    for account_id, delay_minutes in accounts:
        delay = timedelta(minutes=delay_minutes)
        candidates = session.execute(
            select(Checkout.id, Checkout.updated_at)
            .join(Store, Store.id == Checkout.store_id)
            .where(
                Store.account_id == account_id,
                Checkout.state == CheckoutState.OPEN,
                Checkout.completed_at.is_(None),
                Checkout.deleted_at.is_(None),
                Checkout.updated_at < now - delay,
                or_(Checkout.contact_id.is_not(None), Checkout.email.is_not(None)),
            )
        ).all()
        if not candidates:
            continue
        table = table_of(Checkout)
        session.execute(
            update(table)
            .where(table.c.id == bindparam("_id"), table.c.state == CheckoutState.OPEN.value)
            .values(state=CheckoutState.ABANDONED.value, abandoned_at=bindparam("_at")),
            [{"_id": checkout_id, "_at": updated + delay} for checkout_id, updated in candidates],
        )
        changed += len(candidates)
    return changed
