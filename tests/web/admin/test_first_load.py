"""An embedded shop's first load: the managed install finished by token exchange, the backfill shown."""

from __future__ import annotations

import json
import re
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import redis
import responses
from flask.testing import FlaskClient
from sqlalchemy import select

from connectors.shopify.client import Tokens
from connectors.shopify.setup import WEBHOOK_TOPICS
from integration.crypto import decrypt_json
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import Account, Backfill, BackfillStatus, Order, Store, StoreState
from integration.store.types import utcnow
from tests.support.session_tokens import EMBEDDED, SECRET, fetch_headers, mint, page_load
from tests.support.shopify import (
    API_KEY,
    NEW_SHOP,
    NEW_SHOP_TOKEN_URL,
    Deliver,
    answer_new_shop,
    created_topics,
    expiring_tokens,
    raw,
)

pytestmark = EMBEDDED

SHOP = NEW_SHOP
TOKEN_URL = NEW_SHOP_TOKEN_URL
EXCHANGED = expiring_tokens("shpat_exchanged", "shprt_exchanged")


def shopify(mock: responses.RequestsMock, *, existing: tuple[str, ...] = (), exchange: Any = None) -> None:
    """Answer the new shop's token exchange and GraphQL calls; the shop sells in PLN, in Warsaw."""
    answer_new_shop(
        mock, tokens=exchange or EXCHANGED, currency="PLN", time_zone="Europe/Warsaw", existing=existing
    )


def subscribed(mock: responses.RequestsMock) -> list[str]:
    return sorted(created_topics(mock))


def test_the_first_load_exchanges_the_token_connects_the_store_and_starts_the_backfill(
    shopify_settings: Settings, shopify_client: FlaskClient, run_worker: Any
) -> None:
    token = mint(SHOP)
    with responses.RequestsMock() as mock:
        shopify(mock)
        answer = shopify_client.get("/admin/", query_string=page_load(token, shop=SHOP))
        assert answer.status_code == 200, answer.data
        exchange = json.loads(mock.calls[0].request.body)
        assert mock.calls[0].request.url == TOKEN_URL
        assert exchange == {
            "client_id": API_KEY,
            "client_secret": SECRET,
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "subject_token": token,
            "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
            "requested_token_type": "urn:shopify:params:oauth:token-type:offline-access-token",
            "expiring": "1",
        }
        assert subscribed(mock) == sorted(WEBHOOK_TOPICS)
        assert run_worker()  # the queued backfill, run by a real worker
    # The Contacts page of the new store, framed by its shop, saying that its history is coming.
    assert (
        answer.headers["Content-Security-Policy"]
        == f"frame-ancestors https://{SHOP} https://admin.shopify.com;"
    )
    assert b'id="contacts-empty"' in answer.data  # no contacts until the history arrives
    assert b'id="backfill"' in answer.data
    assert b"about to import the history of New Shop" in answer.data
    with session_scope(shopify_settings.database_url) as session:
        store = session.scalars(select(Store).where(Store.shop_domain == SHOP)).one()
        assert (store.name, store.currency, store.time_zone, store.state) == (
            "New Shop",
            "PLN",
            "Europe/Warsaw",
            StoreState.CONNECTED,
        )
        assert store.credentials is not None
        tokens = Tokens(**decrypt_json(shopify_settings.encryption_keys, store.credentials))
        assert (tokens.access_token, tokens.refresh_token) == ("shpat_exchanged", "shprt_exchanged")
        assert tokens.expires_at is not None
        stages = session.scalars(select(Backfill).where(Backfill.store_id == store.id)).all()
        assert [(b.stage, b.status) for b in stages] == [("customers", BackfillStatus.RUNNING)]


