"""Events: de-duplicated by event id, machine opens not counted, blocking and consent applied once."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from integration.ingest import ingest_campaigns, ingest_events, ingest_sends
from integration.records import CampaignRecord, SendRecord
from integration.store import session_scope
from integration.store.models import (
    BlockedReason,
    CampaignChannel,
    CampaignSend,
    Contact,
    InteractionEvent,
    InteractionType,
    SendStatus,
    SubscriptionStatus,
)
from tests.factories import NOW, event, make_store

T = InteractionType


def test_an_event_id_seen_before_changes_nothing(db_url: str) -> None:
    batch = [
        event(T.PRODUCT_VIEW, event_id="e1", email="a@example.com"),
        event(T.PRODUCT_VIEW, event_id="e1", email="a@example.com"),
    ]
    with session_scope(db_url) as session:
        store = make_store(session)
        first = ingest_events(session, store, batch, source="api")
        again = ingest_events(session, store, batch, source="api")
        assert (first.written, first.unchanged) == (1, 1)
        assert (again.written, again.unchanged) == (0, 2)
        assert again.contact_ids == set()
        assert session.scalar(select(func.count()).select_from(InteractionEvent)) == 1


def test_a_machine_open_is_stored_but_not_counted(db_url: str) -> None:
    with session_scope(db_url) as session:
        store = make_store(session)
        ingest_events(
            session, store, [event(T.EMAIL_OPEN, email="a@example.com", machine_open=True)], source="api"
        )
        stored = session.scalars(select(InteractionEvent)).one()
        assert not stored.counted
        assert stored.attributes == {"machine_open": True}
        assert session.scalar(select(Contact.last_interaction_at)) is None


def test_the_last_interaction_only_moves_forward(db_url: str) -> None:
    with session_scope(db_url) as session:
        store = make_store(session)
        ingest_events(session, store, [event(T.EMAIL_CLICK, at=NOW, email="a@example.com")], source="api")
        ingest_events(
            session,
            store,
            [event(T.PRODUCT_VIEW, at=NOW - timedelta(days=3), email="a@example.com")],
            source="api",
        )
        contact = session.scalars(select(Contact)).one()
        assert (contact.last_interaction_at, contact.last_interaction_type) == (NOW, T.EMAIL_CLICK)


def test_hard_bounce_and_spam_complaint_block_and_the_first_reason_stays(db_url: str) -> None:
    with session_scope(db_url) as session:
        store = make_store(session)
        ingest_events(
            session,
            store,
            [
                event(T.SOFT_BOUNCE, at=NOW - timedelta(days=2), email="soft@example.com"),
                event(T.SPAM_COMPLAINT, at=NOW, email="a@example.com"),
                event(T.HARD_BOUNCE, at=NOW - timedelta(days=1), email="a@example.com"),
            ],
            source="api",
        )
        blocked = dict(session.execute(select(Contact.email, Contact.blocked_reason)).all())
        assert blocked == {"soft@example.com": None, "a@example.com": BlockedReason.HARD_BOUNCE}


def test_unsubscribe_and_resubscribe_follow_event_time_not_arrival(db_url: str) -> None:
    with session_scope(db_url) as session:
        store = make_store(session)
        ingest_events(session, store, [event(T.SUBSCRIBE, at=NOW, email="a@example.com")], source="api")
        ingest_events(
            session,
            store,
            [event(T.UNSUBSCRIBE, at=NOW - timedelta(days=1), email="a@example.com")],
            source="api",
        )
        contact = session.scalars(select(Contact)).one()
        assert contact.subscription_status == SubscriptionStatus.SUBSCRIBED
        assert contact.subscription_reason == "subscribe"


def test_campaign_events_mark_the_send(db_url: str) -> None:
    with session_scope(db_url) as session:
        store = make_store(session)
        ingest_campaigns(
            session,
            store,
            [
                CampaignRecord(
                    external_id="spring",
                    channel=CampaignChannel.LETTER,
                    name="Spring letter",
                    preview=b"%PDF-1.4",
                    preview_content_type="application/pdf",
                )
            ],
        )
        ingest_sends(
            session,
            store,
            [
                SendRecord(
                    campaign_id="spring", status=SendStatus.DELIVERED, email="a@example.com", sent_at=NOW
                )
            ],
        )
        ingest_events(
            session,
            store,
            [
                event(T.QR_SCAN, at=NOW + timedelta(days=4), email="a@example.com", campaign_id="spring"),
                event(T.QR_SCAN, at=NOW + timedelta(days=3), email="a@example.com", campaign_id="spring"),
            ],
            source="api",
        )
        send = session.scalars(select(CampaignSend)).one()
        assert send.scanned_at == NOW + timedelta(days=3)
        assert send.preview_id is not None
        assert send.status == SendStatus.DELIVERED


def test_a_later_send_status_keeps_the_earlier_times(db_url: str) -> None:
    with session_scope(db_url) as session:
        store = make_store(session)
        ingest_campaigns(
            session, store, [CampaignRecord(external_id="n1", channel=CampaignChannel.EMAIL, name="N")]
        )
        ingest_sends(
            session,
            store,
            [SendRecord(campaign_id="n1", status=SendStatus.SENT, email="a@example.com", sent_at=NOW)],
        )
        ingest_sends(
            session,
            store,
            [
                SendRecord(
                    campaign_id="n1",
                    status=SendStatus.RETURNED,
                    email="a@example.com",
                    returned_at=NOW + timedelta(days=5),
                )
            ],
        )
        send = session.scalars(select(CampaignSend)).one()
        assert (send.status, send.sent_at, send.returned_at) == (
            SendStatus.RETURNED,
            NOW,
            NOW + timedelta(days=5),
        )
