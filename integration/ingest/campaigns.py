"""Campaigns and campaign sends: upserted by external id, their previews kept, their sends marked.

A send's first open, click and QR scan come from the events naming its campaign, whichever was
stored first (see `campaign_refs.mark_sends`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from integration.contract import SEND_TIMES, CampaignRecord, Outcome, SendRecord
from integration.ingest.campaign_refs import campaign_ids, link_campaign_events, lock_campaigns, mark_sends
from integration.ingest.resolver import ContactResolver
from integration.store.bulk import insert_for
from integration.store.models import (
    Campaign,
    CampaignPreview,
    CampaignSend,
    Store,
    table_of,
)


def ingest_campaigns(session: Session, store: Store, records: Sequence[CampaignRecord]) -> Outcome:
    """Upsert campaigns by external id and keep each distinct preview of what was sent.

    Events that named a campaign before it existed are linked to it.
    """
    outcome = Outcome()
    if not records:
        return outcome
    lock_campaigns(session, store.account_id, (r.external_id for r in records))
    table = table_of(Campaign)
    stmt = insert_for(session, table)
    stmt = stmt.on_conflict_do_update(
        index_elements=["account_id", "external_id"],
        set_={"name": stmt.excluded.name, "channel": stmt.excluded.channel},
    )
    session.execute(
        stmt,
        [
            {
                "account_id": store.account_id,
                "external_id": r.external_id,
                "channel": r.channel,
                "name": r.name,
                "created_at": r.created_at or datetime.now().astimezone(),
            }
            for r in records
        ],
    )
    ids = campaign_ids(session, store.account_id, {r.external_id for r in records})
    link_campaign_events(session, store.account_id, ids.keys())
    previews = [
        {
            "campaign_id": ids[r.external_id],
            "content_type": r.preview_content_type or "text/html",
            "content": r.preview,
            "sha256": hashlib.sha256(r.preview).hexdigest(),
        }
        for r in records
        if r.preview is not None
    ]
    if previews:
        session.execute(
            insert_for(session, table_of(CampaignPreview)).on_conflict_do_nothing(
                index_elements=["campaign_id", "sha256"]
            ),
            previews,
        )
    outcome.written = len(records)
    return outcome


def ingest_sends(session: Session, store: Store, records: Sequence[SendRecord]) -> Outcome:
    """Upsert campaign sends per (campaign, contact); a later status and its time add to the earlier ones.

    Opens, clicks and QR scans that arrived before the send are applied to it.
    """
    outcome = Outcome()
    lock_campaigns(session, store.account_id, (r.campaign_id for r in records))
    campaigns = campaign_ids(session, store.account_id, {r.campaign_id for r in records})
    contacts = ContactResolver(session, store).resolve(
        [(r.customer_id, r.email) for r in records],
        [r.sent_at or r.queued_at or datetime.now().astimezone() for r in records],
    )
    latest_preview = dict(
        session.execute(
            select(CampaignPreview.campaign_id, func.max(CampaignPreview.id))
            .where(CampaignPreview.campaign_id.in_(list(campaigns.values()) or [0]))
            .group_by(CampaignPreview.campaign_id)
        ).all()
    )
    rows: dict[tuple[int, int], dict[str, Any]] = {}
    for position, (record, contact_id) in enumerate(zip(records, contacts, strict=True)):
        campaign_id = campaigns.get(record.campaign_id)
        if campaign_id is None or contact_id is None:
            field = "campaign_id" if campaign_id is None else "email"
            outcome.skipped.append(
                {"index": position, "field": field, "reason": "unknown campaign or contact"}
            )
            continue
        rows[(campaign_id, contact_id)] = {
            "campaign_id": campaign_id,
            "contact_id": contact_id,
            "preview_id": latest_preview.get(campaign_id),
            "status": record.status,
            **{t: getattr(record, t) for t in SEND_TIMES},
        }
    if not rows:
        return outcome
    table = table_of(CampaignSend)
    stmt = insert_for(session, table)
    stmt = stmt.on_conflict_do_update(
        index_elements=["campaign_id", "contact_id"],
        set_={"status": stmt.excluded.status}
        | {t: func.coalesce(stmt.excluded[t], table.c[t]) for t in SEND_TIMES},
    ).returning(table.c.id)
    # Opens, clicks and scans stored before their send mark it now.
    mark_sends(session, list(session.execute(stmt, list(rows.values())).scalars()))
    outcome.written = len(rows)
    outcome.contact_ids = {contact_id for _, contact_id in rows}
    return outcome
