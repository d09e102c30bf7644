"""The segment editor: the builder's catalog of every condition, the live preview, the editing pages."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from html import unescape
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from integration import ingest
from integration.accounts import create_account
from integration.audiences import filters
from integration.contacts.engagement import classify
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import Account, Segment, SubscriptionStatus
from integration.store.types import utcnow
from integration.web.admin import filter_catalog
from tests.support.builders import customer, item, order, store_of
from tests.support.session_tokens import EMBEDDED, fetch_headers, mint
from tests.support.shopify import SHOP
from tests.web.admin.pages import Hooks, sign_in

KNOWN_KINDS = {"choices", "days", "count_range", "money_range", "product", "store", "boolean", "text"}


@pytest.fixture
def merchant(settings: Settings, client: FlaskClient, api_shop: dict[str, Any]) -> dict[str, Any]:
    """ann (vip, bought product p7), bob subscribed, cy not; the API shop's owner signed in on the client."""
    now = utcnow()
    with session_scope(settings.database_url) as session:
        store = store_of(session, api_shop)
        subscribed = {"subscription_status": SubscriptionStatus.SUBSCRIBED}
        ingest.ingest_customers(
            session,
            store,
            [
                customer("1", "ann@example.com", now - timedelta(days=1), tags=["vip"], **subscribed),
                customer("2", "bob@example.com", now - timedelta(days=1), **subscribed),
                customer("3", "cy@example.com", now - timedelta(days=1)),
            ],
        )
        ingest.ingest_orders(
            session,
            store,
            [order("o1", now - timedelta(days=2), email="ann@example.com", line_items=[item(product="p7")])],
        )
        classify(session, store.account_id)
    sign_in(client, settings.database_url, api_shop["account"])
    return api_shop


def csrf_of(client: FlaskClient, url: str = "/admin/segments/new") -> dict[str, str]:
    """The CSRF header a page of the standalone admin sends with its fetches."""
    page = client.get(url).get_data(as_text=True)
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)
    assert token is not None
    return {"X-CSRFToken": token[1]}


def test_every_condition_of_the_language_has_a_builder_field(app: Flask, settings: Settings) -> None:
    with session_scope(settings.database_url) as session:
        account_id = create_account(session, "Catalog shop", "UTC").id
    with app.test_request_context(headers={"Accept-Language": "pl"}):
        from integration.web.context import db

        account = db.session.get(Account, account_id)
        assert account is not None
        made = filter_catalog.catalog(account)
    assert [f["key"] for f in made["fields"]] == list(filters.LEAVES)
    for field in made["fields"]:
        assert field["kind"] in KNOWN_KINDS, field
        assert field["label"]
        assert field["label"] != field["key"]
        if field["kind"] in ("choices", "boolean"):
            assert field["choices"], field
    by_key = {f["key"]: f for f in made["fields"]}
    assert [c[0] for c in by_key["engagement"]["choices"]] == ["engaged", "unengaged", "blocked"]
    assert filters.PROSPECTS in [c[0] for c in by_key["rfm_segment"]["choices"]]
    assert by_key["total_spent"]["currency"] == ""  # no store yet: the merchant types the currency


