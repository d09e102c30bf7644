"""Events: de-duplicated by event id, machine opens not counted, blocking and consent applied once."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from integration.ingest import ingest_campaigns, ingest_events, ingest_sends
from integration.records import CampaignRecord, EventRecord, SendRecord
from integration.store import session_factory, session_scope
from integration.store.models import (
    BlockedReason,
    Campaign,
    CampaignChannel,
    CampaignSend,
    Contact,
    InteractionEvent,
    InteractionType,
    SendStatus,
    Store,
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


# ---- opens, clicks and scans whatever the order of arrival -------------------------------------

SPRING = CampaignRecord(external_id="spring", channel=CampaignChannel.EMAIL, name="Spring news")
OPEN, CLICK, SCAN = NOW + timedelta(hours=1), NOW + timedelta(hours=2), NOW + timedelta(hours=3)


def _spring_events() -> list[EventRecord]:
    at = {"email": "a@example.com", "campaign_id": "spring"}
    return [
        event(T.EMAIL_OPEN, at=NOW + timedelta(minutes=1), event_id="m1", machine_open=True, **at),
        event(T.EMAIL_OPEN, at=OPEN + timedelta(hours=5), event_id="o2", **at),
        event(T.EMAIL_OPEN, at=OPEN, event_id="o1", **at),
        event(T.EMAIL_CLICK, at=CLICK, event_id="c1", **at),
        event(T.QR_SCAN, at=SCAN, event_id="s1", **at),
        # Another campaign's open and another contact's click mark nothing here.
        event(T.EMAIL_OPEN, at=NOW, event_id="x1", email="a@example.com", campaign_id="winter"),
        event(T.EMAIL_CLICK, at=NOW, event_id="x2", email="b@example.com", campaign_id="spring"),
    ]


STEPS = {
    "event": lambda session, store: ingest_events(session, store, _spring_events(), source="api"),
    "campaign": lambda session, store: ingest_campaigns(session, store, [SPRING]),
    "send": lambda session, store: ingest_sends(
        session,
        store,
        [SendRecord(campaign_id="spring", status=SendStatus.DELIVERED, email="a@example.com", sent_at=NOW)],
    ),
}


def _marks(session: Session) -> tuple[datetime | None, ...]:
    send = session.scalars(select(CampaignSend)).one()
    return (send.opened_at, send.clicked_at, send.scanned_at)


@pytest.mark.parametrize(
    "order",
    [("event", "campaign", "send"), ("campaign", "event", "send"), ("campaign", "send", "event")],
    ids="-then-".join,
)
def test_a_sends_first_open_click_and_scan_are_kept_whatever_the_order_of_arrival(
    db_url: str, order: tuple[str, ...]
) -> None:
    with session_scope(db_url) as session:
        store_id = make_store(session).id
    for step in order:  # each in its own transaction, as separate deliveries are
        with session_scope(db_url) as session:
            STEPS[step](session, session.get(Store, store_id))
    with session_scope(db_url) as session:
        store = session.get(Store, store_id)
        assert _marks(session) == (OPEN, CLICK, SCAN)
        # The events keep the campaign they named, linked to it once it exists.
        spring = session.scalars(select(Campaign.id).where(Campaign.external_id == "spring")).one()
        linked = session.execute(
            select(
                InteractionEvent.source_event_id, InteractionEvent.campaign_ref, InteractionEvent.campaign_id
            )
            .where(InteractionEvent.source_event_id.in_(["o1", "x1"]))
            .order_by(InteractionEvent.source_event_id)
        ).all()
        assert linked == [("o1", "spring", spring), ("x1", "winter", None)]
        # The same events again change nothing.
        again = ingest_events(session, store, _spring_events(), source="api")
        assert (again.written, again.unchanged) == (0, len(_spring_events()))
        STEPS["send"](session, store)
        assert _marks(session) == (OPEN, CLICK, SCAN)
    with session_scope(db_url) as session:
        store = session.get(Store, store_id)
        # An earlier open delivered late moves the first open earlier; a later click does not move it.
        ingest_events(
            session,
            store,
            [
                event(T.EMAIL_OPEN, at=OPEN - timedelta(minutes=30), event_id="o0", email="a@example.com",
                      campaign_id="spring"),
                event(T.EMAIL_CLICK, at=CLICK + timedelta(days=1), event_id="c2", email="a@example.com",
                      campaign_id="spring"),
            ],
            source="api",
        )  # fmt: skip
        assert _marks(session) == (OPEN - timedelta(minutes=30), CLICK, SCAN)


def test_a_campaign_created_after_its_events_links_them(db_url: str) -> None:
    with session_scope(db_url) as session:
        store = make_store(session)
        ingest_events(session, store, _spring_events(), source="api")
        assert session.scalar(select(func.count()).where(InteractionEvent.campaign_id.is_not(None))) == 0
        ingest_campaigns(session, store, [SPRING])
        spring = session.scalars(select(Campaign.id)).one()
        linked = session.scalars(
            select(InteractionEvent.campaign_id).where(InteractionEvent.campaign_ref == "spring")
        ).all()
        assert linked == [spring] * 6


# Row locks between concurrent transactions are PostgreSQL's; SQLite takes one writer at a time.
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("first", ["event", "send"])
def test_a_send_and_its_open_written_at_the_same_time_still_mark_it(db_url: str, first: str) -> None:
    with session_scope(db_url) as session:
        store = make_store(session)
        store_id = store.id
        ingest_events(session, store, [event(T.PRODUCT_VIEW, email="a@example.com")], source="api")
        ingest_campaigns(session, store, [SPRING])
    second = "send" if first == "event" else "event"
    done = threading.Event()

    def other() -> None:
        with session_scope(db_url) as session:
            STEPS[second](session, session.get(Store, store_id))
        done.set()

    with session_factory(db_url)() as held:
        STEPS[first](held, held.get(Store, store_id))
        held.flush()
        thread = threading.Thread(target=other)
        thread.start()
        time.sleep(0.5)
        # Neither transaction sees the other's uncommitted rows: the later one waits for the first.
        waited = not done.is_set()
        held.commit()
    thread.join(timeout=30)
    assert waited, "the second write should wait for the first to commit"
    assert done.is_set()
    with session_scope(db_url) as session:
        assert _marks(session) == (OPEN, CLICK, SCAN)
