"""Events: de-duplicated by event id, machine opens not counted, blocking and consent applied once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from integration.campaigns.sends import SendInput, record_sends, save_campaign
from integration.contract import CampaignRecord, EventRecord, SendRecord
from integration.ingest import ingest_campaigns, ingest_events, ingest_sends
from integration.store import get_engine, session_scope
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
from tests.support.builders import NOW, event, make_store

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
        assert (first.written, first.unchanged, first.duplicate) == (1, 0, 1)
        assert (again.written, again.unchanged, again.duplicate) == (0, 0, 2)
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


def _record_send(session: Session, store: Store) -> None:
    """The send as `POST /api/v1/campaigns/{id}/sends` records it."""
    spring = session.scalars(
        select(Campaign.id).where(Campaign.account_id == store.account_id, Campaign.external_id == "spring")
    ).one()
    record_sends(
        session,
        store.account_id,
        spring,
        [SendInput(SendStatus.DELIVERED, email="a@example.com", sent_at=NOW)],
    )


STEPS: dict[str, Callable[[Session, Store], object]] = {
    "event": lambda session, store: ingest_events(session, store, _spring_events(), source="api"),
    "campaign": lambda session, store: ingest_campaigns(session, store, [SPRING]),
    "send": lambda session, store: ingest_sends(
        session,
        store,
        [SendRecord(campaign_id="spring", status=SendStatus.DELIVERED, email="a@example.com", sent_at=NOW)],
    ),
    # The same through the API's own functions (POST /api/v1/campaigns and its sends).
    "saved_campaign": lambda session, store: save_campaign(
        session, store.account_id, channel=SPRING.channel, name=SPRING.name, external_id="spring"
    ),
    "recorded_send": _record_send,
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
        assert (again.written, again.unchanged, again.duplicate) == (0, 0, len(_spring_events()))
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


def _send_row(db_url: str) -> tuple[datetime | None, ...]:
    """The send's marks, when it was last written, and on PostgreSQL the row version (xmin)."""
    with session_scope(db_url) as session:
        send = session.scalars(select(CampaignSend)).one()
        version = (
            session.scalar(text("SELECT xmin::text FROM campaign_sends"))
            if session.get_bind().dialect.name == "postgresql"
            else None
        )
        return (*_marks(session), send.updated_at, version)


def test_events_that_move_no_mark_leave_the_send_as_it_was(db_url: str) -> None:
    with session_scope(db_url) as session:
        store_id = make_store(session).id
    for step in ("campaign", "send", "event"):
        with session_scope(db_url) as session:
            STEPS[step](session, session.get(Store, store_id))
    before = _send_row(db_url)
    assert before[:3] == (OPEN, CLICK, SCAN)
    at = {"email": "a@example.com", "campaign_id": "spring"}
    later = [
        event(T.EMAIL_OPEN, at=OPEN, event_id="o1", **at),  # the same open, reported by another source
        event(T.EMAIL_CLICK, at=CLICK + timedelta(hours=1), event_id="c9", **at),
        event(T.QR_SCAN, at=SCAN + timedelta(days=1), event_id="s9", **at),
    ]
    for batch, source in ((_spring_events(), "api"), (later, "sendgrid"), (later, "sendgrid")):
        with session_scope(db_url) as session:
            ingest_events(session, session.get(Store, store_id), batch, source=source)
        assert _send_row(db_url) == before, f"{source} rewrote the send"
    with session_scope(db_url) as session:
        ingest_events(
            session,
            session.get(Store, store_id),
            [event(T.EMAIL_OPEN, at=OPEN - timedelta(minutes=1), event_id="o0", **at)],
            source="api",
        )
    after = _send_row(db_url)
    assert after[:3] == (OPEN - timedelta(minutes=1), CLICK, SCAN)
    assert after[3] > before[3]


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


# ---- writes at the same moment (PostgreSQL; SQLite lets one writer in at a time) -----------------

WAIT_S = 60  # generous: the machine may be busy, and a test that passes waits far less


