"""What intake refuses at the door, and what it records as refused: ids too long to keep whole,
times at the edges of the calendar."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from integration.accounts import add_email_source, create_api_key, email_webhook_path
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import Contact, EmailTool, InboxDelivery, InboxStatus
from tests.support.builders import make_store
from tests.support.shopify import Deliver, raw

EDGES = ["0001-01-01T00:00+01:00", "9999-12-31T23:59:59-01:00"]


def _deliveries(settings: Settings) -> list[InboxDelivery]:
    with session_scope(settings.database_url) as session:
        rows = list(session.scalars(select(InboxDelivery).order_by(InboxDelivery.id)))
        session.expunge_all()
        return rows


def test_two_distinct_webhook_ids_longer_than_255_characters_are_refused_never_cut(
    shopify_settings: Settings, shop: int, deliver: Deliver
) -> None:
    common = "w" * 280
    first, second = common + "A" * 20, common + "B" * 20
    for webhook_id in (first, second):
        answer = deliver("orders/create", raw("orders_create"), webhook_id=webhook_id)
        assert answer.status_code == 400
        assert "X-Shopify-Webhook-Id is longer than 255 characters" in answer.get_data(as_text=True)
    assert _deliveries(shopify_settings) == []
    # 255 characters are kept whole, and two such ids are two deliveries.
    for webhook_id in ("x" * 254 + "1", "x" * 254 + "2"):
        assert deliver("orders/create", raw("orders_create"), webhook_id=webhook_id).status_code == 200
    assert sorted(d.delivery_id for d in _deliveries(shopify_settings)) == ["x" * 254 + "1", "x" * 254 + "2"]


def test_an_event_id_longer_than_255_characters_is_refused(
    shopify_settings: Settings, shop: int, deliver: Deliver
) -> None:
    for suffix in "AB":
        answer = deliver(
            "orders/create", raw("orders_create"), headers={"X-Shopify-Event-Id": "e" * 300 + suffix}
        )
        assert answer.status_code == 400
    assert _deliveries(shopify_settings) == []


def test_two_distinct_idempotency_keys_longer_than_200_characters_are_refused(
    client: FlaskClient, settings: Settings
) -> None:
    with session_scope(settings.database_url) as session:
        store = make_store(session)
        _, token = create_api_key(session, store.account_id)
        store_id = store.id
    customer = {"id": "c1", "email": "a@example.com", "updated_at": "2026-06-01T00:00:00Z"}
    for suffix in "AB":
        answer = client.post(
            f"/api/v1/stores/{store_id}/customers",
            json=[customer],
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "k" * 300 + suffix},
        )
        assert answer.status_code == 400
        assert answer.get_json()["code"] == "idempotency_key_too_long"
    assert _deliveries(settings) == []


@pytest.mark.parametrize("triggered_at", [*EDGES, "1900-01-01T00:00:00Z", "2999-01-01T00:00:00Z"])
def test_a_trigger_time_shopify_never_sends_answers_400_and_stores_nothing(
    triggered_at: str, shopify_settings: Settings, shop: int, deliver: Deliver
) -> None:
    answer = deliver("orders/create", raw("orders_create"), triggered_at=triggered_at)
    assert answer.status_code == 400
    assert "X-Shopify-Triggered-At" in answer.get_data(as_text=True)
    assert _deliveries(shopify_settings) == []


def test_an_unreadable_trigger_time_is_ignored_as_before(
    shopify_settings: Settings, shop: int, deliver: Deliver
) -> None:
    assert deliver("orders/create", raw("orders_create"), triggered_at="yesterday").status_code == 200
    [delivery] = _deliveries(shopify_settings)
    assert delivery.triggered_at is None


@pytest.mark.parametrize("fired_at", ["0001-01-01 00:00:00", "9999-12-31 23:59:59", "1900-01-01 00:00:00"])
def test_a_mailchimp_event_at_the_edge_of_the_calendar_is_recorded_as_refused_at_once(
    fired_at: str, client: FlaskClient, settings: Settings, run_worker: Any
) -> None:
    with session_scope(settings.database_url) as session:
        account_id = make_store(session).account_id
        source, secret = add_email_source(session, account_id, EmailTool.MAILCHIMP, "mc")
        path = email_webhook_path(source, secret)
    body = f"type=subscribe&fired_at={fired_at.replace(' ', '+')}&data%5Bemail%5D=edge%40example.com"
    answer = client.post(path, data=body, content_type="application/x-www-form-urlencoded")
    assert answer.status_code == 200  # stored first, as every delivery
    run_worker()
    [delivery] = _deliveries(settings)
    assert (delivery.status, delivery.attempts) == (InboxStatus.FAILED, 1)  # refused, not retried
    assert "fired_at" in (delivery.last_error or "")
    assert "must lie between 1990-01-01 and 2100-01-01" in (delivery.last_error or "")
    with session_scope(settings.database_url) as session:
        assert list(session.scalars(select(Contact.email))) == []
