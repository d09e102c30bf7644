"""Email-tool webhooks end to end: checked, stored once, processed by a worker into contacts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from integration.accounts import add_email_source, email_webhook_path
from integration.app import create_app
from integration.ingest import ingest_orders
from integration.settings import Settings, configure
from integration.store import session_scope
from integration.store.models import (
    BlockedReason,
    Contact,
    EmailTool,
    EngagementStatus,
    InboxDelivery,
    InboxStatus,
    InteractionEvent,
    Order,
    SubscriptionStatus,
)
from jobs.ingest import sweep_inbox_job
from tests.factories import make_store, order
from tests.webhooks.test_signatures import DER_B64, sign

FIXTURES = Path(__file__).parent.parent / "fixtures"
SENDGRID_EVENTS = (FIXTURES / "sendgrid" / "events.json").read_bytes()
TIMESTAMP = "1781000500"


def _source(settings: Settings, kind: EmailTool, key: str | None = None) -> tuple[str, int]:
    with session_scope(settings.database_url) as session:
        account_id = make_store(session).account_id
        source, secret = add_email_source(session, account_id, kind, kind.value, key)
        return email_webhook_path(source, secret), account_id


def _signed(body: bytes) -> dict[str, str]:
    return {
        "X-Twilio-Email-Event-Webhook-Signature": sign(TIMESTAMP, body),
        "X-Twilio-Email-Event-Webhook-Timestamp": TIMESTAMP,
    }


def _contacts(settings: Settings) -> dict[str, Contact]:
    with session_scope(settings.database_url) as session:
        return {c.email: c for c in session.scalars(select(Contact))}


def _inbox_count(settings: Settings) -> int:
    with session_scope(settings.database_url) as session:
        return session.scalar(select(func.count()).select_from(InboxDelivery)) or 0


def test_signed_sendgrid_events_change_contacts_as_mapped(
    client: FlaskClient, settings: Settings, run_worker: Any
) -> None:
    path, _ = _source(settings, EmailTool.SENDGRID, DER_B64)
    answer = client.post(
        path, data=SENDGRID_EVENTS, headers=_signed(SENDGRID_EVENTS), content_type="application/json"
    )
    assert answer.status_code == 200
    run_worker()
    contacts = _contacts(settings)
    assert contacts["open@example.com"].engagement_status == EngagementStatus.ENGAGED
    assert contacts["click@example.com"].last_interaction_at == datetime.fromtimestamp(1781000120, UTC)
    assert contacts["machine@example.com"].last_interaction_at is None  # recorded, not counted
    assert contacts["hard@example.com"].blocked_reason == BlockedReason.HARD_BOUNCE
    assert contacts["blocked@example.com"].blocked_reason is None  # a block is a soft failure
    assert contacts["deferred@example.com"].blocked_reason is None
    assert contacts["spam@example.com"].engagement_status == EngagementStatus.BLOCKED
    assert contacts["unsub@example.com"].subscription_status == SubscriptionStatus.UNSUBSCRIBED
    with session_scope(settings.database_url) as session:
        delivery = session.scalars(select(InboxDelivery)).one()
        assert delivery.status == InboxStatus.PROCESSED
        skipped = {s["index"]: s for s in delivery.result["skipped"]}
        assert skipped[8]["reason"] == "not an engagement event"
        assert "email" in skipped[9]["errors"]


def test_a_retried_delivery_and_a_repeated_event_are_not_counted_twice(
    client: FlaskClient, settings: Settings, run_worker: Any
) -> None:
    path, _ = _source(settings, EmailTool.SENDGRID)
    client.post(path, data=SENDGRID_EVENTS, content_type="application/json")
    client.post(path, data=SENDGRID_EVENTS, content_type="application/json")  # SendGrid's retry
    regrouped = b"[" + SENDGRID_EVENTS.strip()[1:-1].split(b"\n")[1].rstrip(b",") + b"]"
    client.post(path, data=regrouped, content_type="application/json")  # the same event in a new batch
    run_worker()
    assert _inbox_count(settings) == 2
    with session_scope(settings.database_url) as session:
        assert session.scalar(select(func.count()).select_from(InteractionEvent)) == 8


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {
            "X-Twilio-Email-Event-Webhook-Timestamp": TIMESTAMP,
            "X-Twilio-Email-Event-Webhook-Signature": sign(TIMESTAMP, b"[]"),
        },
    ],
)
def test_a_forged_or_unsigned_sendgrid_delivery_is_refused_and_stored_nowhere(
    client: FlaskClient, settings: Settings, headers: dict[str, str]
) -> None:
    path, _ = _source(settings, EmailTool.SENDGRID, DER_B64)
    assert client.post(path, data=SENDGRID_EVENTS, headers=headers).status_code == 401
    assert _inbox_count(settings) == 0


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
        assert session.scalar(select(InboxDelivery.topic)) == "subscribe"
    run_worker()
    subscribed = _contacts(settings)["api@mailchimp.com"]
    assert (subscribed.subscription_status, subscribed.first_name, subscribed.last_name) == (
        SubscriptionStatus.SUBSCRIBED,
        "Mailchimp",
        "API",
    )
    assert _mailchimp(client, path, "unsubscribe") == 200
    assert _mailchimp(client, path, "cleaned") == 200
    run_worker()
    contacts = _contacts(settings)
    assert contacts["api@mailchimp.com"].subscription_status == SubscriptionStatus.UNSUBSCRIBED
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
    assert down.test_client().post(path, data=SENDGRID_EVENTS).status_code == 200
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
