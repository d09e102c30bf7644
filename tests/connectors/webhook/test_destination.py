"""Signed webhook destination: signature a receiver can verify, idempotency key, retries, refusals."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import responses
from hypothesis import given
from hypothesis import strategies as st

from connectors.webhook.destination import SIGNATURE_HEADER, signature, verify
from integration.settings import Settings
from integration.store.models import DestinationKind, SubscriptionStatus
from tests.support.syncs import PUBLIC_ADDRESS, Audience, add_sync, runner, set_contact

URL = "https://hooks.example.com/storepulse"
SECRET = "whsec_0123456789abcdef"


# The contacts of `audience_shop`.
pytestmark = pytest.mark.audience(700, unsubscribed=1)


@pytest.fixture
def webhook_sync_id(settings: Settings, audience_shop: Audience, dns: dict[str, list[str]]) -> int:
    dns["hooks.example.com"] = [PUBLIC_ADDRESS]
    return add_sync(settings, audience_shop, DestinationKind.WEBHOOK, {"url": URL}, {"secret": SECRET})


def received(call: Any) -> dict[str, Any]:
    body = call.request.body
    assert verify(SECRET, call.request.headers[SIGNATURE_HEADER], body, now=time.time())
    assert not verify("another-secret-0000", call.request.headers[SIGNATURE_HEADER], body, now=time.time())
    document: dict[str, Any] = json.loads(body)
    return document


@responses.activate
def test_batches_are_signed_carry_an_idempotency_key_and_only_changes_follow(
    settings: Settings, audience_shop: Audience, webhook_sync_id: int
) -> None:
    responses.post(URL, status=503)  # the first attempt fails and is retried with the same key
    responses.post(URL, json={"ok": True})
    run = runner(settings, [])
    first = run(webhook_sync_id)
    assert (first["status"], first["adds"]) == ("succeeded", 700)
    documents = [received(c) for c in responses.calls]
    assert [len(d["adds"]) for d in documents] == [500, 500, 200]  # the first batch twice
    keys = [c.request.headers["Idempotency-Key"] for c in responses.calls]
    assert keys[0] == keys[1]
    assert len(set(keys)) == 2
    assert {a["email"] for d in documents for a in d["adds"]} == {
        f"person{i}@example.com" for i in range(700)
    }

    set_contact(
        settings,
        audience_shop.contact_ids["person5@example.com"],
        subscription_status=SubscriptionStatus.UNSUBSCRIBED,
    )
    responses.calls.reset()
    second = run(webhook_sync_id)
    assert (second["adds"], second["removes"]) == (0, 1)
    [document] = [received(c) for c in responses.calls]
    assert document["removes"] == [
        {
            "contact_id": audience_shop.contact_ids["person5@example.com"],
            "email": "person5@example.com",
            "reason": "unsubscribed",
        }
    ]


@responses.activate
def test_errors_the_receiver_reports_are_retried_and_410_stops_the_sync(
    settings: Settings, audience_shop: Audience, webhook_sync_id: int
) -> None:
    refused = audience_shop.contact_ids["person3@example.com"]
    responses.post(URL, json={"errors": [{"contact_id": refused, "error": "unknown in CRM"}]})
    run = runner(settings, [])
    first = run(webhook_sync_id)
    assert (first["status"], first["adds"], first["failed"]) == ("partial", 699, 1)
    responses.calls.reset()
    again = run(webhook_sync_id)  # the receiver still refuses it: sent again, alone, and still failing
    assert (again["adds"], again["failed"]) == (0, 1)
    [document] = [received(c) for c in responses.calls]
    assert [a["contact_id"] for a in document["adds"]] == [refused]

    responses.reset()
    responses.post(URL, status=410)
    set_contact(settings, refused, first_name="Again")
    assert run(webhook_sync_id)["status"] == "stopped"


@given(body=st.binary(max_size=200), timestamp=st.integers(min_value=0, max_value=2**31))
def test_signature_verifies_only_the_same_body_time_and_secret(body: bytes, timestamp: int) -> None:
    header = signature(SECRET, timestamp, body)
    assert verify(SECRET, header, body, now=timestamp)
    assert not verify(SECRET, header, body + b"x", now=timestamp)
    assert not verify(SECRET, header, body, now=timestamp + 301)
    assert not verify(SECRET, "t=nonsense", body, now=timestamp)
