"""A contact's earlier addresses: kept when a newer one replaces them, and the contact found by them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import responses
from flask.testing import FlaskClient
from sqlalchemy import func, select

from integration.contacts.profile import profile
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import Contact, ContactEmail, InteractionEvent, Store, StoreCustomer
from tests.support.batches import api_orders_of_one_customer, process_batch
from tests.support.builders import NOW, make_store
from tests.support.shopify import SHOP, Deliver, payload

CUSTOMER = 706405506930370084  # the id of the customers/create sample (bob@biller.com)
OLD, NEW = "bob@biller.com", "bob.new@biller.com"
UPDATED = "2026-07-12T09:30:00-04:00"
GRAPHQL = f"https://{SHOP}/admin/api/2026-07/graphql.json"


def _consent_read(request: Any) -> tuple[int, dict[str, str], str]:
    """Shopify's answer to the consent read that follows a customer delivery: an older version."""
    ids = json.loads(request.body)["variables"]["ids"]
    nodes = [
        {
            "id": gid,
            "firstName": "Bob",
            "lastName": "Biller",
            "createdAt": "2026-07-09T14:00:00Z",
            "updatedAt": "2026-07-09T14:00:00Z",
            "tags": [],
            "defaultEmailAddress": {
                "emailAddress": OLD,
                "marketingState": "NOT_SUBSCRIBED",
                "marketingUpdatedAt": "2026-07-09T14:01:00Z",
            },
            "defaultPhoneNumber": None,
        }
        for gid in ids
    ]
    cost = {"requestedQueryCost": 3, "actualQueryCost": 3}
    throttle = {"maximumAvailable": 2000.0, "currentlyAvailable": 1997, "restoreRate": 100.0}
    body = {"data": {"nodes": nodes}, "extensions": {"cost": {**cost, "throttleStatus": throttle}}}
    return 200, {"Content-Type": "application/json"}, json.dumps(body)


@pytest.fixture
def shopify_api() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.POST, GRAPHQL, callback=_consent_read)
        yield mock


@pytest.fixture
def shopify_worker(run_worker: object, shopify_api: responses.RequestsMock) -> object:
    return run_worker


@pytest.fixture
def call_api(shop_headers: dict[str, str], shopify_client: FlaskClient) -> Any:
    """Call the API with a key of the shop's account: call_api("GET", path) or ("POST", path, body)."""

    def call(method: str, path: str, body: Any = None) -> Any:
        answer = shopify_client.open(path, method=method, json=body, headers=shop_headers)
        assert answer.status_code in (200, 202), answer.get_json()
        return answer.get_json()

    return call


def _bob_changes_address(deliver: Deliver, shopify_worker: Any) -> None:
    """Bob signs up at his old address, then changes it in Shopify."""
    assert deliver("customers/create", payload("customers_create")).status_code == 200
    shopify_worker()
    changed = {**payload("customers_create"), "email": NEW, "updated_at": UPDATED}
    assert deliver("customers/update", changed).status_code == 200
    shopify_worker()


def _account_contacts(settings: Settings, shop: int) -> list[str]:
    with session_scope(settings.database_url) as session:
        store = session.get(Store, shop)
        assert store is not None
        return sorted(session.scalars(select(Contact.email).where(Contact.account_id == store.account_id)))


def test_an_address_changed_in_shopify_stays_on_the_profile_in_search_and_for_later_events(
    shopify_settings: Settings, shop: int, deliver: Deliver, shopify_worker: Any, call_api: Any
) -> None:
    _bob_changes_address(deliver, shopify_worker)

    found = call_api("GET", f"/api/v1/contacts?q={OLD}")["contacts"]
    assert [c["email"] for c in found] == [NEW]
    bob = found[0]["id"]
    earlier = call_api("GET", f"/api/v1/contacts/{bob}")["earlier_emails"]
    assert [(e["email"], e["replaced_at"]) for e in earlier] == [(OLD, "2026-07-12T13:30:00+00:00")]
    assert earlier[0]["first_seen_at"] is not None

    # A newsletter tool still reports Bob's opens at his old address: they are Bob's.
    opened = {
        "event_id": "open-1",
        "email": OLD.upper(),
        "type": "email_open",
        "occurred_at": NOW.isoformat(),
    }
    assert call_api("POST", f"/api/v1/stores/{shop}/events", [opened])["written"] == 1
    shopify_worker()
    assert _account_contacts(shopify_settings, shop) == [NEW]
    with session_scope(shopify_settings.database_url) as session:
        assert session.scalars(select(InteractionEvent.contact_id)).all() == [bob]


