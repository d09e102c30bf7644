"""SendGrid's and Mailchimp's published payloads, posted through the web app and read back by the API."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from integration.accounts import add_email_source, email_webhook_path
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import Contact, EmailTool, InboxDelivery, InboxStatus, InteractionEvent
from integration.web.context import settings_of
from tests.support.builders import bearer, make_store
from tests.support.sendgrid import DER_B64, sign
from webhooks.signatures import sendgrid_signature_valid

FIXTURES = Path(__file__).parent.parent / "fixtures"
VECTOR = json.loads((FIXTURES / "sendgrid" / "signature_vector.json").read_text())
SINGLE_SEND_OPENED = datetime(2020, 6, 9, 18, 19, 12, 372000, tzinfo=UTC)


def documented(name: str) -> list[dict[str, Any]]:
    """One of SendGrid's documented example batches."""
    events: list[dict[str, Any]] = json.loads(
        (FIXTURES / "sendgrid" / "documented" / f"{name}.json").read_bytes()
    )
    return events


def _account(settings: Settings, kind: EmailTool, key: str | None = DER_B64) -> dict[str, Any]:
    with session_scope(settings.database_url) as session:
        account_id = make_store(session).account_id
        source, secret = add_email_source(session, account_id, kind, kind.value, key)
        return {
            "id": account_id,
            "path": email_webhook_path(source, secret),
            "headers": bearer(session, account_id),
        }


def _post_signed(client: FlaskClient, path: str, body: bytes) -> int:
    timestamp = str(int(time.time()))
    headers = {
        "X-Twilio-Email-Event-Webhook-Signature": sign(timestamp, body),
        "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
    }
    return client.post(path, data=body, headers=headers, content_type="application/json").status_code


def _profile(client: FlaskClient, account: dict[str, Any], email: str) -> dict[str, Any]:
    with session_scope(settings_of(client.application).database_url) as session:
        contact_id = session.scalar(
            select(Contact.id).where(Contact.account_id == account["id"], Contact.email == email)
        )
    assert contact_id is not None, email
    answer = client.get(f"/api/v1/contacts/{contact_id}", headers=account["headers"])
    assert answer.status_code == 200, answer.get_data(as_text=True)
    profile: dict[str, Any] = answer.get_json()
    return profile


def _deliveries(settings: Settings) -> list[InboxDelivery]:
    with session_scope(settings.database_url) as session:
        return list(session.scalars(select(InboxDelivery).order_by(InboxDelivery.id)))


def test_sendgrids_signature_vector_verifies_and_its_wrong_key_and_signature_do_not() -> None:
    payload = VECTOR["payload"].encode()
    assert sendgrid_signature_valid(VECTOR["public_key"], VECTOR["signature"], VECTOR["timestamp"], payload)
    assert not sendgrid_signature_valid(
        VECTOR["bad_public_key"], VECTOR["signature"], VECTOR["timestamp"], payload
    )
    assert not sendgrid_signature_valid(
        VECTOR["public_key"], VECTOR["bad_signature"], VECTOR["timestamp"], payload
    )


def test_the_vector_posted_to_the_app_verifies_and_is_refused_only_for_its_age(
    client: FlaskClient, settings: Settings
) -> None:
    path = _account(settings, EmailTool.SENDGRID, key=VECTOR["public_key"])["path"]

    def post(signature: str) -> tuple[int, str]:
        headers = {
            "X-Twilio-Email-Event-Webhook-Signature": signature,
            "X-Twilio-Email-Event-Webhook-Timestamp": VECTOR["timestamp"],
        }
        answer = client.post(path, data=VECTOR["payload"].encode(), headers=headers)
        return answer.status_code, answer.get_json()["code"]

    # The signature is checked first: the vector's passes, then its 2020 timestamp is too old.
    assert post(VECTOR["signature"]) == (401, "timestamp_out_of_range")
    assert post(VECTOR["bad_signature"]) == (401, "invalid_signature")
    assert _deliveries(settings) == []


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        (1513299569, datetime(2017, 12, 15, 0, 59, 29, tzinfo=UTC)),
        (1591726752372, SINGLE_SEND_OPENED),  # SendGrid's Single Send example: milliseconds
        (10**11 - 1, None),  # seconds in the year 5138
        (10**11, None),  # milliseconds in March 1973
        (4102444800000, None),  # milliseconds in 2100
        pytest.param(10**400, None, id="beyond-any-float"),
        (-1, None),
    ],
)
def test_a_timestamp_is_read_in_seconds_or_plainly_milliseconds_else_refused(
    timestamp: int, expected: datetime | None
) -> None:
    from marshmallow import ValidationError

    from connectors.sendgrid.schemas import event_time

    if expected is None:
        with pytest.raises(ValidationError):
            event_time(timestamp)
    else:
        assert event_time(timestamp) == expected


