"""Messaging one customer through a real (local) SMTP server; blocked and unsubscribed contacts."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from email import message_from_bytes
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from integration import ingest
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import BlockedReason, CampaignSend, Contact, Sender, SubscriptionStatus
from integration.store.types import utcnow
from tests.support.builders import customer, store_of
from tests.support.servers import START_SECONDS, reserved_port


class Inbox:
    """An SMTP handler keeping what it receives (after `delay` seconds, like a slow server)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.messages: list[Any] = []
        self.delay = delay

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        await asyncio.sleep(self.delay)
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content)))
        return "250 OK"


@contextmanager
def serving(inbox: Inbox) -> Iterator[tuple[Inbox, int]]:
    with reserved_port() as port:
        controller = Controller(inbox, hostname="127.0.0.1", port=port, ready_timeout=START_SECONDS)
        controller.start()
        try:
            yield inbox, port
        finally:
            controller.stop()


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    with serving(Inbox()) as served:
        yield served


def use_sender(client: FlaskClient, headers: dict[str, str], port: int) -> None:
    sender = {"host": "127.0.0.1", "port": port, "security": "none", "from_email": "shop@example.com"}
    assert client.put("/api/v1/settings/sender", json=sender, headers=headers).status_code == 200


@pytest.fixture(autouse=True)
def message_contacts(settings: Settings, api_shop: dict[str, Any]) -> None:
    """ann, bob (bounced) and cy (unsubscribed); the shop gets their ids by name."""
    with session_scope(settings.database_url) as session:
        ingest.ingest_customers(
            session,
            store_of(session, api_shop),
            [
                customer("1", "ann@example.com", first_name="Ann"),
                customer("2", "bob@example.com"),
                customer("3", "cy@example.com"),
            ],
        )
        contacts = {c.email.split("@")[0]: c for c in session.scalars(select(Contact))}
        contacts["bob"].blocked_reason = BlockedReason.HARD_BOUNCE
        contacts["cy"].subscription_status = SubscriptionStatus.UNSUBSCRIBED
        api_shop.update({k: c.id for k, c in contacts.items()})


def test_a_message_reaches_the_smtp_server_and_shows_on_the_profile(
    client: FlaskClient, api_shop: dict[str, Any], smtp: tuple[Inbox, int], settings: Settings
) -> None:
    inbox, port = smtp
    sender = {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "from_email": "shop@example.com",
        "from_name": "Demo Boutique",
        "username": None,
        "password": "s3cret",
    }
    configured = client.put("/api/v1/settings/sender", json=sender, headers=api_shop["headers"])
    assert configured.status_code == 200
    assert configured.get_json()["sender"]["password_set"] is True
    assert "s3cret" not in configured.get_data(as_text=True)
    with session_scope(settings.database_url) as session:
        stored = session.scalars(select(Sender)).one()
        assert stored.password is not None
        assert b"s3cret" not in stored.password

    body = {"subject": "Your order", "body": "Hello Ann,\nthank you & see you soon <3"}
    answer = client.post(
        f"/api/v1/contacts/{api_shop['ann']}/messages", json=body, headers=api_shop["headers"]
    )
    assert answer.status_code == 201, answer.get_data(as_text=True)
    [(recipients, mail)] = inbox.messages
    assert recipients == ["ann@example.com"]
    assert (mail["Subject"], mail["From"], mail["To"]) == (
        "Your order",
        "Demo Boutique <shop@example.com>",
        "Ann <ann@example.com>",
    )
    assert "thank you & see you soon <3" in mail.get_payload(decode=True).decode()

    profile = client.get(f"/api/v1/contacts/{api_shop['ann']}", headers=api_shop["headers"]).get_json()
    [send] = profile["campaigns"]
    assert (send["campaign"]["name"], send["status"], send["campaign"]["channel"]) == (
        "Message: Your order",
        "sent",
        "email",
    )
    assert profile["recently_contacted"] is True
    preview = client.get(send["preview"]["url"], headers=api_shop["headers"])
    assert b"&amp; see you soon &lt;3" in preview.data  # shown as text, never as markup


