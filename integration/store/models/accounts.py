"""Accounts (merchants), their connected stores and their API keys."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from integration.store.models.base import Base, BigID, EmailTool, Platform, StoreState, state
from integration.store.types import utcnow

DEFAULT_ENGAGEMENT_WINDOW_DAYS = 180
DEFAULT_ABANDONMENT_DELAY_MINUTES = 10
DEFAULT_RECOVERY_WINDOW_DAYS = 7
DEFAULT_ATTRIBUTION_WINDOW_DAYS = 30
DEFAULT_FREQUENCY_CAP_DAYS = 14
DEFAULT_SUNSET_DAYS = 180


class Account(Base):
    """A merchant: the unit that owns contacts, settings and keys."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    engagement_window_days: Mapped[int] = mapped_column(default=DEFAULT_ENGAGEMENT_WINDOW_DAYS)
    abandonment_delay_minutes: Mapped[int] = mapped_column(default=DEFAULT_ABANDONMENT_DELAY_MINUTES)
    recovery_window_days: Mapped[int] = mapped_column(default=DEFAULT_RECOVERY_WINDOW_DAYS)
    attribution_window_days: Mapped[int] = mapped_column(default=DEFAULT_ATTRIBUTION_WINDOW_DAYS)
    frequency_cap_days: Mapped[int] = mapped_column(default=DEFAULT_FREQUENCY_CAP_DAYS)
    # Sunset candidates: subscribed contacts unengaged this many days beyond the time frame.
    sunset_days: Mapped[int] = mapped_column(default=DEFAULT_SUNSET_DAYS, server_default="180")
    classified_at: Mapped[datetime | None]
    # A custom RFM scheme (score ranges → segment names); None: the default R×F grid.
    rfm_scheme: Mapped[list[dict[str, Any]] | None]
    # The score boundaries of the last RFM computation, and when it ran.
    rfm_cuts: Mapped[dict[str, Any] | None]
    rfm_computed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    stores: Mapped[list[Store]] = relationship(back_populates="account", order_by="Store.id")


def new_public_key() -> str:
    """A store's public key: `pk_` and 24 URL-safe random characters."""
    return "pk_" + secrets.token_urlsafe(18)


class Store(Base):
    """A connected source of one account: a Shopify shop, a CSV feed or an API client."""

    __tablename__ = "stores"
    __table_args__ = (
        UniqueConstraint("platform", "shop_domain"),
        Index(None, "account_id"),
        Index(None, "public_key", unique=True),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    account_id: Mapped[int] = mapped_column(BigID, ForeignKey("accounts.id", ondelete="CASCADE"))
    platform: Mapped[Platform] = mapped_column(state(Platform))
    name: Mapped[str] = mapped_column(String(200))
    shop_domain: Mapped[str | None] = mapped_column(String(255))
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    currency: Mapped[str] = mapped_column(String(3))
    state: Mapped[StoreState] = mapped_column(state(StoreState), default=StoreState.CONNECTED)
    # Fernet token of the store's credentials (JSON); see integration.crypto.
    credentials: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    connected_at: Mapped[datetime | None] = mapped_column(default=utcnow)
    disconnected_at: Mapped[datetime | None]
    # The platform's records updated before this time have been re-read (reconciliation).
    reconciled_at: Mapped[datetime | None]
    # The storefront collector's key (the pixel's and the snippet's): public, write-only, this store's.
    # Every store has one (made here, and by migration 0029 for older stores); the column stays
    # nullable because SQLite can make it NOT NULL only by rebuilding `stores`, whose drop would
    # cascade to every row that refers to a store.
    public_key: Mapped[str] = mapped_column(String(40), nullable=True, default=lambda: new_public_key())
    # Origins (scheme://host[:port]) the tracking snippet may post from; Shopify's pixel needs none.
    allowed_origins: Mapped[list[str] | None]

    account: Mapped[Account] = relationship(back_populates="stores")


class ApiKey(Base):
    """An API key of an account, kept only as a SHA-256 hash; the prefix tells keys apart."""

    __tablename__ = "api_keys"
    __table_args__ = (Index(None, "account_id"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    account_id: Mapped[int] = mapped_column(BigID, ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class EmailSource(Base):
    """An email tool of an account that posts its events to us (opens, clicks, bounces, consent).

    Its webhook URL names it by id; a Mailchimp URL also carries a secret, kept here only as a
    SHA-256 digest. A SendGrid source holds the public key that verifies its signed deliveries
    (one made before keys were required may lack it, and then refuses every delivery).
    """

    __tablename__ = "email_sources"
    __table_args__ = (Index(None, "account_id"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    account_id: Mapped[int] = mapped_column(BigID, ForeignKey("accounts.id", ondelete="CASCADE"))
    kind: Mapped[EmailTool] = mapped_column(state(EmailTool))
    name: Mapped[str] = mapped_column(String(200))
    secret_hash: Mapped[str | None] = mapped_column(String(64))
    verification_key: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_delivery_at: Mapped[datetime | None]


class Sender(Base):
    """The account's outgoing mail server, for messages to one customer; the password kept encrypted."""

    __tablename__ = "senders"

    account_id: Mapped[int] = mapped_column(
        BigID, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int]
    # "starttls" (upgrade a plain connection), "tls" (TLS from the start) or "none" (local relays only).
    security: Mapped[str] = mapped_column(String(16))
    username: Mapped[str | None] = mapped_column(String(255))
    # Fernet token of the password; see integration.crypto.
    password: Mapped[bytes | None] = mapped_column(LargeBinary)
    from_email: Mapped[str] = mapped_column(String(320))
    from_name: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
