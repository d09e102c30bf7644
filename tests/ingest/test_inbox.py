"""The inbox: stored once, processed once, bad input reported, nothing dropped."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from connectors.registry import SOURCES
from integration.contract import Outcome
from integration.ingest import inbox
from integration.store import session_scope
from integration.store.models import Contact, InboxDelivery, InboxStatus, Store
from integration.store.types import utcnow
from tests.support.builders import make_store

CUSTOMER = {"id": "1", "email": "ann@example.com", "updated_at": "2026-06-01T10:00:00+02:00"}


def _receive(
    session: Session, store_id: int, body: Any, delivery_id: str = "d1", topic: str = "customers"
) -> int:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return inbox.receive(
        session, source="api", topic=topic, delivery_id=delivery_id, body=raw, store_id=store_id
    ).id


def test_a_redelivery_is_stored_once(db_url: str) -> None:
    with session_scope(db_url) as session:
        store = make_store(session)
        first = inbox.receive(
            session, source="api", topic="customers", delivery_id="d1", body=b"[]", store_id=store.id
        )
        second = inbox.receive(
            session, source="api", topic="customers", delivery_id="d1", body=b"[]", store_id=store.id
        )
        assert first.new
        assert not second.new
        assert first.id == second.id
        assert session.scalar(select(func.count()).select_from(InboxDelivery)) == 1


def test_a_delivery_is_processed_exactly_once(db_url: str) -> None:
    with session_scope(db_url) as session:
        store = make_store(session)
        delivery_id = _receive(session, store.id, [CUSTOMER])
        assert inbox.process(session, [delivery_id], SOURCES)["processed"] == 1
        assert inbox.process(session, [delivery_id], SOURCES)["skipped"] == 1
        delivery = session.get(InboxDelivery, delivery_id)
        assert (delivery.status, delivery.attempts) == (InboxStatus.PROCESSED, 1)
        assert delivery.result == {"written": 1, "unchanged": 0, "duplicate": 0, "skipped": []}
        assert session.scalar(select(Contact.engagement_status)) is not None  # classified in the same job


def test_invalid_records_are_reported_by_index_while_valid_ones_are_stored(db_url: str) -> None:
    batch = [
        CUSTOMER,
        {"id": "2", "email": "not-an-email", "updated_at": "2026-06-01T10:00:00"},
        {"id": "3", "email": "c@example.com", "updated_at": "2026-06-01T10:00:00Z", "colour": "red"},
    ]
    with session_scope(db_url) as session:
        store = make_store(session)
        delivery_id = _receive(session, store.id, batch)
        inbox.process(session, [delivery_id], SOURCES)
        result = session.get(InboxDelivery, delivery_id).result
        assert result["written"] == 1
        errors = {e["index"]: e["errors"] for e in result["skipped"]}
        assert set(errors) == {1, 2}
        assert set(errors[1]) == {"email", "updated_at"}
        assert errors[2] == {"colour": ["Unknown field."]}


def test_malformed_json_fails_that_delivery_and_not_its_neighbours(db_url: str) -> None:
    with session_scope(db_url) as session:
        store = make_store(session)
        bad = _receive(session, store.id, b"[{not json", delivery_id="bad")
        good = _receive(session, store.id, [CUSTOMER], delivery_id="good")
        counts = inbox.process(session, [bad, good], SOURCES)
        assert (counts["failed"], counts["processed"]) == (1, 1)
        failed = session.get(InboxDelivery, bad)
        assert failed.status == InboxStatus.FAILED
        assert "not JSON" in failed.last_error
        assert session.get(InboxDelivery, good).status == InboxStatus.PROCESSED


class Flaky:
    """A source that fails the way an outage does, and rolls back what it wrote."""

    name = "api"

    def process(self, session: Session, delivery: InboxDelivery) -> Outcome:
        store = session.get(Store, delivery.store_id)
        session.add(Contact(account_id=store.account_id, email="half-written@example.com"))
        session.flush()
        raise ConnectionError("database went away")


def test_a_transient_failure_keeps_the_delivery_pending_then_failed_after_the_last_attempt(
    db_url: str,
) -> None:
    with session_scope(db_url) as session:
        store = make_store(session)
        delivery_id = _receive(session, store.id, [CUSTOMER])
        for _ in range(inbox.MAX_ATTEMPTS - 1):
            assert inbox.process(session, [delivery_id], {"api": Flaky()})["retry"] == 1
            assert session.get(InboxDelivery, delivery_id).status == InboxStatus.PENDING
        assert inbox.process(session, [delivery_id], {"api": Flaky()})["failed"] == 1
        delivery = session.get(InboxDelivery, delivery_id)
        assert (delivery.status, delivery.attempts) == (InboxStatus.FAILED, inbox.MAX_ATTEMPTS)
        assert "database went away" in delivery.last_error
        assert session.scalar(select(func.count()).select_from(Contact)) == 0  # nothing half-written


def test_records_skipped_by_ingest_are_reported_at_their_batch_index(db_url: str) -> None:
    batch = [
        {"type": "email_open", "occurred_at": "yesterday", "email": "a@example.com"},
        {"type": "email_open", "occurred_at": "2026-06-01T10:00:00Z", "customer_id": "never-seen"},
        {"type": "email_open", "occurred_at": "2026-06-01T10:00:00Z", "email": "b@example.com"},
    ]
    with session_scope(db_url) as session:
        store = make_store(session)
        delivery_id = _receive(session, store.id, batch, topic="events")
        inbox.process(session, [delivery_id], SOURCES)
        result = session.get(InboxDelivery, delivery_id).result
        assert result["written"] == 1
        assert [(s["index"], s.get("field") or next(iter(s["errors"]))) for s in result["skipped"]] == [
            (0, "occurred_at"),
            (1, "email"),
        ]


def test_old_finished_deliveries_lose_their_bodies_and_keep_their_place(db_url: str) -> None:
    from datetime import timedelta

    from integration.store.types import utcnow

    with session_scope(db_url) as session:
        store = make_store(session)
        done = _receive(session, store.id, [CUSTOMER], delivery_id="old-done")
        waiting = _receive(session, store.id, [CUSTOMER], delivery_id="old-waiting")
        recent = _receive(session, store.id, [CUSTOMER], delivery_id="recent")
        inbox.process(session, [done, recent], SOURCES)
        for delivery_id in (done, waiting):
            session.get(InboxDelivery, delivery_id).received_at = utcnow() - timedelta(days=31)
        session.flush()
        assert inbox.purge_bodies(session, timedelta(days=30)) == 1
        assert inbox.purge_bodies(session, timedelta(days=30)) == 0
        bodies = {d.delivery_id: d.body for d in session.scalars(select(InboxDelivery))}
        assert bodies["old-done"] == b""
        assert bodies["old-waiting"] != b""  # still to be processed: never purged
        assert bodies["recent"] != b""
        # The purged delivery still de-duplicates a redelivery.
        assert not inbox.receive(
            session, source="api", topic="customers", delivery_id="old-done", body=b"[]", store_id=store.id
        ).new


def test_the_sweeper_takes_the_oldest_stale_deliveries_each_store_together(db_url: str) -> None:
    """Jobs of consecutive ids then hold one store's deliveries, normalized in one batch each."""
    with session_scope(db_url) as session:
        first, second = make_store(session), make_store(session, "PLN")
        ids = {
            n: _receive(session, (first, second)[n % 2].id, [CUSTOMER], delivery_id=f"d{n}") for n in range(7)
        }
        fresh = _receive(session, first.id, [CUSTOMER], delivery_id="fresh")
        session.execute(
            update(InboxDelivery)
            .where(InboxDelivery.id != fresh)
            .values(received_at=utcnow() - timedelta(minutes=10))
        )
        done = _receive(session, second.id, [CUSTOMER], delivery_id="done")
        session.execute(
            update(InboxDelivery)
            .where(InboxDelivery.id == done)
            .values(status=InboxStatus.PROCESSED, received_at=utcnow() - timedelta(minutes=10))
        )

        swept = inbox.stale_pending(session, timedelta(minutes=2))
        oldest = inbox.stale_pending(session, timedelta(minutes=2), limit=3)

    assert swept == [ids[0], ids[2], ids[4], ids[6], ids[1], ids[3], ids[5]]
    assert oldest == [ids[0], ids[2], ids[1]]  # the three oldest, then grouped
