"""Campaign references shared by events and sends: per-campaign locks, ids, late links, send marks.

Writers naming one campaign take turns; events are linked once their campaign exists; a send is
marked opened, clicked or scanned by the events naming its campaign, whichever was stored first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.orm import Session

from integration.store import locks
from integration.store.bulk import chunks
from integration.store.locks import lock_key
from integration.store.models import (
    Campaign,
    CampaignSend,
    InteractionEvent,
    InteractionType,
    table_of,
)

SEND_MARKS = {
    InteractionType.EMAIL_OPEN: "opened_at",
    InteractionType.EMAIL_CLICK: "clicked_at",
    InteractionType.QR_SCAN: "scanned_at",
}


def lock_campaigns(session: Session, account_id: int, external_ids: Iterable[str]) -> None:
    """Take turns with other transactions writing events, campaigns or sends that name these campaigns.

    On PostgreSQL a transaction-level advisory lock per (account, campaign external id), held until
    commit, taken before the caller reads or writes anything of those campaigns. It works whether
    or not the campaign exists yet, and each later statement (READ COMMITTED) sees what the
    transaction it waited for committed: an event batch, a campaign being created and its sends
    written at once always end with the send marked and the events linked. Keys are taken in
    sorted order, so two calls never each hold a key the other waits for. (A transaction making
    several calls, as the inbox does for a run of deliveries, can still meet another in a cycle:
    PostgreSQL then fails one delivery's savepoint, and the delivery is retried.) SQLite needs
    nothing: BEGIN IMMEDIATE lets one writer in at a time.
    """
    locks.hold(session, (lock_key(account_id, ref) for ref in external_ids))


def link_campaign_events(session: Session, account_id: int, refs: Iterable[str]) -> None:
    """Link events that named these campaigns (by external id) before the campaigns existed."""
    events, campaigns = table_of(InteractionEvent), table_of(Campaign)
    for part in chunks(sorted(set(refs))):
        session.execute(
            update(events)
            .where(
                events.c.account_id == account_id,
                events.c.campaign_ref.in_(part),
                events.c.campaign_id.is_(None),
            )
            .values(
                campaign_id=select(campaigns.c.id)
                .where(
                    campaigns.c.account_id == events.c.account_id,
                    campaigns.c.external_id == events.c.campaign_ref,
                )
                .scalar_subquery()
            )
        )


def campaign_ids(session: Session, account_id: int, external_ids: set[str]) -> dict[str, int]:
    """Map campaigns' external ids to their ids in the account."""
    found: dict[str, int] = {}
    for part in chunks(sorted(external_ids)):
        rows = session.execute(
            select(Campaign.external_id, Campaign.id).where(
                Campaign.account_id == account_id, Campaign.external_id.in_(part)
            )
        )
        found.update({ext: cid for ext, cid in rows if ext is not None})
    return found


def sends_named(session: Session, account_id: int, named: set[tuple[str, int]]) -> list[int]:
    """The ids of the sends of these (campaign external id, contact) pairs that exist now."""
    if not named:
        return []
    # Looked up now rather than when the events were read: a campaign or send committed meanwhile counts.
    campaigns = campaign_ids(session, account_id, {ref for ref, _ in named})
    wanted = {(campaigns[ref], contact) for ref, contact in named if ref in campaigns}
    if not wanted:
        return []
    table = table_of(CampaignSend)
    found: list[int] = []
    for part in chunks(sorted({contact for _, contact in wanted})):
        rows = session.execute(
            select(table.c.id, table.c.campaign_id, table.c.contact_id).where(
                table.c.campaign_id.in_(sorted({campaign for campaign, _ in wanted})),
                table.c.contact_id.in_(part),
            )
        )
        found += [send_id for send_id, campaign, contact in rows if (campaign, contact) in wanted]
    return found


def mark_sends(session: Session, send_ids: Sequence[int]) -> None:
    """Give sends the first counted open, click and QR scan of their contact that names their campaign.

    Events name a campaign by its external id, stored as given, so the order in which events,
    campaigns and sends arrive does not matter: whichever comes last marks the send. A time
    already marked stays unless an earlier event turns up. One statement per batch of sends, and
    only sends whose marks move are written (a repeated or later event rewrites no row).
    """
    sends, campaigns, events = table_of(CampaignSend), table_of(Campaign), table_of(InteractionEvent)
    send = sends.alias("send")
    kinds = [kind.value for kind in SEND_MARKS]
    for part in chunks(sorted(set(send_ids))):
        first = (
            select(
                send.c.id.label("id"),
                *(
                    func.min(case((events.c.type == kind.value, events.c.occurred_at))).label(column)
                    for kind, column in SEND_MARKS.items()
                ),
            )
            .select_from(
                send.join(campaigns, campaigns.c.id == send.c.campaign_id).join(
                    events,
                    and_(
                        events.c.account_id == campaigns.c.account_id,
                        events.c.campaign_ref == campaigns.c.external_id,
                        events.c.contact_id == send.c.contact_id,
                    ),
                )
            )
            .where(send.c.id.in_(part), events.c.counted.is_(True), events.c.type.in_(kinds))
            .group_by(send.c.id)
            .subquery("first")
        )
        moves = {
            column: and_(
                first.c[column].is_not(None),
                or_(sends.c[column].is_(None), first.c[column] < sends.c[column]),
            )
            for column in SEND_MARKS.values()
        }
        session.execute(
            update(sends)
            .where(sends.c.id == first.c.id, or_(*moves.values()))
            .values(
                {
                    column: case((moved, first.c[column]), else_=sends.c[column])
                    for column, moved in moves.items()
                }
            )
        )
