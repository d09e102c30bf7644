"""Campaigns and their sends.

A campaign (an email or a printed letter) keeps every distinct preview of its content; a send
records the preview current when it was recorded, so a profile links to exactly what that contact
received. A send's status only moves forward (queued → sent → delivered; returned and failed end
it), while every time reported is kept, so updates arriving out of order lose nothing. What sends
led to (opens, clicks, scans, orders) is in `campaign_results`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from integration.contract import SEND_TIMES, SendTimes
from integration.errors import NotFound
from integration.ingest.campaign_refs import link_campaign_events, lock_campaigns, mark_sends
from integration.ingest.resolver import ContactResolver, Scope
from integration.store.bulk import chunks, insert_for
from integration.store.db import account_row
from integration.store.models import (
    Account,
    Campaign,
    CampaignChannel,
    CampaignPreview,
    CampaignSend,
    Contact,
    SendStatus,
    table_of,
)
from integration.store.types import utcnow

STATUS_RANK = {
    SendStatus.QUEUED: 0,
    SendStatus.SENT: 1,
    SendStatus.DELIVERED: 2,
    SendStatus.RETURNED: 3,
    SendStatus.FAILED: 3,
}


class UnknownCampaign(NotFound):
    """The campaign does not exist in this account."""

    def __init__(self, campaign_id: int) -> None:
        super().__init__(str(campaign_id))
        self.campaign_id = campaign_id


@dataclass(frozen=True)
class SendInput(SendTimes):
    """One send as a caller reports it: the contact by id or by email, a status and its times."""

    status: SendStatus
    contact_id: int | None = None
    email: str | None = None


def save_campaign(
    session: Session,
    account_id: int,
    *,
    channel: CampaignChannel,
    name: str,
    external_id: str | None = None,
    preview: bytes | None = None,
    content_type: str | None = None,
) -> Campaign:
    """Create a campaign, or update the one with this external id; keep a new preview as a new version."""
    campaign = None
    if external_id is not None:
        lock_campaigns(session, account_id, [external_id])
        campaign = session.scalar(
            select(Campaign).where(Campaign.account_id == account_id, Campaign.external_id == external_id)
        )
    if campaign is None:
        campaign = Campaign(account_id=account_id, external_id=external_id, channel=channel, name=name)
        session.add(campaign)
        session.flush()
        if external_id is None:
            # Events name their campaign by this id (opens, clicks and QR scans carry `campaign_id`).
            campaign.external_id = str(campaign.id)
            lock_campaigns(session, account_id, [campaign.external_id])
    else:
        campaign.channel, campaign.name = channel, name
    session.flush()
    if campaign.external_id is not None:
        link_campaign_events(session, account_id, [campaign.external_id])
    if preview is not None:
        digest = hashlib.sha256(preview).hexdigest()
        session.execute(
            insert_for(session, table_of(CampaignPreview))
            .values(
                campaign_id=campaign.id,
                content_type=content_type or "application/octet-stream",
                content=preview,
                sha256=digest,
                created_at=utcnow(),
            )
            .on_conflict_do_nothing(index_elements=["campaign_id", "sha256"])
        )
    return campaign


def get_campaign(session: Session, account_id: int, campaign_id: int) -> Campaign:
    campaign = account_row(session, Campaign, campaign_id, account_id)
    if campaign is None:
        raise UnknownCampaign(campaign_id)
    return campaign


def latest_preview(session: Session, campaign_id: int) -> CampaignPreview | None:
    return session.scalar(
        select(CampaignPreview)
        .where(CampaignPreview.campaign_id == campaign_id)
        .order_by(CampaignPreview.id.desc())
        .limit(1)
    )


def describe_campaign(session: Session, campaign: Campaign) -> dict[str, Any]:
    preview = latest_preview(session, campaign.id)
    return {
        "id": campaign.id,
        "external_id": campaign.external_id,
        "channel": campaign.channel.value,
        "name": campaign.name,
        "created_at": campaign.created_at.isoformat(),
        "preview": preview_ref(campaign.id, preview.id, preview.content_type) if preview else None,
    }


def record_sends(
    session: Session, account_id: int, campaign_id: int, sends: Sequence[SendInput]
) -> tuple[list[int], list[dict[str, Any]]]:
    """Create or update sends of a campaign; return the contact ids written and the refused items.

    Contacts are named by id (of this account) or by email (a new email becomes a contact). The
    latest preview of the campaign is linked to new sends; opens, clicks and QR scans stored
    before a send mark it.
    """
    campaign = get_campaign(session, account_id, campaign_id)
    if campaign.external_id is not None:
        lock_campaigns(session, account_id, [campaign.external_id])
    refused: list[dict[str, Any]] = []
    by_email = ContactResolver(session, Scope(account_id)).resolve(
        [(None, s.email) for s in sends], [s.sent_at or s.queued_at or utcnow() for s in sends]
    )
    named = {s.contact_id for s in sends if s.contact_id is not None}
    own = set(
        session.scalars(select(Contact.id).where(Contact.id.in_(named), Contact.account_id == account_id))
    ) if named else set()  # fmt: skip
    wanted: dict[int, SendInput] = {}
    for index, (send, resolved) in enumerate(zip(sends, by_email, strict=True)):
        contact_id = send.contact_id if send.contact_id is not None else resolved
        if contact_id is None or (send.contact_id is not None and contact_id not in own):
            refused.append({"index": index, "errors": {"contact": ["no such contact in this account"]}})
            continue
        wanted[contact_id] = _merge(wanted.get(contact_id), send)
    if not wanted:
        return [], refused
    preview = latest_preview(session, campaign_id)
    existing = {
        s.contact_id: s
        for part in chunks(sorted(wanted))
        for s in session.scalars(
            select(CampaignSend).where(
                CampaignSend.campaign_id == campaign_id, CampaignSend.contact_id.in_(part)
            )
        )
    }
    rows = []
    for contact_id, send in wanted.items():
        row = existing.get(contact_id)
        if row is None:
            row = CampaignSend(
                campaign_id=campaign_id, contact_id=contact_id, preview_id=preview.id if preview else None
            )
            session.add(row)
            row.status = send.status
        elif STATUS_RANK[send.status] >= STATUS_RANK[row.status]:
            row.status = send.status
        for name in SEND_TIMES:
            value = getattr(send, name)
            if value is not None:
                setattr(row, name, value)
        rows.append(row)
    session.flush()
    mark_sends(session, [row.id for row in rows])
    return sorted(wanted), refused


def _merge(earlier: SendInput | None, later: SendInput) -> SendInput:
    if earlier is None:
        return later
    status = later.status if STATUS_RANK[later.status] >= STATUS_RANK[earlier.status] else earlier.status
    times = {n: getattr(later, n) or getattr(earlier, n) for n in SEND_TIMES}
    return SendInput(status=status, contact_id=later.contact_id, email=later.email, **times)


def send_time() -> Any:
    """SQL: when a send went out (sent, else delivered, else queued)."""
    return func.coalesce(CampaignSend.sent_at, CampaignSend.delivered_at, CampaignSend.queued_at)


def went_out() -> ColumnElement[bool]:
    """SQL: the send reached the contact (sent or delivered; not queued, failed or returned)."""
    return CampaignSend.status.in_((SendStatus.SENT, SendStatus.DELIVERED))


def contacted_time() -> Any:
    """SQL: when a send that went out reached the contact (sent, else delivered)."""
    return func.coalesce(CampaignSend.sent_at, CampaignSend.delivered_at)


def last_contacted(session: Session, contact_id: int) -> datetime | None:
    """When a campaign or message last went out to the contact (the `contacted_within_days` filter's rule)."""
    value: datetime | None = session.scalar(
        select(func.max(contacted_time())).where(CampaignSend.contact_id == contact_id, went_out())
    )
    return value


@dataclass(frozen=True)
class FrequencyCap:
    """Where a contact stands against the account's frequency cap."""

    last_contacted_at: datetime | None
    days: int  # the account's window; 0 turns the cap off
    recently_contacted: bool  # contacted within the window: more mail waits, unless overridden


def frequency_cap(session: Session, account_id: int, contact_id: int, now: datetime) -> FrequencyCap:
    """Tell whether the contact was contacted within the account's frequency cap (profile and messages)."""
    account = session.get(Account, account_id)
    assert account is not None  # noqa: S101 - the contact's account exists
    last = last_contacted(session, contact_id)
    days = account.frequency_cap_days
    # Within N days as the filters count it: at or after the moment N days ago.
    recent = days > 0 and last is not None and last >= now - timedelta(days=days)
    return FrequencyCap(last, days, recent)


def preview_content(session: Session, account_id: int, campaign_id: int, preview_id: int) -> CampaignPreview:
    get_campaign(session, account_id, campaign_id)
    preview = session.get(CampaignPreview, preview_id)
    if preview is None or preview.campaign_id != campaign_id:
        raise UnknownCampaign(campaign_id)
    return preview


def preview_ref(campaign_id: int, preview_id: int, content_type: str | None) -> dict[str, Any]:
    """A preview as the API links it."""
    return {
        "id": preview_id,
        "content_type": content_type,
        "url": f"/api/v1/campaigns/{campaign_id}/previews/{preview_id}",
    }
