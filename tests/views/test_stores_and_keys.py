"""`/api/v1/stores` and `/api/v1/keys`: validation, owners only, one account's rows only."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import Role
from tests.support.builders import bearer, make_store
from tests.web.admin.test_setup import make_user, sign_in


def test_a_csv_store_is_added_with_its_currency_and_time_zone(
    client: FlaskClient, api_shop: dict[str, Any]
) -> None:
    made = client.post(
        "/api/v1/stores",
        json={"name": "Sklep", "currency": "pln", "time_zone": "Europe/Warsaw"},
        headers=api_shop["headers"],
    )
    assert made.status_code == 201
    store = made.get_json()
    assert (store["platform"], store["currency"], store["time_zone"], store["state"]) == (
        "csv",
        "PLN",
        "Europe/Warsaw",
        "connected",
    )
    listed = client.get("/api/v1/stores", headers=api_shop["headers"]).get_json()["stores"]
    assert [s["id"] for s in listed] == [api_shop["store"], store["id"]]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "A", "currency": "XYZ"}, "currency"),
        ({"name": "A", "currency": "EURO"}, "currency"),
        ({"name": "A", "currency": "EUR", "time_zone": "Europe/Atlantis"}, "time_zone"),
        ({"name": "", "currency": "EUR"}, "name"),
        ({"name": "A", "currency": "EUR", "platform": "shopify"}, "platform"),
        ({"currency": "EUR"}, "name"),
    ],
)
def test_a_bad_store_is_refused_field_by_field(
    client: FlaskClient, api_shop: dict[str, Any], body: dict[str, Any], field: str
) -> None:
    refused = client.post("/api/v1/stores", json=body, headers=api_shop["headers"])
    assert refused.status_code == 422
    assert set(refused.get_json()["details"]["json"]) == {field}


def test_another_accounts_stores_are_not_listed(
    client: FlaskClient, settings: Settings, api_shop: dict[str, Any]
) -> None:
    with session_scope(settings.database_url) as session:
        other = make_store(session, "USD")
        other_headers = bearer(session, other.account_id)
    listed = client.get("/api/v1/stores", headers=other_headers).get_json()["stores"]
    assert [s["id"] for s in listed] == [other.id]


def test_a_stores_snippet_origins_are_set_as_browsers_send_them(
    client: FlaskClient, settings: Settings, api_shop: dict[str, Any]
) -> None:
    path = f"/api/v1/stores/{api_shop['store']}"
    shown = client.get(path, headers=api_shop["headers"]).get_json()
    assert shown["public_key"].startswith("pk_")
    assert shown["allowed_origins"] == []
    changed = client.patch(
        path,
        json={
            "allowed_origins": [
                "https://Shop.Example.com:443",
                "http://localhost:8080/",
                "https://shop.example.com",
            ]
        },
        headers=api_shop["headers"],
    )
    assert changed.status_code == 200
    assert changed.get_json()["allowed_origins"] == ["https://shop.example.com", "http://localhost:8080"]
    assert changed.get_json()["public_key"] == shown["public_key"]
    listed = client.get("/api/v1/stores", headers=api_shop["headers"]).get_json()["stores"]
    assert listed[0]["allowed_origins"] == ["https://shop.example.com", "http://localhost:8080"]
    refused = client.patch(
        path,
        json={"allowed_origins": ["https://ok.example.com", "shop.example.com/cart", "ftp://x.example.com"]},
        headers=api_shop["headers"],
    )
    assert refused.status_code == 422
    assert set(refused.get_json()["details"]["json"]["allowed_origins"]) == {"1", "2"}
    too_many = [f"https://s{i}.example.com" for i in range(21)]
    assert (
        client.patch(path, json={"allowed_origins": too_many}, headers=api_shop["headers"]).status_code == 422
    )
    with session_scope(settings.database_url) as session:
        other = make_store(session, "USD")
        other_headers = bearer(session, other.account_id)
    assert client.patch(path, json={"allowed_origins": []}, headers=other_headers).status_code == 404
    assert client.get(path, headers=other_headers).status_code == 404


def test_a_key_is_shown_once_then_only_its_prefix(client: FlaskClient, api_shop: dict[str, Any]) -> None:
    made = client.post("/api/v1/keys", json={"name": "warehouse"}, headers=api_shop["headers"])
    assert made.status_code == 201
    token = made.get_json()["token"]
    assert token.startswith("sp_")
    assert made.get_json()["prefix"] in token
    listed = client.get("/api/v1/keys", headers=api_shop["headers"])
    assert token not in listed.get_data(as_text=True)
    keys = listed.get_json()["keys"]
    assert [k["name"] for k in keys] == ["default", "warehouse"]
    assert all("token" not in k for k in keys)
    # The new key works, and stops working once revoked (by another key).
    new = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/stores", headers=new).status_code == 200
    revoked = client.delete(f"/api/v1/keys/{made.get_json()['id']}", headers=api_shop["headers"])
    assert revoked.status_code == 200
    assert revoked.get_json()["revoked_at"] is not None
    assert client.get("/api/v1/stores", headers=new).status_code == 401


def test_a_key_cannot_revoke_itself(client: FlaskClient, api_shop: dict[str, Any]) -> None:
    own = client.get("/api/v1/keys", headers=api_shop["headers"]).get_json()["keys"][0]
    refused = client.delete(f"/api/v1/keys/{own['id']}", headers=api_shop["headers"])
    assert refused.status_code == 409
    assert refused.get_json()["code"] == "current_key"
    assert client.get("/api/v1/keys", headers=api_shop["headers"]).status_code == 200


def test_another_accounts_key_does_not_exist_here(
    client: FlaskClient, settings: Settings, api_shop: dict[str, Any]
) -> None:
    with session_scope(settings.database_url) as session:
        other = make_store(session, "USD")
        other_headers = bearer(session, other.account_id)
    theirs = client.get("/api/v1/keys", headers=other_headers).get_json()["keys"][0]
    assert client.delete(f"/api/v1/keys/{theirs['id']}", headers=api_shop["headers"]).status_code == 404
    assert client.get("/api/v1/stores", headers=other_headers).status_code == 200  # still live
    assert client.delete("/api/v1/keys/999999", headers=api_shop["headers"]).status_code == 404


def test_a_blank_key_name_is_refused(client: FlaskClient, api_shop: dict[str, Any]) -> None:
    refused = client.post("/api/v1/keys", json={"name": ""}, headers=api_shop["headers"])
    assert refused.status_code == 422
    assert set(refused.get_json()["details"]["json"]) == {"name"}


@pytest.mark.parametrize(
    "call", [("GET", "/api/v1/keys"), ("POST", "/api/v1/keys"), ("DELETE", "/api/v1/keys/1")]
)
def test_only_owners_manage_keys(
    app: Flask, settings: Settings, api_shop: dict[str, Any], call: tuple[str, str]
) -> None:
    client = app.test_client()
    sign_in(client, make_user(settings, api_shop["account"], Role.MEMBER))
    page = client.get("/admin/").get_data(as_text=True)
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert csrf is not None
    method, path = call
    refused = client.open(path, method=method, json={"name": "x"}, headers={"X-CSRFToken": csrf[1]})
    assert refused.status_code == 403
    assert refused.get_json()["code"] == "forbidden"
    assert client.get("/api/v1/stores").status_code == 200  # the member still reads the stores


def test_the_openapi_document_lists_stores_and_keys(client: FlaskClient) -> None:
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/stores"])
    assert {"get", "patch"} <= set(paths["/api/v1/stores/{store_id}"])
    assert {"get", "post"} <= set(paths["/api/v1/keys"])
    assert "delete" in paths["/api/v1/keys/{key_id}"]