def test_blocked_and_unsubscribed_contacts_are_refused_unless_overridden(
    client: FlaskClient, api_shop: dict[str, Any], smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    url = "/api/v1/contacts/{}/messages"
    body = {"subject": "Hi", "body": "Hello"}
    no_sender = client.post(url.format(api_shop["ann"]), json=body, headers=api_shop["headers"])
    assert (no_sender.status_code, no_sender.get_json()["code"]) == (409, "no_sender")
    client.put(
        "/api/v1/settings/sender",
        headers=api_shop["headers"],
        json={"host": "127.0.0.1", "port": port, "security": "none", "from_email": "shop@example.com"},
    )
    blocked = client.post(
        url.format(api_shop["bob"]), json={**body, "override_unsubscribed": True}, headers=api_shop["headers"]
    )
    assert (blocked.status_code, blocked.get_json()["code"]) == (409, "contact_blocked")
    unsubscribed = client.post(url.format(api_shop["cy"]), json=body, headers=api_shop["headers"])
    assert (unsubscribed.status_code, unsubscribed.get_json()["code"]) == (409, "contact_unsubscribed")
    assert inbox.messages == []
    overridden = client.post(
        url.format(api_shop["cy"]), json={**body, "override_unsubscribed": True}, headers=api_shop["headers"]
    )
    assert overridden.status_code == 201
    assert len(inbox.messages) == 1


def test_a_mail_server_that_refuses_leaves_a_failed_send_on_the_profile(
    client: FlaskClient, api_shop: dict[str, Any]
) -> None:
    with reserved_port() as port:  # held, never listened on: connecting is refused
        client.put(
            "/api/v1/settings/sender",
            headers=api_shop["headers"],
            json={"host": "127.0.0.1", "port": port, "security": "none", "from_email": "shop@example.com"},
        )
        answer = client.post(
            f"/api/v1/contacts/{api_shop['ann']}/messages",
            json={"subject": "Hi", "body": "Hello"},
            headers=api_shop["headers"],
        )
    assert (answer.status_code, answer.get_json()["code"]) == (502, "smtp_failed")
    profile = client.get(f"/api/v1/contacts/{api_shop['ann']}", headers=api_shop["headers"]).get_json()
    assert [s["status"] for s in profile["campaigns"]] == ["failed"]
    assert profile["recently_contacted"] is False


def test_a_subject_with_a_line_break_is_refused_and_a_name_with_one_stays_in_its_header(
    client: FlaskClient, api_shop: dict[str, Any], smtp: tuple[Inbox, int], settings: Settings
) -> None:
    inbox, port = smtp
    sender = {"host": "127.0.0.1", "port": port, "security": "none", "from_email": "shop@example.com"}
    assert client.put("/api/v1/settings/sender", json=sender, headers=api_shop["headers"]).status_code == 200
    refused = client.put(
        "/api/v1/settings/sender",
        json={**sender, "from_name": "Shop\r\nBcc: x@example.com"},
        headers=api_shop["headers"],
    )
    assert refused.status_code == 422
    url = f"/api/v1/contacts/{api_shop['ann']}/messages"
    injected = {"subject": "Hi\r\nBcc: everyone@example.com", "body": "Hello"}
    answer = client.post(url, json=injected, headers=api_shop["headers"])
    assert answer.status_code == 422
    assert "subject" in answer.get_json()["details"]["json"]
    with session_scope(settings.database_url) as session:
        session.get(
            Contact, api_shop["ann"]
        ).last_name = "Lee\nBcc: x@example.com"  # as a source might send it
    assert (
        client.post(url, json={"subject": "Hi", "body": "Hello"}, headers=api_shop["headers"]).status_code
        == 201
    )
    [(recipients, mail)] = inbox.messages
    assert recipients == ["ann@example.com"]
    assert mail["To"] == '"Ann Lee Bcc: x@example.com" <ann@example.com>'
    assert mail["Bcc"] is None


def test_a_second_message_within_the_frequency_cap_is_refused_unless_overridden(
    client: FlaskClient, api_shop: dict[str, Any], smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    use_sender(client, api_shop["headers"], port)
    url = f"/api/v1/contacts/{api_shop['ann']}/messages"
    first = client.post(url, json={"subject": "Your order", "body": "Hello"}, headers=api_shop["headers"])
    assert first.status_code == 201
    assert first.get_json()["frequency_cap_overridden"] is False

    again = client.post(url, json={"subject": "One more thing", "body": "Hi"}, headers=api_shop["headers"])
    assert again.status_code == 409
    refusal = again.get_json()
    assert refusal["code"] == "recently_contacted"
    profile = client.get(f"/api/v1/contacts/{api_shop['ann']}", headers=api_shop["headers"]).get_json()
    assert profile["recently_contacted"] is True
    assert refusal["details"] == {
        "last_contacted_at": profile["last_contacted_at"],
        "frequency_cap_days": 14,
    }
    last = datetime.fromisoformat(refusal["details"]["last_contacted_at"])
    assert last.utcoffset() == timedelta(0)
    assert last.isoformat() == first.get_json()["sent_at"]
    assert len(inbox.messages) == 1  # the refused one never reached the server

    overridden = client.post(
        url, json={"subject": "One more thing", "body": "Hi", "override": True}, headers=api_shop["headers"]
    )
    assert overridden.status_code == 201
    assert overridden.get_json()["frequency_cap_overridden"] is True
    assert [m["Subject"] for _, m in inbox.messages] == ["Your order", "One more thing"]
    sends = client.get(f"/api/v1/contacts/{api_shop['ann']}", headers=api_shop["headers"]).get_json()[
        "campaigns"
    ]
    assert [(s["campaign"]["name"], s["frequency_cap_overridden"]) for s in sends] == [
        ("Message: One more thing", True),
        ("Message: Your order", False),
    ]
    # Overriding one cap is not overriding the other: an unsubscribed contact still needs its own flag.
    unsubscribed = client.post(
        f"/api/v1/contacts/{api_shop['cy']}/messages",
        json={"subject": "Hi", "body": "Hello", "override": True},
        headers=api_shop["headers"],
    )
    assert (unsubscribed.status_code, unsubscribed.get_json()["code"]) == (409, "contact_unsubscribed")
    assert len(inbox.messages) == 2


def test_the_cap_and_the_profile_agree_on_the_window(
    client: FlaskClient, api_shop: dict[str, Any], smtp: tuple[Inbox, int], settings: Settings
) -> None:
    inbox, port = smtp
    use_sender(client, api_shop["headers"], port)
    url = f"/api/v1/contacts/{api_shop['ann']}/messages"
    body = {"subject": "Hi", "body": "Hello"}
    assert client.post(url, json=body, headers=api_shop["headers"]).status_code == 201
    with session_scope(settings.database_url) as session:  # the message went out 13 days ago
        session.execute(update(CampaignSend).values(sent_at=utcnow() - timedelta(days=13)))
    profile = client.get(f"/api/v1/contacts/{api_shop['ann']}", headers=api_shop["headers"]).get_json()
    assert profile["recently_contacted"] is True
    assert client.post(url, json=body, headers=api_shop["headers"]).status_code == 409

    assert (
        client.put(
            "/api/v1/settings", json={"frequency_cap_days": 12}, headers=api_shop["headers"]
        ).status_code
        == 200
    )
    profile = client.get(f"/api/v1/contacts/{api_shop['ann']}", headers=api_shop["headers"]).get_json()
    assert (profile["recently_contacted"], profile["frequency_cap_days"]) == (False, 12)
    sent = client.post(url, json=body, headers=api_shop["headers"])
    assert sent.status_code == 201
    assert sent.get_json()["frequency_cap_overridden"] is False
    assert len(inbox.messages) == 2


def test_two_messages_posted_at_once_send_one(app: Flask, api_shop: dict[str, Any]) -> None:
    # The server takes its time, so both requests are in flight together.
    with serving(Inbox(delay=0.5)) as (inbox, port):
        use_sender(app.test_client(), api_shop["headers"], port)
        url = f"/api/v1/contacts/{api_shop['ann']}/messages"
        together = threading.Barrier(2)
        answers: list[int] = []

        def post() -> None:
            client = app.test_client()
            together.wait()
            answer = client.post(url, json={"subject": "Hi", "body": "Hello"}, headers=api_shop["headers"])
            answers.append(answer.status_code)

        threads = [threading.Thread(target=post) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert sorted(answers) == [201, 409]
    assert len(inbox.messages) == 1