def test_the_page_shows_the_backfill_running_and_its_poll_says_when_it_is_done(
    shopify_settings: Settings, shopify_client: FlaskClient, run_worker: Any
) -> None:
    with responses.RequestsMock() as mock:
        shopify(mock)
        shopify_client.get("/admin/", query_string=page_load(mint(SHOP), shop=SHOP))
        run_worker()
    with responses.RequestsMock() as mock:  # the second load: connected, nothing asked of Shopify
        answer = shopify_client.get("/admin/", query_string=page_load(mint(SHOP), shop=SHOP, locale="pl"))
    assert answer.status_code == 200
    assert b"krok 1 z 3" in answer.data  # the page speaks the admin's language: Polish here
    poll_url = unescape(re.search(r'data-poll="([^"]+)"', answer.get_data(as_text=True))[1])  # type: ignore[index]
    assert urlsplit(poll_url).path == "/admin/backfill/progress"
    assert parse_qs(urlsplit(poll_url).query)["locale"] == ["pl"]  # the answer speaks the page's language
    poll = shopify_client.get("/admin/backfill/progress", headers=fetch_headers(mint(SHOP)))
    assert poll.status_code == 200
    assert poll.get_json()["ready"] is False
    assert "step 1 of 3, customers" in poll.get_json()["text"]
    with session_scope(shopify_settings.database_url) as session:
        for stage in session.scalars(select(Backfill)):
            stage.status, stage.records, stage.finished_at = BackfillStatus.COMPLETED, 12, utcnow()
        store_id = session.scalars(select(Store.id)).one()
        session.add(Backfill(store_id=store_id, stage="orders", status=BackfillStatus.RUNNING))
    poll = shopify_client.get("/admin/backfill/progress", headers=fetch_headers(mint(SHOP)))
    assert poll.get_json() == {
        "ready": False,
        "text": "Importing the history of New Shop from Shopify: step 2 of 3, orders. "
        "12 records imported so far.",
    }
    with session_scope(shopify_settings.database_url) as session:
        for stage in session.scalars(select(Backfill)):
            stage.status = BackfillStatus.COMPLETED
    poll = shopify_client.get("/admin/backfill/progress", headers=fetch_headers(mint(SHOP)))
    assert poll.get_json() == {"ready": True, "text": ""}
    answer = shopify_client.get("/admin/", query_string=page_load(mint(SHOP), shop=SHOP))
    assert b'id="backfill"' not in answer.data


def test_a_failed_stage_is_shown_without_polling(
    shopify_settings: Settings, shopify_client: FlaskClient, shop: int
) -> None:
    from tests.support.shopify import SHOP as CONNECTED

    with session_scope(shopify_settings.database_url) as session:
        session.add(
            Backfill(store_id=shop, stage="orders", status=BackfillStatus.FAILED, error="ACCESS_DENIED")
        )
    answer = shopify_client.get("/admin/", query_string=page_load(mint(CONNECTED), shop=CONNECTED))
    assert b'id="backfill"' in answer.data
    assert b"ACCESS_DENIED" in answer.data
    assert b'data-poll="/admin/backfill' not in answer.data


def test_a_reinstalled_shop_is_reconnected_not_duplicated(
    shopify_settings: Settings, shopify_client: FlaskClient, deliver: Deliver, run_worker: Any
) -> None:
    with responses.RequestsMock() as mock:
        shopify(mock)
        shopify_client.get("/admin/", query_string=page_load(mint(SHOP), shop=SHOP))
        assert deliver("orders/create", raw("orders_create"), shop=SHOP, secret=SECRET).status_code == 200
        uninstalled = deliver(
            "app/uninstalled",
            raw("app_uninstalled"),
            shop=SHOP,
            secret=SECRET,
            triggered_at=utcnow().isoformat(),
        )
        assert uninstalled.status_code == 200
        run_worker()
    with session_scope(shopify_settings.database_url) as session:
        assert session.scalars(select(Store.state)).all() == [StoreState.DISCONNECTED]
    with responses.RequestsMock() as mock:
        shopify(mock, existing=tuple(WEBHOOK_TOPICS)[:4])
        answer = shopify_client.get("/admin/", query_string=page_load(mint(SHOP), shop=SHOP))
        assert answer.status_code == 200
        assert subscribed(mock) == sorted(tuple(WEBHOOK_TOPICS)[4:])
    with session_scope(shopify_settings.database_url) as session:
        assert session.scalars(select(Store.state)).all() == [StoreState.CONNECTED]
        assert len(session.scalars(select(Account)).all()) == 1
        assert len(session.scalars(select(Order)).all()) == 1  # its data kept


