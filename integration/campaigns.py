"""Campaigns, their sends, and what each send led to.

A campaign (an email or a printed letter) keeps every distinct preview of its content; a send
records the preview current when it was recorded, so a profile links to exactly what that contact
received. A send's status only moves forward (queued → sent → delivered; returned and failed end
it), while every time reported is kept, so updates arriving out of order lose nothing.

**Attribution**: a send is credited with the contact's first placed order (any store of the
account) after it was sent, within the account's attribution window; `days` is the whole days
between the two. Profiles and campaign results use the same function, so they always agree.
"""

from __future__ import annotations

import hashlib
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from integration import orders as order_rules
from integration.ingest.common import ContactResolver, Scope, chunks, insert_for
from integration.money import amount
from integration.store.models import (
    Account,
    Campaign,
    CampaignChannel,
    CampaignPreview,
    CampaignSend,
    Contact,
    Order,
    SendStatus,
    Store,
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
SEND_TIMES = ("queued_at", "sent_at", "delivered_at", "returned_at", "failed_at")


class UnknownCampaign(LookupError):
    """The campaign does not exist in this account."""


@dataclass(frozen=True)
class SendInput:
    """One send as a caller reports it: the contact by id or by email, a status and its times."""

    status: SendStatus
    contact_id: int | None = None
    email: str | None = None
    queued_at: datetime | None = None
    sent_at: datetime | None = None
    delivered_at: datetime | None = None
    returned_at: datetime | None = None
    failed_at: datetime | None = None


@dataclass(frozen=True)
class Attribution:
    order_id: int
    ordered_at: datetime
    days: int
    total_price: Decimal
    currency: str
    revenue: bool


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
    else:
        campaign.channel, campaign.name = channel, name
    session.flush()
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
    campaign = session.get(Campaign, campaign_id)
    if campaign is None or campaign.account_id != account_id:
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
        "preview": _preview_ref(campaign.id, preview.id, preview.content_type) if preview else None,
    }


def record_sends(
    session: Session, account_id: int, campaign_id: int, sends: Sequence[SendInput]
) -> tuple[list[int], list[dict[str, Any]]]:
    """Create or update sends of a campaign; return the contact ids written and the refused items.

    Contacts are named by id (of this account) or by email (a new email becomes a contact). The
    latest preview of the campaign is linked to new sends.
    """
    get_campaign(session, account_id, campaign_id)
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
    session.flush()
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


def attribute(session: Session, account_id: int, send_ids: Sequence[int]) -> dict[int, Attribution]:
    """The first placed order of each send's contact after the send, within the attribution window."""
    account = session.get(Account, account_id)
    assert account is not None  # noqa: S101 - callers pass an existing account
    window = timedelta(days=account.attribution_window_days)
    stores = select(Store.id).where(Store.account_id == account_id).scalar_subquery()
    found: dict[int, Attribution] = {}
    for part in chunks(list(send_ids)):
        sends = session.execute(
            select(CampaignSend.id, CampaignSend.contact_id, send_time()).where(CampaignSend.id.in_(part))
        ).all()
        contacts = sorted({c for _, c, at in sends if at is not None})
        orders: dict[int, list[tuple[datetime, int, Decimal, str, bool]]] = {}
        earliest = min((at for _, _, at in sends if at is not None), default=None)
        if earliest is None:
            continue
        rows = session.execute(
            select(
                Order.contact_id,
                Order.created_at,
                Order.id,
                Order.total_price,
                Order.currency,
                order_rules.revenue(),
            )
            .where(
                Order.contact_id.in_(contacts),
                Order.store_id.in_(stores),
                Order.created_at >= earliest,
                order_rules.placed(),
            )
            .order_by(Order.contact_id, Order.created_at, Order.id)
        )
        for contact_id, at, order_id, total, currency, is_revenue in rows:
            if contact_id is not None:
                orders.setdefault(contact_id, []).append((at, order_id, total, currency, bool(is_revenue)))
        for send_id, contact_id, sent in sends:
            if sent is None:
                continue
            for at, order_id, total, currency, is_revenue in orders.get(contact_id, []):
                if sent <= at < sent + window:
                    found[send_id] = Attribution(
                        order_id, at, (at - sent).days, Decimal(total), currency, is_revenue
                    )
                    break
    return found