def test_sendgrids_documented_events_with_the_single_send_one_are_all_stored(
    client: FlaskClient, settings: Settings, run_worker: Any
) -> None:
    account = _account(settings, EmailTool.SENDGRID)
    bad_time = {**documented("open")[0], "sg_event_id": "out-of-range", "timestamp": 99_999_999_999_999_999}
    # The reference's click and Single Send examples share the placeholder `sg_event_id`: as
    # published, the click is a replay of the open (a duplicate); under an id of its own it counts.
    click = documented("click")[0]
    batch = [
        *documented("single_send"),
        bad_time,
        *documented("open"),
        click,
        {**click, "sg_event_id": "click-1"},
    ]
    assert _post_signed(client, account["path"], json.dumps(batch).encode()) == 200
    for name in ("unsubscribe", "processed", "delivered", "dropped", "deferred", "blocked"):
        assert (
            _post_signed(
                client, account["path"], (FIXTURES / "sendgrid" / "documented" / f"{name}.json").read_bytes()
            )
            == 200
        )
    run_worker()

    deliveries = _deliveries(settings)
    assert [d.status for d in deliveries] == [InboxStatus.PROCESSED] * 7
    first = deliveries[0].result
    assert (first["written"], first["duplicate"]) == (3, 1)
    assert [(s["index"], list(s["errors"])) for s in first["skipped"]] == [(1, ["timestamp"])]
    alex = _profile(client, account, "alex@example.com")
    assert alex["engagement"]["last_interaction_at"] == SINGLE_SEND_OPENED.isoformat()
    assert alex["engagement"]["last_interaction_type"] == "email_open"
    assert alex["subscription"]["status"] == "unsubscribed"
    assert alex["blocked"] is None  # a block ("type": "blocked") is a soft bounce
    clicked = _profile(client, account, "email@example.com")
    assert clicked["engagement"]["last_interaction_at"] == "2009-08-11T00:00:00+00:00"


def _campaign_with_a_send(client: FlaskClient, account: dict[str, Any], contact_id: int) -> dict[str, Any]:
    body = {"channel": "email", "name": "Spring news", "preview_html": "<p>Spring</p>"}
    campaign: dict[str, Any] = client.post(
        "/api/v1/campaigns", json=body, headers=account["headers"]
    ).get_json()
    sends = [{"contact_id": contact_id, "status": "delivered", "sent_at": "2017-12-14T09:00:00Z"}]
    answer = client.post(f"/api/v1/campaigns/{campaign['id']}/sends", json=sends, headers=account["headers"])
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return campaign


def test_opens_and_clicks_carrying_storepulse_custom_args_count_for_their_campaign(
    client: FlaskClient, settings: Settings, run_worker: Any
) -> None:
    account = _account(settings, EmailTool.SENDGRID)
    other = _account(settings, EmailTool.SENDGRID)
    with session_scope(settings.database_url) as session:
        alex = Contact(account_id=account["id"], email="alex@example.com")
        stranger = Contact(account_id=other["id"], email="stranger@example.com")
        session.add_all([alex, stranger])
        session.flush()
        alex_id, stranger_id = alex.id, stranger.id
    campaign = _campaign_with_a_send(client, account, alex_id)
    args = {"storepulse_campaign_id": campaign["external_id"], "storepulse_contact_id": str(alex_id)}
    # The click went to another address of the same contact: the contact id the send carried decides.
    click = {**documented("click")[0], "timestamp": 1513299600, **args}
    opened = {**documented("open")[0], **args}
    # A contact id of another account is no contact of this one: the address decides.
    foreign = {
        **documented("open")[0],
        "sg_event_id": "foreign-contact",
        "email": "new@example.com",
        "storepulse_contact_id": str(stranger_id),
    }
    assert _post_signed(client, account["path"], json.dumps([opened, click, foreign]).encode()) == 200
    run_worker()

    results = client.get(f"/api/v1/campaigns/{campaign['id']}/results", headers=account["headers"]).get_json()
    assert (results["sends"], results["opened"], results["clicked"]) == (1, 1, 1)
    [send] = _profile(client, account, "alex@example.com")["campaigns"]
    assert (send["opened_at"], send["clicked_at"]) == (
        "2017-12-15T00:59:29+00:00",
        "2017-12-15T01:00:00+00:00",
    )
    with session_scope(settings.database_url) as session:
        owners = dict(
            session.execute(select(InteractionEvent.source_event_id, InteractionEvent.contact_id)).all()
        )
        refs = set(session.scalars(select(InteractionEvent.campaign_ref)))
    assert owners["sendgrid_internal_event_id"] == alex_id
    assert owners["foreign-contact"] not in (alex_id, stranger_id)
    assert refs == {campaign["external_id"], None}


def _post_form(client: FlaskClient, path: str, name: str) -> int:
    body = (FIXTURES / "mailchimp" / f"{name}.txt").read_bytes()
    return client.post(path, data=body, content_type="application/x-www-form-urlencoded").status_code


def test_mailchimps_documented_webhooks_are_all_taken(
    client: FlaskClient, settings: Settings, run_worker: Any
) -> None:
    account = _account(settings, EmailTool.MAILCHIMP, key=None)
    with session_scope(settings.database_url) as session:
        session.add(Contact(account_id=account["id"], email="api+old@mailchimp.com"))
    for name in ("subscribe", "profile", "unsubscribe", "cleaned", "upemail", "campaign"):
        assert _post_form(client, account["path"], name) == 200
    run_worker()

    deliveries = _deliveries(settings)
    assert [(d.topic, d.status) for d in deliveries] == [
        (name, InboxStatus.PROCESSED)
        for name in ("subscribe", "profile", "unsubscribe", "cleaned", "upemail", "campaign")
    ]
    subscribed = _profile(client, account, "api@mailchimp.com")
    assert (subscribed["first_name"], subscribed["last_name"]) == ("MailChimp", "API")
    assert subscribed["subscription"]["status"] == "subscribed"
    assert _profile(client, account, "api+unsub@mailchimp.com")["subscription"]["status"] == "unsubscribed"
    assert _profile(client, account, "api+cleaned@mailchimp.com")["blocked"]["reason"] == "hard_bounce"
    assert _profile(client, account, "api+new@mailchimp.com")["email"] == "api+new@mailchimp.com"
    with session_scope(settings.database_url) as session:
        emails = set(session.scalars(select(Contact.email).where(Contact.account_id == account["id"])))
    assert "api+old@mailchimp.com" not in emails
    assert deliveries[-1].result["skipped"] == [{"reason": "campaign status is no contact event"}]
