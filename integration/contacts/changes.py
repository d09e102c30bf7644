"""Changes of a contact's identity: a new email address, and merging two contacts into one."""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from integration.commerce import totals
from integration.contacts.identity import normalize_email
from integration.ingest.recompute import recompute_last_interactions
from integration.ingest.resolver import remember_emails
from integration.store.models import (
    CampaignSend,
    Checkout,
    Contact,
    ContactEmail,
    EngagementTransition,
    InteractionEvent,
    Order,
    StoreCustomer,
    SubscriptionTransition,
    SyncState,
)
from integration.store.types import utcnow


def change_email(session: Session, account_id: int, old: str, new: str) -> int | None:
    """Move the contact at `old` to `new`, keeping its history; return its id (None if neither exists).

    If a contact already has `new`, the two become one: the one that changed address survives and
    takes the other's orders, checkouts, interactions, sends, store links and earlier addresses.
    `old` is kept as one of its earlier addresses.
    """
    old_email, new_email = normalize_email(old), normalize_email(new)
    moving = _by_email(session, account_id, old_email)
    existing = _by_email(session, account_id, new_email)
    if moving is None or moving.id == (existing.id if existing else None):
        return existing.id if existing else None
    if existing is not None:
        merge(session, survivor=moving, absorbed=existing)
    moving.email = new_email
    session.flush()
    session.execute(
        delete(ContactEmail).where(ContactEmail.contact_id == moving.id, ContactEmail.email == new_email)
    )
    remember_emails(
        session, account_id, [{"contact": moving.id, "email": old_email, "first": None, "replaced": utcnow()}]
    )
    return moving.id


def merge(session: Session, survivor: Contact, absorbed: Contact) -> None:
    """Fold `absorbed` into `survivor` and delete it; the stricter consent and blocking state wins."""
    # One send per campaign and contact: the survivor's own send stands where both got one.
    survivor_campaigns = select(CampaignSend.campaign_id).where(CampaignSend.contact_id == survivor.id)
    session.execute(
        delete(CampaignSend).where(
            CampaignSend.contact_id == absorbed.id, CampaignSend.campaign_id.in_(survivor_campaigns)
        )
    )
    session.execute(delete(SyncState).where(SyncState.contact_id == absorbed.id))  # re-sent on the next run
    moved = (
        CampaignSend,
        ContactEmail,
        StoreCustomer,
        Order,
        Checkout,
        InteractionEvent,
        EngagementTransition,
        SubscriptionTransition,
    )
    for model in moved:
        session.execute(
            update(model)
            .where(model.contact_id == absorbed.id)
            .values(contact_id=survivor.id)
            .execution_options(synchronize_session=False)
        )
    _combine(survivor, absorbed)
    session.delete(absorbed)
    session.flush()
    recompute_last_interactions(session, survivor.account_id, [survivor.id])
    totals.orders_changed(session, survivor.account_id, [survivor.id])  # the absorbed one's went with it
    session.expire(survivor)


def _combine(survivor: Contact, absorbed: Contact) -> None:
    survivor.first_name = survivor.first_name or absorbed.first_name
    survivor.last_name = survivor.last_name or absorbed.last_name
    survivor.phone = survivor.phone or absorbed.phone
    survivor.first_seen_at = min(survivor.first_seen_at, absorbed.first_seen_at)
    survivor.tags = sorted(set(survivor.tags or []) | set(absorbed.tags or []))
    if survivor.blocked_reason is None and absorbed.blocked_reason is not None:
        survivor.blocked_reason, survivor.blocked_at = absorbed.blocked_reason, absorbed.blocked_at
    if absorbed.subscription_changed_at is not None and (
        survivor.subscription_changed_at is None
        or absorbed.subscription_changed_at > survivor.subscription_changed_at
    ):
        survivor.subscription_status = absorbed.subscription_status
        survivor.subscription_changed_at = absorbed.subscription_changed_at
        survivor.subscription_reason = absorbed.subscription_reason


def _by_email(session: Session, account_id: int, email: str) -> Contact | None:
    return session.scalar(select(Contact).where(Contact.account_id == account_id, Contact.email == email))