def test_an_address_held_by_another_contact_now_finds_that_one(
    shopify_settings: Settings, shop: int, deliver: Deliver, shopify_worker: Any, call_api: Any
) -> None:
    _bob_changes_address(deliver, shopify_worker)
    # Someone else takes the address Bob gave up (a customer of their own).
    other = {**payload("customers_create"), "id": 42, "email": OLD, "first_name": "Robert"}
    assert deliver("customers/create", other).status_code == 200
    shopify_worker()
    opened = {"event_id": "open-2", "email": OLD, "type": "email_open", "occurred_at": NOW.isoformat()}
    call_api("POST", f"/api/v1/stores/{shop}/events", [opened])
    shopify_worker()
    with session_scope(shopify_settings.database_url) as session:
        holder = session.scalar(select(Contact.id).where(Contact.email == OLD))
        assert session.scalars(select(InteractionEvent.contact_id)).all() == [holder]


def test_a_redacted_customer_loses_its_earlier_addresses(
    shopify_settings: Settings, shop: int, deliver: Deliver, shopify_worker: Any, call_api: Any
) -> None:
    _bob_changes_address(deliver, shopify_worker)
    request = {
        "shop_id": 954889,
        "shop_domain": "snowdevil.myshopify.com",
        "orders_requested": [],
        "customer": {"id": CUSTOMER, "email": NEW},
        "data_request": {"id": 7},
    }
    deliver("customers/data_request", request)
    shopify_worker()
    exported = call_api("GET", "/api/v1/data-requests")
    document = call_api("GET", f"/api/v1/data-requests/{exported[0]['id']}")["document"]
    assert [e["email"] for e in document["contact"]["earlier_emails"]] == [OLD]

    redact = {"shop_id": 954889, "shop_domain": "snowdevil.myshopify.com", "customer": {"id": CUSTOMER}}
    assert deliver("customers/redact", {**redact, "orders_to_redact": []}).status_code == 200
    shopify_worker()
    with session_scope(shopify_settings.database_url) as session:
        assert session.scalar(select(func.count()).select_from(ContactEmail)) == 0
    assert call_api("GET", f"/api/v1/contacts?q={OLD}")["contacts"] == []
    # The old address names nobody now: a later event for it is a new person's.
    opened = {"event_id": "open-3", "email": OLD, "type": "email_open", "occurred_at": NOW.isoformat()}
    call_api("POST", f"/api/v1/stores/{shop}/events", [opened])
    shopify_worker()
    assert OLD in _account_contacts(shopify_settings, shop)


def _earlier(db_url: str, store_id: int, customer_id: str) -> tuple[str, list[str]]:
    with session_scope(db_url) as session:
        store = session.get(Store, store_id)
        assert store is not None
        contact_id = session.scalar(
            select(StoreCustomer.contact_id).where(
                StoreCustomer.store_id == store_id, StoreCustomer.external_id == customer_id
            )
        )
        assert contact_id is not None
        shown = profile(session, store.account_id, contact_id, now=NOW)
        assert shown is not None
        return shown["email"], [e["email"] for e in shown["earlier_emails"]]


ARRIVALS = pytest.mark.parametrize("newest_first", [False, True], ids=["oldest first", "newest first"])
A, B = "ann.old@example.com", "ann.new@example.com"


@ARRIVALS
def test_one_batch_of_customer_versions_keeps_the_older_address(db_url: str, newest_first: bool) -> None:
    with session_scope(db_url) as session:
        store_id = make_store(session).id
    sample = payload("customers_create")
    deliveries = [
        ("customers/update", {**sample, "id": 7001, "email": A, "updated_at": NOW.isoformat()}),
        (
            "customers/update",
            {**sample, "id": 7001, "email": B, "updated_at": (NOW + timedelta(hours=1)).isoformat()},
        ),
    ]
    process_batch(db_url, store_id, "shopify", deliveries[::-1] if newest_first else deliveries)
    assert _earlier(db_url, store_id, "7001") == (B, [A])


@ARRIVALS
def test_one_batch_of_api_orders_with_two_addresses_keeps_the_older_one(
    db_url: str, newest_first: bool
) -> None:
    with session_scope(db_url) as session:
        store_id = make_store(session).id
    records = api_orders_of_one_customer("c-7001", A, B, NOW)
    process_batch(db_url, store_id, "api", [("orders", records[::-1] if newest_first else records)])
    assert _earlier(db_url, store_id, "c-7001") == (B, [A])
