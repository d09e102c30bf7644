"""Email-tool webhooks end to end: checked, stored once, processed by a worker into contacts."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from integration.accounts import add_email_source, email_webhook_path, set_verification_key
from integration.ingest import inbox, ingest_orders
from integration.settings import Settings, configure
from integration.store import session_scope
from integration.store.models import (
    BlockedReason,
    Contact,
    ContactEmail,
    EmailTool,
    EngagementStatus,
    InboxDelivery,
    InboxStatus,
    InteractionEvent,
    Order,
    SubscriptionStatus,
)
from integration.web.app import create_app
from jobs.ingest import process_inbox_job, sweep_inbox_job
from jobs.queues import INGEST, enqueue_or_sweep
from tests.support.builders import make_store, order
from tests.support.sendgrid import DER_B64, SENDGRID_EVENTS, keyless_sendgrid_source, signed_headers

FIXTURES = Path(__file__).parent.parent / "fixtures"
HOUR = 3600


def _source(settings: Settings, kind: EmailTool) -> tuple[str, int]:
    key = DER_B64 if kind == EmailTool.SENDGRID else None
    with session_scope(settings.database_url) as session:
        account_id = make_store(session).account_id
        source, secret = add_email_source(session, account_id, kind, kind.value, key)
        return email_webhook_path(source, secret), account_id


def _contacts(settings: Settings) -> dict[str, Contact]:
    with session_scope(settings.database_url) as session:
        return {c.email: c for c in session.scalars(select(Contact))}


def _inbox_count(settings: Settings) -> int:
    with session_scope(settings.database_url) as session:
        return session.scalar(select(func.count()).select_from(InboxDelivery)) or 0


def test_signed_sendgrid_events_change_contacts_as_mapped(
    client: FlaskClient, settings: Settings, run_worker: Any
) -> None:
    path, _ = _source(settings, EmailTool.SENDGRID)
    # The documented events moved to a day ago, their spacing kept: inside the engagement time
    # frame whenever the test runs.
    events = json.loads(SENDGRID_EVENTS)
    shift = int(time.time()) - 86_400 - max(e["timestamp"] for e in events)
    for event in events:
        event["timestamp"] += shift
    body = json.dumps(events).encode()
    answer = client.post(path, data=body, headers=signed_headers(body), content_type="application/json")
    assert answer.status_code == 200
    run_worker()
    contacts = _contacts(settings)
    assert contacts["open@example.com"].engagement_status == EngagementStatus.ENGAGED
    assert contacts["click@example.com"].last_interaction_at == datetime.fromtimestamp(
        1781000120 + shift, UTC
    )
    assert contacts["machine@example.com"].last_interaction_at is None  # recorded, not counted
    assert contacts["hard@example.com"].blocked_reason == BlockedReason.HARD_BOUNCE
    assert contacts["blocked@example.com"].blocked_reason is None  # a block is a soft failure
    assert contacts["deferred@example.com"].blocked_reason is None
    assert contacts["spam@example.com"].engagement_status == EngagementStatus.BLOCKED
    assert contacts["unsub@example.com"].subscription_status == SubscriptionStatus.UNSUBSCRIBED
    with session_scope(settings.database_url) as session:
        delivery = session.scalars(select(InboxDelivery)).one()
        assert delivery.status == InboxStatus.PROCESSED
        assert delivery.signature_verified_at == delivery.received_at
        skipped = {s["index"]: s for s in delivery.result["skipped"]}
        assert skipped[8]["reason"] == "not an engagement event"
        assert "email" in skipped[9]["errors"]


def test_a_retried_delivery_and_a_repeated_event_are_not_counted_twice(
    client: FlaskClient, settings: Settings, run_worker: Any
) -> None:
    path, _ = _source(settings, EmailTool.SENDGRID)
    for _ in range(2):  # SendGrid's retry
        answer = client.post(path, data=SENDGRID_EVENTS, headers=signed_headers(SENDGRID_EVENTS))
        assert answer.status_code == 200
    regrouped = b"[" + SENDGRID_EVENTS.strip()[1:-1].split(b"\n")[1].rstrip(b",") + b"]"
    # The same event in a new batch.
    assert client.post(path, data=regrouped, headers=signed_headers(regrouped)).status_code == 200
    run_worker()
    assert _inbox_count(settings) == 2
    with session_scope(settings.database_url) as session:
        assert session.scalar(select(func.count()).select_from(InteractionEvent)) == 8


@pytest.mark.parametrize("headers", [{}, signed_headers(b"[]")], ids=["unsigned", "signed for another body"])
def test_a_forged_or_unsigned_sendgrid_delivery_is_refused_and_stored_nowhere(
    client: FlaskClient, settings: Settings, headers: dict[str, str]
) -> None:
    path, _ = _source(settings, EmailTool.SENDGRID)
    answer = client.post(path, data=SENDGRID_EVENTS, headers=headers)
    assert (answer.status_code, answer.get_json()["code"]) == (401, "invalid_signature")
    assert _inbox_count(settings) == 0


@pytest.mark.parametrize(
    ("seconds_ago", "taken"),
    [
        (0, True),
        (24 * HOUR, True),  # SendGrid's last retry, a day after the event, with the first timestamp
        (72 * HOUR - 60, True),
        (72 * HOUR + 60, False),  # a captured delivery replayed later
        (-(72 * HOUR + 60), False),  # signed far in the future
        (-HOUR, True),  # a clock an hour ahead
    ],
)
def test_a_signed_sendgrid_delivery_is_taken_within_72_hours_of_its_timestamp(
    client: FlaskClient, settings: Settings, run_worker: Any, seconds_ago: int, taken: bool
) -> None:
    path, _ = _source(settings, EmailTool.SENDGRID)
    answer = client.post(path, data=SENDGRID_EVENTS, headers=signed_headers(SENDGRID_EVENTS, seconds_ago))
    if taken:
        assert answer.status_code == 200
        run_worker()
        assert _contacts(settings)["hard@example.com"].blocked_reason == BlockedReason.HARD_BOUNCE
    else:
        assert (answer.status_code, answer.get_json()["code"]) == (401, "timestamp_out_of_range")
        assert "72 hours" in answer.get_json()["message"]
        assert _inbox_count(settings) == 0


@pytest.mark.parametrize("signed", [False, True])
def test_a_sendgrid_source_without_a_key_refuses_every_delivery_until_one_is_set(
    client: FlaskClient, settings: Settings, run_worker: Any, signed: bool
) -> None:
    source_id, _ = keyless_sendgrid_source(settings)
    path = f"/webhooks/email/sendgrid/{source_id}"
    headers = signed_headers(SENDGRID_EVENTS) if signed else {}
    answer = client.post(path, data=SENDGRID_EVENTS, headers=headers, content_type="application/json")
    assert answer.status_code == 401
    assert answer.get_json()["code"] == "verification_key_missing"
    assert "verification key" in answer.get_json()["message"]
    assert _inbox_count(settings) == 0
    run_worker()
    assert _contacts(settings) == {}  # nobody blocked, unsubscribed or engaged

    with session_scope(settings.database_url) as session:
        set_verification_key(session, source_id, DER_B64)
    assert client.post(path, data=SENDGRID_EVENTS, headers={}).status_code == 401  # unsigned: still not
    assert client.post(path, data=SENDGRID_EVENTS, headers=signed_headers(SENDGRID_EVENTS)).status_code == 200
    run_worker()
    assert _contacts(settings)["hard@example.com"].blocked_reason == BlockedReason.HARD_BOUNCE


@pytest.mark.parametrize("key_set_since", [False, True])
def test_an_unsigned_delivery_accepted_before_keys_were_required_is_not_processed(
    client: FlaskClient, settings: Settings, run_worker: Any, key_set_since: bool
) -> None:
    source_id, _ = keyless_sendgrid_source(settings)
    with session_scope(settings.database_url) as session:  # still waiting in the inbox
        received = inbox.receive(
            session,
            source="sendgrid",
            topic="events",
            delivery_id=f"{source_id}:old",
            body=SENDGRID_EVENTS,
            email_source_id=source_id,
        )
    if key_set_since:  # the key says nothing about what was stored before it
        with session_scope(settings.database_url) as session:
            set_verification_key(session, source_id, DER_B64)
    enqueue_or_sweep(settings, INGEST, process_inbox_job, [received.id])
    run_worker()
    with session_scope(settings.database_url) as session:
        delivery = session.scalars(select(InboxDelivery)).one()
        assert delivery.status == InboxStatus.FAILED
        assert "signature was not verified when it was received" in (delivery.last_error or "")
    assert _contacts(settings) == {}
    if key_set_since:  # deliveries signed from now on are taken
        path = f"/webhooks/email/sendgrid/{source_id}"
        regrouped = b"[" + SENDGRID_EVENTS.strip()[1:-1].split(b"\n")[4].rstrip(b",") + b"]"
        assert client.post(path, data=regrouped, headers=signed_headers(regrouped)).status_code == 200
        run_worker()
        assert set(_contacts(settings)) == {"hard@example.com"}


def test_a_sendgrid_source_cannot_be_made_without_a_valid_key(settings: Settings) -> None:
    with session_scope(settings.database_url) as session:
        account_id = make_store(session).account_id
        for key in (None, "", "   "):
            with pytest.raises(ValueError, match="verification key"):
                add_email_source(session, account_id, EmailTool.SENDGRID, "sg", key)
        with pytest.raises(ValueError, match="ECDSA public key"):
            add_email_source(session, account_id, EmailTool.SENDGRID, "sg", "not a key")


def test_an_unknown_source_is_not_found(client: FlaskClient, settings: Settings) -> None:
    assert client.post("/webhooks/email/sendgrid/999", data=b"[]").status_code == 404
    assert client.post("/webhooks/email/mailchimp/999/secret", data=b"").status_code == 404
    assert _inbox_count(settings) == 0


def _mailchimp(client: FlaskClient, path: str, name: str) -> int:
    body = (FIXTURES / "mailchimp" / f"{name}.txt").read_bytes()
    return client.post(path, data=body, content_type="application/x-www-form-urlencoded").status_code


def test_mailchimp_validation_get_and_a_wrong_secret(client: FlaskClient, settings: Settings) -> None:
    path, _ = _source(settings, EmailTool.MAILCHIMP)
    assert client.get(path).status_code == 200
    wrong = path.rsplit("/", 1)[0] + "/not-the-secret"
    assert client.get(wrong).status_code == 401
    assert _mailchimp(client, wrong, "subscribe") == 401
    assert _inbox_count(settings) == 0


def test_mailchimp_subscribe_unsubscribe_and_cleaned(
    client: FlaskClient, settings: Settings, run_worker: Any
) -> None:
    path, _ = _source(settings, EmailTool.MAILCHIMP)
    assert _mailchimp(client, path, "subscribe") == 200
    with session_scope(settings.database_url) as session:
        stored = session.scalars(select(InboxDelivery)).one()
        # Mailchimp signs nothing: the secret in the URL was checked, no signature.
        assert (stored.topic, stored.signature_verified_at) == ("subscribe", None)
    run_worker()
    subscribed = _contacts(settings)["api@mailchimp.com"]
    assert (subscribed.subscription_status, subscribed.first_name, subscribed.last_name) == (
        SubscriptionStatus.SUBSCRIBED,
        "MailChimp",
        "API",
    )
    assert _mailchimp(client, path, "unsubscribe") == 200
    assert _mailchimp(client, path, "cleaned") == 200
    run_worker()
    contacts = _contacts(settings)
    assert contacts["api+unsub@mailchimp.com"].subscription_status == SubscriptionStatus.UNSUBSCRIBED
    assert contacts["api+cleaned@mailchimp.com"].blocked_reason == BlockedReason.HARD_BOUNCE


def test_mailchimp_upemail_keeps_one_contact_with_its_history(
    client: FlaskClient, settings: Settings, run_worker: Any
) -> None:
    path, account_id = _source(settings, EmailTool.MAILCHIMP)
    with session_scope(settings.database_url) as session:
        store = make_store(session, account_id=account_id)
        ingest_orders(
            session,
            store,
            [order("1", email="api+old@mailchimp.com"), order("2", email="api+new@mailchimp.com")],
        )
    assert _mailchimp(client, path, "upemail") == 200
    run_worker()
    contacts = _contacts(settings)
    assert list(contacts) == ["api+new@mailchimp.com"]
    with session_scope(settings.database_url) as session:
        owners = set(session.scalars(select(Order.contact_id)))
        assert owners == {contacts["api+new@mailchimp.com"].id}
        # The address it left is kept as the contact's earlier one.
        earlier = session.execute(select(ContactEmail.contact_id, ContactEmail.email)).all()
        assert earlier == [(contacts["api+new@mailchimp.com"].id, "api+old@mailchimp.com")]


def test_a_delivery_while_redis_is_down_is_kept_and_processed_when_it_returns(
    settings: Settings, tmp_path: Path, run_worker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _ = _source(settings, EmailTool.SENDGRID)
    down = create_app(
        {
            "database_url": settings.database_url,
            "redis_url": f"unix://{tmp_path}/gone.sock",
            "instance_path": tmp_path,
        }
    )
    signed = signed_headers(SENDGRID_EVENTS)
    assert down.test_client().post(path, data=SENDGRID_EVENTS, headers=signed).status_code == 200
    with session_scope(settings.database_url) as session:
        assert session.scalar(select(InboxDelivery.status)) == InboxStatus.PENDING
    monkeypatch.setattr("jobs.ingest.SWEEP_AFTER", timedelta(0))
    configure(settings)  # Redis is back
    assert sweep_inbox_job() == 1
    run_worker()
    assert _contacts(settings)["hard@example.com"].blocked_reason == BlockedReason.HARD_BOUNCE


def test_the_database_being_down_answers_503_so_the_tool_retries(settings: Settings, tmp_path: Path) -> None:
    down = create_app(
        {
            "database_url": "postgresql+psycopg://nobody@127.0.0.1:1/none",
            "redis_url": settings.redis_url,
            "instance_path": tmp_path,
        }
    )
    assert down.test_client().post("/webhooks/email/sendgrid/1", data=SENDGRID_EVENTS).status_code == 503