def campaign_results(session: Session, account_id: int, campaign_id: int) -> dict[str, Any]:
    """Sends by status, opens, clicks, QR scans, and the orders the campaign led to."""
    campaign = get_campaign(session, account_id, campaign_id)
    by_status = dict(
        session.execute(
            select(CampaignSend.status, func.count())
            .where(CampaignSend.campaign_id == campaign_id)
            .group_by(CampaignSend.status)
        ).all()
    )
    marks = session.execute(
        select(
            func.count(CampaignSend.opened_at),
            func.count(CampaignSend.clicked_at),
            func.count(CampaignSend.scanned_at),
        ).where(CampaignSend.campaign_id == campaign_id)
    ).one()
    send_ids = list(session.scalars(select(CampaignSend.id).where(CampaignSend.campaign_id == campaign_id)))
    attributed = attribute(session, account_id, send_ids)
    revenue: dict[str, Decimal] = {}
    for a in attributed.values():
        if a.revenue:
            revenue[a.currency] = revenue.get(a.currency, Decimal(0)) + a.total_price
    days = [a.days for a in attributed.values()]
    return {
        "campaign": describe_campaign(session, campaign),
        "sends": sum(by_status.values()),
        "by_status": {s.value: by_status.get(s, 0) for s in SendStatus},
        "opened": marks[0],
        "clicked": marks[1],
        "scanned": marks[2],
        "attribution_window_days": session.get(Account, account_id).attribution_window_days,  # type: ignore[union-attr]
        "ordered": len(attributed),
        "revenue": [{"currency": c, "amount": amount(v)} for c, v in sorted(revenue.items())],
        "median_days_to_order": statistics.median(days) if days else None,
    }


def contact_sends(session: Session, account_id: int, contact_id: int) -> list[dict[str, Any]]:
    """Every send to a contact, newest first, with what followed it."""
    rows = session.execute(
        select(CampaignSend, Campaign, CampaignPreview.content_type)
        .join(Campaign, Campaign.id == CampaignSend.campaign_id)
        .outerjoin(CampaignPreview, CampaignPreview.id == CampaignSend.preview_id)
        .where(CampaignSend.contact_id == contact_id, Campaign.account_id == account_id)
        .order_by(send_time().desc(), CampaignSend.id.desc())
    ).all()
    attributed = attribute(session, account_id, [send.id for send, _, _ in rows])
    result = []
    for send, campaign, content_type in rows:
        a = attributed.get(send.id)
        result.append(
            {
                "campaign": {"id": campaign.id, "name": campaign.name, "channel": campaign.channel.value},
                "status": send.status.value,
                **{name: _iso(getattr(send, name)) for name in SEND_TIMES},
                "opened_at": _iso(send.opened_at),
                "clicked_at": _iso(send.clicked_at),
                "scanned_at": _iso(send.scanned_at),
                "frequency_cap_overridden": send.frequency_cap_overridden,
                "preview": _preview_ref(campaign.id, send.preview_id, content_type)
                if send.preview_id
                else None,
                "attribution": {
                    "order_id": a.order_id,
                    "ordered_at": a.ordered_at.isoformat(),
                    "days": a.days,
                    "total_price": amount(a.total_price),
                    "currency": a.currency,
                }
                if a
                else None,
            }
        )
    return result


def last_contacted(session: Session, contact_id: int) -> datetime | None:
    """When a campaign last went out to the contact (sent or delivered; not queued, failed or returned)."""
    value: datetime | None = session.scalar(
        select(func.max(func.coalesce(CampaignSend.sent_at, CampaignSend.delivered_at))).where(
            CampaignSend.contact_id == contact_id,
            CampaignSend.status.in_((SendStatus.SENT, SendStatus.DELIVERED)),
        )
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
    return FrequencyCap(last, days, last is not None and last > now - timedelta(days=days))


def preview_content(session: Session, account_id: int, campaign_id: int, preview_id: int) -> CampaignPreview:
    get_campaign(session, account_id, campaign_id)
    preview = session.get(CampaignPreview, preview_id)
    if preview is None or preview.campaign_id != campaign_id:
        raise UnknownCampaign(campaign_id)
    return preview


def _preview_ref(campaign_id: int, preview_id: int, content_type: str | None) -> dict[str, Any]:
    return {
        "id": preview_id,
        "content_type": content_type,
        "url": f"/api/v1/campaigns/{campaign_id}/previews/{preview_id}",
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