class Held:
    """A transaction in a thread and session of its own: it does `step`, then stays open until `commit`."""

    def __init__(self, db_url: str, store_id: int, step: str) -> None:
        self.db_url, self.store_id, self.step = db_url, store_id, step
        self.pid: int | None = None
        self.error: BaseException | None = None
        self.started, self.ready, self.go, self.done = (threading.Event() for _ in range(4))
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.started.wait(WAIT_S)

    def _run(self) -> None:
        try:
            with session_scope(self.db_url) as session:
                self.pid = session.scalar(select(func.pg_backend_pid()))
                self.started.set()
                STEPS[self.step](session, session.get(Store, self.store_id))
                session.flush()
                self.ready.set()
                if not self.go.wait(WAIT_S):
                    raise TimeoutError(f"{self.step} was never told to commit")
        except BaseException as exc:  # noqa: BLE001 - raised again in the test's thread
            self.error = exc
        finally:
            self.started.set()
            self.done.set()

    def ready_or_waiting(self) -> str | None:
        """None once the step is done (and open); else the lock it waits for, as PostgreSQL reports it.

        Read from another connection, so a step that is merely slow is never taken for one that waits.
        """
        deadline = time.monotonic() + WAIT_S
        with get_engine(self.db_url).connect() as watcher:
            while time.monotonic() < deadline:
                if self.ready.is_set() or self.done.is_set():
                    self._raise()
                    return None
                waiting = watcher.execute(
                    text(
                        "SELECT wait_event FROM pg_stat_activity"
                        " WHERE pid = :pid AND wait_event_type = 'Lock'"
                    ),
                    {"pid": self.pid},
                ).scalar()
                watcher.rollback()
                if waiting is not None:
                    return str(waiting)
                time.sleep(0.01)
        raise AssertionError(f"{self.step} neither finished nor waited for a lock")

    def commit(self) -> None:
        self.go.set()
        assert self.done.wait(WAIT_S)
        self.thread.join(WAIT_S)
        self._raise()

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error


def _contact_of_events(db_url: str) -> int:
    """A store whose contact the writes below leave as it is: first seen before, last active after them.

    So none of them waits for another on the contact's row, only on what they share by design.
    """
    with session_scope(db_url) as session:
        store = make_store(session)
        ingest_events(
            session,
            store,
            [
                event(T.PRODUCT_VIEW, at=at, email="a@example.com")
                for at in (NOW - timedelta(days=1), SCAN + timedelta(days=1))
            ],
            source="api",
        )
        return store.id


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize(
    ("first", "second"),
    [("event", "send"), ("send", "event"), ("event", "recorded_send"), ("recorded_send", "event")],
    ids=["event-then-send", "send-then-event", "event-then-recorded_send", "recorded_send-then-event"],
)
def test_a_send_and_its_open_written_at_the_same_time_still_mark_it(
    db_url: str, first: str, second: str
) -> None:
    store_id = _contact_of_events(db_url)
    with session_scope(db_url) as session:
        ingest_campaigns(session, session.get(Store, store_id), [SPRING])
    earlier = Held(db_url, store_id, first)
    assert earlier.ready_or_waiting() is None
    later = Held(db_url, store_id, second)
    try:
        # Neither sees the other's uncommitted rows: the later one waits for the earlier to commit.
        assert later.ready_or_waiting() == "advisory"
    finally:
        earlier.commit()
        later.commit()
    with session_scope(db_url) as session:
        assert _marks(session) == (OPEN, CLICK, SCAN)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize(
    ("campaign_step", "send_step"),
    [("campaign", "send"), ("saved_campaign", "recorded_send")],
    ids=["ingest", "api"],
)
def test_events_then_their_new_campaign_then_its_sends_written_at_once_mark_the_send(
    db_url: str, campaign_step: str, send_step: str
) -> None:
    store_id = _contact_of_events(db_url)
    events = Held(db_url, store_id, "event")  # the campaign does not exist yet
    assert events.ready_or_waiting() is None
    campaign = Held(db_url, store_id, campaign_step)
    try:
        waited = campaign.ready_or_waiting()
        # Committed in the worst order the store allows: the events last, unless the campaign waits
        # for them (it cannot see their uncommitted rows to link them).
        if waited is not None:
            events.commit()
        campaign.commit()
        sends = Held(db_url, store_id, send_step)
        assert sends.ready_or_waiting() is None
        sends.commit()
    finally:
        events.commit()
    with session_scope(db_url) as session:
        assert _marks(session) == (OPEN, CLICK, SCAN)
        spring = session.scalars(select(Campaign.id).where(Campaign.external_id == "spring")).one()
        linked = session.scalars(
            select(InteractionEvent.campaign_id).where(InteractionEvent.campaign_ref == "spring")
        )
        assert set(linked) == {spring}
    assert waited == "advisory", "saving the campaign should wait for the events naming it"


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_sends_written_while_their_campaign_is_created_wait_for_it(db_url: str) -> None:
    store_id = _contact_of_events(db_url)
    with session_scope(db_url) as session:
        ingest_events(session, session.get(Store, store_id), _spring_events(), source="api")
    campaign = Held(db_url, store_id, "campaign")
    assert campaign.ready_or_waiting() is None
    sends = Held(db_url, store_id, "send")
    try:
        waited = sends.ready_or_waiting()
    finally:
        campaign.commit()
        sends.commit()
    with session_scope(db_url) as session:
        assert session.scalar(select(func.count()).select_from(CampaignSend)) == 1, "the send was lost"
        assert _marks(session) == (OPEN, CLICK, SCAN)
    assert waited == "advisory", "the sends should wait for the campaign being created"