def test_a_fetch_is_the_first_load_too(shopify_settings: Settings, shopify_client: FlaskClient) -> None:
    with responses.RequestsMock() as mock:
        shopify(mock)
        answer = shopify_client.get("/admin/backfill/progress", headers=fetch_headers(mint(SHOP)))
    assert answer.status_code == 200
    assert answer.get_json()["ready"] is False


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, {"error": "invalid_client", "error_description": "Client credentials are invalid"}),
        (500, {"errors": "Internal Server Error"}),
    ],
)
def test_shopify_refusing_the_exchange_shows_what_to_do_and_stores_nothing(
    shopify_settings: Settings, shopify_client: FlaskClient, status: int, body: dict[str, str]
) -> None:
    with responses.RequestsMock() as mock:
        mock.post(TOKEN_URL, status=status, json=body)
        answer = shopify_client.get("/admin/", query_string=page_load(mint(SHOP), shop=SHOP))
        fetched = shopify_client.get("/admin/backfill/progress", headers=fetch_headers(mint(SHOP)))
    assert answer.status_code == 502
    assert b'id="install-failed"' in answer.data
    assert b"Reload this page in a minute" in answer.data
    assert (
        answer.headers["Content-Security-Policy"]
        == f"frame-ancestors https://{SHOP} https://admin.shopify.com;"
    )
    assert fetched.status_code == 502
    assert fetched.get_json()["code"] == "install_failed"
    with session_scope(shopify_settings.database_url) as session:
        assert session.scalars(select(Store)).first() is None


def test_a_session_token_shopify_does_not_take_sends_the_page_to_the_bounce(
    shopify_client: FlaskClient,
) -> None:
    refused = {"error": "invalid_subject_token", "error_description": "The subject token is invalid"}
    with responses.RequestsMock() as mock:
        mock.post(TOKEN_URL, status=400, json=refused)
        answer = shopify_client.get("/admin/", query_string=page_load(mint(SHOP), shop=SHOP))
        fetched = shopify_client.get("/admin/backfill/progress", headers=fetch_headers(mint(SHOP)))
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("/admin/bounce?")
    assert fetched.status_code == 401
    assert fetched.headers["X-Shopify-Retry-Invalid-Session-Request"] == "1"


def test_a_grant_missing_a_needed_scope_is_explained(
    shopify_settings: Settings, shopify_client: FlaskClient
) -> None:
    with responses.RequestsMock() as mock:
        mock.post(TOKEN_URL, json={**EXCHANGED, "scope": "read_orders"})
        answer = shopify_client.get("/admin/", query_string=page_load(mint(SHOP), shop=SHOP))
    assert answer.status_code == 403
    assert b"read_customers" in answer.data
    with session_scope(shopify_settings.database_url) as session:
        assert session.scalars(select(Store)).first() is None


def test_with_redis_down_the_store_is_connected_and_the_upkeep_starts_the_backfill(
    shopify_settings: Settings, shopify_client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from integration.web import install

    def down(*args: object, **kwargs: object) -> None:
        raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(install, "enqueue", down)  # Redis itself is shared: its client fails here
    with responses.RequestsMock() as mock:
        shopify(mock)
        answer = shopify_client.get("/admin/", query_string=page_load(mint(SHOP), shop=SHOP))
    assert answer.status_code == 200
    assert b"about to import the history" in answer.data
    with session_scope(shopify_settings.database_url) as session:
        assert session.scalars(select(Store.state)).all() == [StoreState.CONNECTED]
        assert session.scalars(select(Backfill)).first() is None
    from jobs.shopify import shopify_upkeep_job

    assert shopify_upkeep_job()["started"] == 1
