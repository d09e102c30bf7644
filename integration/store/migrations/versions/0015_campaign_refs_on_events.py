"""events keep the campaign they named; sends marked from earlier events; carts by abandonment time

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30

Until this revision an event's `campaign_id` was looked up when the event was stored and dropped
when the campaign did not exist yet, and a send recorded after its events was never marked. The
upgrade keeps what can still be known:

- events whose campaign existed when they were stored get its external id from the campaign;
- events stored through the API (and the demo) whose raw delivery is still in the inbox (bodies are
  kept `STOREPULSE_INBOX_RETENTION_DAYS` after processing) get the campaign id their delivery named,
  matched by `event_id`;
- every send is then marked with the first counted open, click and QR scan of its contact that
  names its campaign.

Checkouts gain an index on (store, abandonment time) for the list of carts.

Not recoverable: events whose campaign did not exist when they were stored and whose delivery body
is gone (purged after the retention, or erased), events without an `event_id`, and events of CSV
imports (the file is deleted once imported). Email-tool events (SendGrid, Mailchimp) carry no
campaign id.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

INBOX_PAGE = 200
MAX_REF = 255

FROM_CAMPAIGNS = """
UPDATE interaction_events SET campaign_ref =
    (SELECT c.external_id FROM campaigns c WHERE c.id = interaction_events.campaign_id)
WHERE campaign_id IS NOT NULL AND campaign_ref IS NULL
"""
API_DELIVERIES = """
SELECT i.id, s.account_id, i.body FROM inbox i JOIN stores s ON s.id = i.store_id
WHERE i.source = 'api' AND i.topic = 'events' AND i.status = 'processed' AND i.id > :after
ORDER BY i.id LIMIT :page
"""
FROM_DELIVERY = """
UPDATE interaction_events SET campaign_ref = :ref
WHERE account_id = :account AND source = 'api' AND source_event_id = :event AND campaign_ref IS NULL
"""
LINK = """
UPDATE interaction_events SET campaign_id =
    (SELECT c.id FROM campaigns c
     WHERE c.account_id = interaction_events.account_id AND c.external_id = interaction_events.campaign_ref)
WHERE campaign_id IS NULL AND campaign_ref IS NOT NULL
"""
# The first counted open, click and scan per send, kept if the send already has an earlier one.
MARKS = """
UPDATE campaign_sends SET
    opened_at = CASE WHEN f.opened IS NOT NULL
        AND (campaign_sends.opened_at IS NULL OR f.opened < campaign_sends.opened_at)
        THEN f.opened ELSE campaign_sends.opened_at END,
    clicked_at = CASE WHEN f.clicked IS NOT NULL
        AND (campaign_sends.clicked_at IS NULL OR f.clicked < campaign_sends.clicked_at)
        THEN f.clicked ELSE campaign_sends.clicked_at END,
    scanned_at = CASE WHEN f.scanned IS NOT NULL
        AND (campaign_sends.scanned_at IS NULL OR f.scanned < campaign_sends.scanned_at)
        THEN f.scanned ELSE campaign_sends.scanned_at END
FROM (
    SELECT s.id AS id,
           min(CASE WHEN e.type = 'email_open' THEN e.occurred_at END) AS opened,
           min(CASE WHEN e.type = 'email_click' THEN e.occurred_at END) AS clicked,
           min(CASE WHEN e.type = 'qr_scan' THEN e.occurred_at END) AS scanned
    FROM campaign_sends s
    JOIN campaigns c ON c.id = s.campaign_id
    JOIN interaction_events e
      ON e.account_id = c.account_id AND e.campaign_ref = c.external_id AND e.contact_id = s.contact_id
    WHERE e.counted = TRUE AND e.type IN ('email_open', 'email_click', 'qr_scan')
    GROUP BY s.id
) f
WHERE campaign_sends.id = f.id
"""


def upgrade() -> None:
    with op.batch_alter_table("interaction_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("campaign_ref", sa.String(length=255), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_interaction_events_account_id_campaign_ref_contact_id"),
            ["account_id", "campaign_ref", "contact_id"],
            unique=False,
        )
    with op.batch_alter_table("checkouts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_checkouts_store_id_abandoned_at"), ["store_id", "abandoned_at"], unique=False
        )
    bind = op.get_bind()
    bind.execute(sa.text(FROM_CAMPAIGNS))
    _refs_from_inbox(bind)
    bind.execute(sa.text(LINK))
    bind.execute(sa.text(MARKS))


def _refs_from_inbox(bind: Any) -> None:
    """Read the campaign ids back from the API deliveries whose bodies are still kept."""
    after = 0
    while True:
        page = bind.execute(sa.text(API_DELIVERIES), {"after": after, "page": INBOX_PAGE}).all()
        if not page:
            return
        after = page[-1][0]
        found = [
            {"account": account_id, "event": event, "ref": ref}
            for _, account_id, body in page
            for event, ref in _named_campaigns(body)
        ]
        if found:
            bind.execute(sa.text(FROM_DELIVERY), found)


def _named_campaigns(body: bytes | None) -> list[tuple[str, str]]:
    """(event id, campaign id) of each record of an events delivery that names both."""
    try:
        items = json.loads(bytes(body or b""))
    except (UnicodeDecodeError, ValueError):
        return []  # emptied after the retention, or never valid
    if not isinstance(items, list):
        return []
    return [
        (item["event_id"], item["campaign_id"])
        for item in items
        if isinstance(item, dict)
        and isinstance(item.get("event_id"), str)
        and isinstance(item.get("campaign_id"), str)
        and 0 < len(item["event_id"]) <= MAX_REF
        and 0 < len(item["campaign_id"]) <= MAX_REF
        and "\x00" not in item["event_id"] + item["campaign_id"]
    ]


def downgrade() -> None:
    with op.batch_alter_table("checkouts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_checkouts_store_id_abandoned_at"))
    with op.batch_alter_table("interaction_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_interaction_events_account_id_campaign_ref_contact_id"))
        batch_op.drop_column("campaign_ref")
