"""Who received a campaign, and who ordered after it.

A campaign's sends are read in pages by contact (the order of the sends' unique key), each with
its status, times, marks and the order it is credited with; the credited orders are read in pages
by when they were placed. Both use the attribution of `campaigns.results`, so they agree with the
campaign's results.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from integration import keyset
from integration.campaigns.results import attribute, attributed_orders, credited
from integration.campaigns.sends import get_campaign
from integration.contract import SEND_TIMES
from integration.money import amount
from integration.store.models import CampaignPreview, CampaignSend, Contact, Order
from integration.store.types import iso

MAX_LIMIT = 200


def campaign_sends(
    session: Session, account_id: int, campaign_id: int, *, limit: int = 50, after: int = 0
) -> dict[str, Any]:
    """A page of a campaign's sends by contact (after the contact id `after`), and the next one's start."""
    get_campaign(session, account_id, campaign_id)
    rows = session.execute(
        select(CampaignSend, Contact.email, Contact.first_name, Contact.last_name)
        .join(Contact, Contact.id == CampaignSend.contact_id)
        .where(CampaignSend.campaign_id == campaign_id, CampaignSend.contact_id > after)
        .order_by(CampaignSend.contact_id)
        .limit(min(limit, MAX_LIMIT) + 1)
    ).all()
    page, more = rows[:limit], len(rows) > limit
    credits = attribute(session, account_id, [send.id for send, *_ in page])
    sends = []
    for send, email, first_name, last_name in page:
        sends.append(
            {
                "contact": {
                    "id": send.contact_id,
                    "email": email,
                    "first_name": first_name,
                    "last_name": last_name,
                },
                "status": send.status.value,
                **{name: iso(getattr(send, name)) for name in SEND_TIMES},
                "opened_at": iso(send.opened_at),
                "clicked_at": iso(send.clicked_at),
                "scanned_at": iso(send.scanned_at),
                "preview_id": send.preview_id,
                "attribution": credited(credits.get(send.id)),
            }
        )
    return {"sends": sends, "next_after": page[-1][0].contact_id if more and page else None}


def campaign_orders(
    session: Session, account_id: int, campaign_id: int, *, limit: int = 50, cursor: str | None = None
) -> dict[str, Any]:
    """A page of the orders a campaign's sends are credited with, first placed first; and the next cursor."""
    get_campaign(session, account_id, campaign_id)
    credited = attributed_orders(session, account_id, CampaignSend.campaign_id == campaign_id)
    query = (
        select(
            credited.c.send_id,
            credited.c.order_id,
            credited.c.ordered_at,
            credited.c.sent_at,
            credited.c.total_price,
            credited.c.currency,
            credited.c.revenue,
            CampaignSend.contact_id,
            Contact.email,
            Order.name,
            Order.number,
            Order.external_id,
        )
        .join(CampaignSend, CampaignSend.id == credited.c.send_id)
        .join(Contact, Contact.id == CampaignSend.contact_id)
        .join(Order, Order.id == credited.c.order_id)
    )
    if cursor is not None:
        at, last = keyset.decode(cursor)
        query = query.where(
            or_(credited.c.ordered_at > at, and_(credited.c.ordered_at == at, credited.c.send_id > last))
        )
    rows = session.execute(
        query.order_by(credited.c.ordered_at, credited.c.send_id).limit(min(limit, MAX_LIMIT) + 1)
    ).all()
    page, more = rows[:limit], len(rows) > limit
    return {
        "orders": [
            {
                "contact": {"id": row.contact_id, "email": row.email},
                "order": {
                    "id": row.order_id,
                    "name": row.name or row.number or row.external_id,
                    "ordered_at": iso(row.ordered_at),
                    "total_price": amount(row.total_price),
                    "currency": row.currency,
                    "revenue": bool(row.revenue),
                },
                "days": (row.ordered_at - row.sent_at).days,
            }
            for row in page
        ],
        "next_cursor": keyset.encode(page[-1].ordered_at, page[-1].send_id) if more and page else None,
    }


def campaign_previews(session: Session, account_id: int, campaign_id: int) -> list[dict[str, Any]]:
    """Every version of a campaign's content, the first first, with how many sends carried it."""
    get_campaign(session, account_id, campaign_id)
    carried = (
        select(func.count())
        .where(CampaignSend.preview_id == CampaignPreview.id)
        .correlate(CampaignPreview)
        .scalar_subquery()
    )
    rows = session.execute(  # the content stays in the store: a frame loads it
        select(
            CampaignPreview.id,
            CampaignPreview.content_type,
            CampaignPreview.created_at,
            carried.label("sends"),
        )
        .where(CampaignPreview.campaign_id == campaign_id)
        .order_by(CampaignPreview.id)
    )
    return [
        {"id": r.id, "content_type": r.content_type, "created_at": iso(r.created_at), "sends": r.sends}
        for r in rows
    ]
