"""Contacts, their links to store customers, interactions and the engagement history."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, PrimaryKeyConstraint, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from integration.store.models.base import (
    Base,
    BigID,
    BlockedReason,
    EngagementStatus,
    InteractionType,
    SubscriptionStatus,
    state,
)
from integration.store.types import utcnow


class Contact(Base):
    """One person of an account, keyed by normalized email across all of the account's stores.

    `last_interaction_at`/`_type` hold the newest *counted* interaction (see
    COUNTED_INTERACTIONS), kept current at ingest so that classification reads contacts only.
    """

    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("account_id", "email"),
        Index(None, "account_id", "engagement_status", "last_interaction_at"),
        Index(None, "account_id", "subscription_status", "engagement_status"),
        # The contact list's orders (integration.contacts.lists), the id breaking ties.
        Index(None, "account_id", "last_interaction_at", "id"),
        Index(None, "account_id", "first_seen_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    account_id: Mapped[int] = mapped_column(BigID, ForeignKey("accounts.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    first_name: Mapped[str | None] = mapped_column(String(200))
    last_name: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(40))
    subscription_status: Mapped[SubscriptionStatus] = mapped_column(
        state(SubscriptionStatus), default=SubscriptionStatus.UNKNOWN
    )
    subscription_changed_at: Mapped[datetime | None]
    subscription_reason: Mapped[str | None] = mapped_column(String(64))
    blocked_reason: Mapped[BlockedReason | None] = mapped_column(state(BlockedReason))
    blocked_at: Mapped[datetime | None]
    # NULL until the contact's first classification, which runs in the job that stored it.
    engagement_status: Mapped[EngagementStatus | None] = mapped_column(state(EngagementStatus))
    engagement_since: Mapped[datetime | None]
    # What decided the status: the interaction type, the blocking reason, or "no_interaction".
    engagement_reason: Mapped[str | None] = mapped_column(String(32))
    last_interaction_at: Mapped[datetime | None]
    last_interaction_type: Mapped[InteractionType | None] = mapped_column(state(InteractionType))
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    tags: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[datetime | None]


class StoreCustomer(Base):
    """The link from a store's customer id to the account's contact."""

    __tablename__ = "store_customers"
    __table_args__ = (
        UniqueConstraint("store_id", "external_id"),
        Index(None, "contact_id"),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    store_id: Mapped[int] = mapped_column(BigID, ForeignKey("stores.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(BigID, ForeignKey("contacts.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(64))
    # The source's own timestamps; `updated_at` decides between two versions of the customer.
    created_at: Mapped[datetime | None]
    updated_at: Mapped[datetime | None]
    linked_at: Mapped[datetime] = mapped_column(default=utcnow)


class ContactEmail(Base):
    """An address a contact had before its current one, so that the contact is still found by it.

    One contact per address in an account: an address a second contact later gives up moves to that
    contact. `first_seen_at` is when the address became the contact's (as far as known),
    `replaced_at` when a newer one took its place (the source's time of the change).
    """

    __tablename__ = "contact_emails"
    __table_args__ = (
        UniqueConstraint("account_id", "email"),
        Index(None, "contact_id"),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    account_id: Mapped[int] = mapped_column(BigID, ForeignKey("accounts.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(BigID, ForeignKey("contacts.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    first_seen_at: Mapped[datetime | None]
    replaced_at: Mapped[datetime] = mapped_column(default=utcnow)


class InteractionEvent(Base):
    """Something a contact did or that happened to them, de-duplicated by the source's event id."""

    __tablename__ = "interaction_events"
    __table_args__ = (
        UniqueConstraint("account_id", "source", "source_event_id"),
        Index(None, "contact_id", "occurred_at"),
        Index(None, "account_id", "occurred_at"),
        Index(None, "campaign_id"),
        Index(None, "account_id", "campaign_ref", "contact_id"),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    account_id: Mapped[int] = mapped_column(BigID, ForeignKey("accounts.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(BigID, ForeignKey("contacts.id", ondelete="CASCADE"))
    store_id: Mapped[int | None] = mapped_column(BigID, ForeignKey("stores.id", ondelete="SET NULL"))
    type: Mapped[InteractionType] = mapped_column(state(InteractionType))
    occurred_at: Mapped[datetime]
    # Whether this event makes the contact engaged (a counted type, and not a machine open).
    counted: Mapped[bool] = mapped_column(default=False)
    source: Mapped[str] = mapped_column(String(32))
    source_event_id: Mapped[str | None] = mapped_column(String(255))
    # The campaign as the event named it (its external id), kept whether or not the campaign exists
    # yet; `campaign_id` links it once it does. Sends are marked from events by this reference, so
    # an open, click or scan that arrives before its campaign or its send is not lost.
    campaign_ref: Mapped[str | None] = mapped_column(String(255))
    campaign_id: Mapped[int | None] = mapped_column(BigID, ForeignKey("campaigns.id", ondelete="SET NULL"))
    product_id: Mapped[str | None] = mapped_column(String(64))
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    ingested_at: Mapped[datetime] = mapped_column(default=utcnow)


class EngagementTransition(Base):
    """An append-only log of every change of a contact's engagement group."""

    __tablename__ = "engagement_transitions"
    __table_args__ = (
        Index(None, "account_id", "at"),
        Index(None, "contact_id"),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    # No key to the account: the contact's key removes the row with its account's contacts, and
    # checking the account for every row written cost a quarter of the insert (migration 0033).
    account_id: Mapped[int] = mapped_column(BigID)
    contact_id: Mapped[int] = mapped_column(BigID, ForeignKey("contacts.id", ondelete="CASCADE"))
    from_status: Mapped[EngagementStatus | None] = mapped_column(state(EngagementStatus))
    to_status: Mapped[EngagementStatus] = mapped_column(state(EngagementStatus))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    reason: Mapped[str] = mapped_column(String(32))


class SubscriptionTransition(Base):
    """An append-only log of every change of a contact's subscription status.

    `changed_at` is when the change happened at the source; `at` is when storepulse applied it, the
    time that places the change among the engagement transitions and the daily snapshots.
    """

    __tablename__ = "subscription_transitions"
    __table_args__ = (
        Index(None, "account_id", "at"),
        Index(None, "contact_id"),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    account_id: Mapped[int] = mapped_column(BigID)  # no key to the account: see EngagementTransition
    contact_id: Mapped[int] = mapped_column(BigID, ForeignKey("contacts.id", ondelete="CASCADE"))
    from_status: Mapped[SubscriptionStatus] = mapped_column(state(SubscriptionStatus))
    to_status: Mapped[SubscriptionStatus] = mapped_column(state(SubscriptionStatus))
    changed_at: Mapped[datetime]
    at: Mapped[datetime] = mapped_column(default=utcnow)
    reason: Mapped[str | None] = mapped_column(String(64))


class ContactSnapshot(Base):
    """Daily counts of contacts by subscription and engagement, for 30-day changes and trends."""

    __tablename__ = "contact_snapshots"
    __table_args__ = (PrimaryKeyConstraint("account_id", "day", "subscription_status", "engagement_status"),)

    account_id: Mapped[int] = mapped_column(BigID, ForeignKey("accounts.id", ondelete="CASCADE"))
    day: Mapped[date]
    subscription_status: Mapped[SubscriptionStatus] = mapped_column(state(SubscriptionStatus))
    engagement_status: Mapped[EngagementStatus] = mapped_column(state(EngagementStatus))
    contacts: Mapped[int]
    taken_at: Mapped[datetime] = mapped_column(default=utcnow)


class StatsCache(Base):
    """The contact statistics of an account under one subscription filter, as last computed.

    Kept current by a job after each batch of changes, so the statistics answer from here in
    milliseconds whatever the account's size; `computed_at` says how current they are.
    """

    __tablename__ = "stats_cache"
    __table_args__ = (PrimaryKeyConstraint("account_id", "subscription"),)

    account_id: Mapped[int] = mapped_column(BigID, ForeignKey("accounts.id", ondelete="CASCADE"))
    subscription: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]]
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)
