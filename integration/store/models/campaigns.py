"""Campaigns (emails and printed letters), the previews of what was sent, and each send."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from integration.store.models.base import Base, BigID, CampaignChannel, SendStatus, state
from integration.store.types import utcnow


class Campaign(Base):
    __tablename__ = "campaigns"
    __table_args__ = (UniqueConstraint("account_id", "external_id"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    account_id: Mapped[int] = mapped_column(BigID, ForeignKey("accounts.id", ondelete="CASCADE"))
    external_id: Mapped[str | None] = mapped_column(String(255))
    channel: Mapped[CampaignChannel] = mapped_column(state(CampaignChannel))
    name: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CampaignPreview(Base):
    """Exactly what was sent: the HTML of an email or the PDF of a letter, addressed by its digest."""

    __tablename__ = "campaign_previews"
    __table_args__ = (UniqueConstraint("campaign_id", "sha256"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(BigID, ForeignKey("campaigns.id", ondelete="CASCADE"))
    content_type: Mapped[str] = mapped_column(String(100))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CampaignSend(Base):
    """One campaign sent to one contact, with its delivery status and what the contact did."""

    __tablename__ = "campaign_sends"
    __table_args__ = (
        UniqueConstraint("campaign_id", "contact_id"),
        Index(None, "contact_id", "sent_at"),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(BigID, ForeignKey("campaigns.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(BigID, ForeignKey("contacts.id", ondelete="CASCADE"))
    preview_id: Mapped[int | None] = mapped_column(
        BigID, ForeignKey("campaign_previews.id", ondelete="SET NULL")
    )
    status: Mapped[SendStatus] = mapped_column(state(SendStatus), default=SendStatus.QUEUED)
    queued_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    returned_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    opened_at: Mapped[datetime | None]
    clicked_at: Mapped[datetime | None]
    scanned_at: Mapped[datetime | None]
    # Sent within the frequency cap because the merchant said so (a one-to-one message's override).
    frequency_cap_overridden: Mapped[bool] = mapped_column(default=False, server_default=false())
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
