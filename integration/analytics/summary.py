"""An account at a glance: contacts by engagement and subscription, orders, revenue, carts, campaigns."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from integration.commerce import orders
from integration.store.models import (
    Account,
    Campaign,
    CampaignSend,
    Checkout,
    Contact,
    InteractionEvent,
    Order,
    Store,
)

CENT = Decimal("0.01")


def account_summary(session: Session, account_id: int) -> dict[str, Any]:
    """Return the headline numbers of one account (grouped SQL, no per-row work)."""
    account = session.get(Account, account_id)
    if account is None:
        raise LookupError(f"no account {account_id}")
    contacts: dict[str, dict[str, int]] = {}
    rows = session.execute(
        select(Contact.engagement_status, Contact.subscription_status, func.count())
        .where(Contact.account_id == account_id, Contact.deleted_at.is_(None))
        .group_by(Contact.engagement_status, Contact.subscription_status)
    )
    for engagement, subscription, count in rows:
        group = contacts.setdefault(engagement.value if engagement else "unclassified", {})
        group[subscription.value] = count
    store_ids = select(Store.id).where(Store.account_id == account_id).scalar_subquery()
    revenue_rows = session.execute(
        select(Order.currency, func.count(), func.sum(orders.net_total()))
        .where(Order.store_id.in_(store_ids), orders.revenue())
        .group_by(Order.currency)
        .order_by(Order.currency)
    ).all()
    all_orders = session.scalar(select(func.count()).where(Order.store_id.in_(store_ids))) or 0
    checkouts = dict(
        session.execute(
            select(Checkout.state, func.count())
            .where(Checkout.store_id.in_(store_ids))
            .group_by(Checkout.state)
        ).all()
    )
    campaign_ids = select(Campaign.id).where(Campaign.account_id == account_id).scalar_subquery()
    return {
        "account": {"id": account.id, "name": account.name, "time_zone": account.time_zone},
        "engagement_window_days": account.engagement_window_days,
        "classified_at": account.classified_at.isoformat() if account.classified_at else None,
        "contacts": {
            "total": sum(sum(g.values()) for g in contacts.values()),
            "by_engagement": contacts,
        },
        "orders": {
            "total": all_orders,
            "revenue": [
                {"currency": currency, "orders": count, "amount": str(Decimal(amount or 0).quantize(CENT))}
                for currency, count, amount in revenue_rows
            ],
        },
        "checkouts": {state.value: count for state, count in checkouts.items()},
        "campaigns": session.scalar(select(func.count()).where(Campaign.account_id == account_id)) or 0,
        "campaign_sends": session.scalar(
            select(func.count()).where(CampaignSend.campaign_id.in_(campaign_ids))
        )
        or 0,
        "interactions": session.scalar(select(func.count()).where(InteractionEvent.account_id == account_id))
        or 0,
    }
