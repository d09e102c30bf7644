"""Orders sent through the REST API with their refunded total: revenue is net of it."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from integration.settings import Settings
from integration.store import session_scope
from tests.support.builders import bearer, make_store


def _order(version: str, refunded: str | None, status: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "A-1",
        "email": "ann@example.com",
        "created_at": "2026-03-01T10:00:00+00:00",
        "updated_at": version,
        "currency": "EUR",
        "financial_status": status,
        "total_price": "100.00",
        "total_discounts": "20.00",
        "line_items": [
            {"title": "Tea", "quantity": 2, "price": "40.00", "total_discount": "15.00"},
            {"title": "Cup", "quantity": 1, "price": "40.00", "total_discount": "5.00"},
        ],
    }
    if refunded is not None:
        body["total_refunded"] = refunded
    return body


def test_an_orders_refunded_total_comes_off_its_revenue_and_a_newer_version_restates_it(
    client: FlaskClient, settings: Settings, run_worker: Any
) -> None:
    with session_scope(settings.database_url) as session:
        store = make_store(session)
        headers = bearer(session, store.account_id)

    def post(body: dict[str, Any]) -> dict[str, Any]:
        answer = client.post(f"/api/v1/stores/{store.id}/orders", json=[body], headers=headers)
        assert answer.status_code == 200, answer.get_json()
        run_worker()
        return answer.get_json()

    def revenue() -> list[dict[str, Any]]:
        return client.get("/api/v1/summary", headers=headers).get_json()["orders"]["revenue"]

    post(_order("2026-03-01T10:00:00+00:00", "30.00", "partially_refunded"))
    assert revenue() == [{"currency": "EUR", "orders": 1, "amount": "70.00"}]
    post(_order("2026-03-02T10:00:00+00:00", "45.50", "partially_refunded"))
    assert revenue() == [{"currency": "EUR", "orders": 1, "amount": "54.50"}]
    # The same version again changes nothing.
    post(_order("2026-03-02T10:00:00+00:00", "45.50", "partially_refunded"))
    assert revenue() == [{"currency": "EUR", "orders": 1, "amount": "54.50"}]

    contacts = client.get("/api/v1/contacts?q=ann", headers=headers).get_json()["contacts"]
    profile = client.get(f"/api/v1/contacts/{contacts[0]['id']}", headers=headers).get_json()
    [order] = profile["orders"]
    assert (order["total_price"], order["total_refunded"], order["net_total"]) == ("100.00", "45.50", "54.50")
    detail = client.get(
        f"/api/v1/contacts/{contacts[0]['id']}/orders/{order['id']}", headers=headers
    ).get_json()
    assert [i["discounted_total"] for i in detail["line_items"]] == ["65.00", "35.00"]
    assert (detail["line_discounts"], detail["discounts_add_up"], detail["adds_up"]) == ("20.00", True, True)
