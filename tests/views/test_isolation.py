"""One account's key reaches only its own account: the other's data is neither readable nor writable."""

from __future__ import annotations

import io
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import Contact, InboxDelivery, Order
from tests.support.api_records import CUSTOMER, ORDER
from tests.support.builders import bearer, make_store


@pytest.fixture
def two_accounts(client: FlaskClient, settings: Settings) -> dict[str, Any]:
    """Account A with a customer and an order (stored through its own key), and account B's key."""
    with session_scope(settings.database_url) as session:
        store_a, store_b = make_store(session), make_store(session)
        a = {"store": store_a.id, "headers": bearer(session, store_a.account_id)}
        b = {"store": store_b.id, "headers": bearer(session, store_b.account_id)}
    for topic, record in (("customers", CUSTOMER), ("orders", ORDER)):
        answer = client.post(f"/api/v1/stores/{a['store']}/{topic}", json=[record], headers=a["headers"])
        assert answer.status_code == 200, answer.get_json()
    with session_scope(settings.database_url) as session:
        a["contact"] = session.scalar(select(Contact.id))
        a["order"] = session.scalar(select(Order.id))
    return {"a": a, "b": b}


def test_the_other_accounts_contacts_and_orders_are_not_found(
    client: FlaskClient, two_accounts: dict[str, Any]
) -> None:
    a, b = two_accounts["a"], two_accounts["b"]
    for path in (f"/api/v1/contacts/{a['contact']}", f"/api/v1/contacts/{a['contact']}/orders/{a['order']}"):
        assert client.get(path, headers=a["headers"]).status_code == 200
        refused = client.get(path, headers=b["headers"])
        assert refused.status_code == 404
        assert refused.get_json()["code"] == "not_found"
    assert client.get("/api/v1/contacts", headers=b["headers"]).get_json()["contacts"] == []
    assert client.get("/api/v1/summary", headers=b["headers"]).get_json()["contacts"]["total"] == 0
    assert client.get("/api/v1/summary", headers=a["headers"]).get_json()["contacts"]["total"] == 1


@pytest.mark.parametrize("topic", ["customers", "orders", "checkouts", "events"])
def test_the_other_accounts_store_takes_no_records(
    client: FlaskClient, settings: Settings, two_accounts: dict[str, Any], topic: str
) -> None:
    a, b = two_accounts["a"], two_accounts["b"]
    with session_scope(settings.database_url) as session:
        deliveries = session.scalar(select(func.count()).select_from(InboxDelivery))
    record = {"customers": CUSTOMER, "orders": ORDER}.get(topic, {})
    answer = client.post(f"/api/v1/stores/{a['store']}/{topic}", json=[record], headers=b["headers"])
    assert answer.status_code == 404
    if topic == "customers":  # an upload of a file is refused the same way
        upload = client.post(
            f"/api/v1/stores/{a['store']}/imports",
            data={"kind": topic, "file": (io.BytesIO(b"id,email\n2,bob@example.com\n"), "c.csv")},
            headers=b["headers"],
        )
        assert upload.status_code == 404
    with session_scope(settings.database_url) as session:
        assert session.scalar(select(func.count()).select_from(InboxDelivery)) == deliveries
        assert session.scalar(select(func.count()).select_from(Contact)) == 1