def test_a_condition_without_a_builder_field_is_refused(
    app: Flask, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    with session_scope(settings.database_url) as session:
        account_id = create_account(session, "Catalog shop", "UTC").id
    monkeypatch.setitem(filters.LEAVES, "newer_condition", filters.LEAVES["tag"])
    with app.test_request_context():
        from integration.web.context import db

        account = db.session.get(Account, account_id)
        assert account is not None
        with pytest.raises(KeyError, match="newer_condition"):
            filter_catalog.catalog(account)


FILTERS = [
    {"tag": "vip"},
    {"all": [{"subscription": ["subscribed"]}, {"any": [{"orders_count": {"min": 1}}, {"tag": "vip"}]}]},
    {"not": {"any": [{"tag": "vip"}, {"subscription": ["unknown"]}]}},
    {"total_spent": {"currency": "EUR", "min": "1.00", "max": None}},
    {"bought_product": {"product_id": "p7", "within_days": 30}},
    {"all": [{"not_contacted_within_days": 14}, {"created_within_days": 7}]},
    {"all": []},
]


def test_the_admin_preview_counts_as_the_api_preview(client: FlaskClient, merchant: dict[str, Any]) -> None:
    headers = csrf_of(client)
    counts = []
    for condition in FILTERS:
        admin = client.post("/admin/segments/preview", json={"filter": condition}, headers=headers)
        api = client.post("/api/v1/segments/preview", json={"filter": condition}, headers=merchant["headers"])
        assert admin.status_code == 200, admin.get_json()
        assert admin.get_json()["count"] == api.get_json()["count"], condition
        counts.append(admin.get_json()["count"])
    assert counts == [1, 1, 1, 1, 1, 3, 3]  # worked out by hand from the three contacts


def test_the_preview_gives_a_sample_words_by_condition_and_the_list_link(
    client: FlaskClient, merchant: dict[str, Any]
) -> None:
    condition = {"all": [{"subscription": ["subscribed"]}, {"not": {"any": [{"tag": "vip"}]}}]}
    answer = client.post("/admin/segments/preview", json={"filter": condition}, headers=csrf_of(client))
    found = answer.get_json()
    assert found["count"] == 1
    assert found["count_text"] == "1 contact matches now."
    assert [c["email"] for c in found["contacts"]] == ["bob@example.com"]
    assert set(found["words"]) == {"0", "1.0"}  # each condition by its place in the builder
    assert found["words"]["1.0"]["text"]
    listed = client.get(found["contacts_url"]).get_data(as_text=True)
    assert "bob@example.com" in listed
    assert "ann@example.com" not in listed
    assert "cy@example.com" not in listed


def test_an_invalid_condition_is_named_and_the_count_withheld(
    client: FlaskClient, merchant: dict[str, Any]
) -> None:
    condition = {"all": [{"tag": "vip"}, {"any": [{"orders_count": {"min": -1}}, {"tag": ""}]}]}
    answer = client.post("/admin/segments/preview", json={"filter": condition}, headers=csrf_of(client))
    assert answer.status_code == 422
    found = answer.get_json()
    assert found["count"] is None
    assert set(found["errors"]) == {"1.0", "1.1"}
    assert "characters" in found["errors"]["1.1"]


def test_the_preview_needs_the_page_csrf_token_and_a_viewer(
    client: FlaskClient, merchant: dict[str, Any], app: Flask
) -> None:
    refused = client.post("/admin/segments/preview", json={"filter": {"tag": "vip"}})
    assert refused.status_code == 403
    stranger = app.test_client().post("/admin/segments/preview", json={"filter": {"tag": "vip"}})
    assert stranger.status_code == 302
    assert "/admin/signin" in stranger.headers["Location"]


def _builder(html: str) -> tuple[dict[str, Any], Any]:
    hook = Hooks(html).one("data-builder")
    return json.loads(unescape(hook.attrs["data-catalog"])), json.loads(unescape(hook.attrs["data-filter"]))


def test_the_new_segment_page_starts_with_an_empty_group(
    client: FlaskClient, merchant: dict[str, Any]
) -> None:
    html = client.get("/admin/segments/new").get_data(as_text=True)
    made, start = _builder(html)
    assert start == {"all": []}
    assert [f["key"] for f in made["fields"]] == list(filters.LEAVES)
    hooks = Hooks(html)
    form = hooks.one("data-segment-form").attrs
    assert (form["data-method"], form["data-action"]) == ("POST", "/api/v1/segments")
    assert form["data-next"] == "/admin/segments/{id}"
    assert 'aria-live="polite" data-count' in html
    assert "builder.js" in html


def test_editing_a_segment_saved_through_the_api(client: FlaskClient, merchant: dict[str, Any]) -> None:
    headers = csrf_of(client)
    condition = {"all": [{"tag": "vip"}, {"any": [{"orders_count": {"min": 1}}]}]}
    saved = client.post("/api/v1/segments", json={"name": "VIPs", "filter": condition}, headers=headers)
    assert saved.status_code == 201
    segment_id = saved.get_json()["id"]
    again = client.post("/api/v1/segments", json={"name": "VIPs", "filter": condition}, headers=headers)
    assert (again.status_code, again.get_json()["code"]) == (409, "name_taken")  # shown beside the name

    html = client.get(f"/admin/segments/{segment_id}/edit").get_data(as_text=True)
    _made, start = _builder(html)
    assert start == condition  # as stored
    form = Hooks(html).one("data-segment-form").attrs
    assert (form["data-method"], form["data-action"]) == ("PUT", f"/api/v1/segments/{segment_id}")
    assert 'value="VIPs"' in html


def test_other_accounts_segments_are_not_found_and_predefined_ones_read_only(
    client: FlaskClient, merchant: dict[str, Any], settings: Settings
) -> None:
    assert client.get("/api/v1/segments", headers=merchant["headers"]).status_code == 200  # makes predefined
    with session_scope(settings.database_url) as session:
        other = create_account(session, "Other shop", "UTC").id
        theirs = Segment(account_id=other, name="Theirs", filter={"tag": "x"})
        session.add(theirs)
        session.flush()
        theirs_id = theirs.id
        ours = session.query(Segment).filter_by(account_id=merchant["account"], predefined=True).first()
        assert ours is not None
        predefined_id = ours.id
    assert client.get(f"/admin/segments/{theirs_id}/edit").status_code == 404
    read_only = client.get(f"/admin/segments/{predefined_id}/edit")
    assert read_only.status_code == 200
    hooks = Hooks(read_only.get_data(as_text=True))
    assert hooks.all("data-read-only")
    assert not hooks.all("data-builder")


@EMBEDDED
def test_inside_shopify_the_editor_uses_polaris_and_columns_stay_in_the_browser(
    shopify_client: FlaskClient, shop: int
) -> None:
    page = shopify_client.get(
        "/admin/segments/new",
        query_string={"embedded": "1", "id_token": mint(), "shop": SHOP, "locale": "en"},
    )
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<s-page" in html
    assert "<s-text-field" in html
    assert Hooks(html).one("data-builder")
    preview = shopify_client.post(
        "/admin/segments/preview", json={"filter": {"all": []}}, headers=fetch_headers(mint())
    )
    assert preview.status_code == 200  # a session token needs no CSRF token
    assert preview.get_json()["count"] == 0
    kept = shopify_client.post(
        "/admin/contacts/list/columns", json={"columns": ["tags"]}, headers=fetch_headers(mint())
    )
    assert kept.get_json() == {"columns": ["email", "tags"], "stored": "browser"}
