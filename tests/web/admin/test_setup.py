"""The Setup pages in both skins: standalone for a signed-in user, embedded with a session token."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from flask import Flask, url_for
from flask.testing import FlaskClient
from werkzeug.security import generate_password_hash

from integration.accounts import add_email_source, create_api_key
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import (
    Backfill,
    BackfillStatus,
    EmailTool,
    Import,
    ImportStatus,
    Platform,
    Role,
    User,
)
from tests.support.builders import make_store
from tests.support.session_tokens import embedded_app
from tests.support.shopify import API_KEY, SHOP, app_of

PAGES = ("setup", "stores", "storefront", "keys", "email_tools", "settings_page")
PASSWORD = "correct horse battery staple"  # noqa: S105 - a test value
# At least 32 bytes: PyJWT warns about shorter HMAC keys, and warnings fail the tests.


def make_user(settings: Settings, account_id: int, role: Role = Role.OWNER) -> str:
    """Add a user to the account; return their email."""
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    with session_scope(settings.database_url) as session:
        session.add(
            User(
                account_id=account_id, email=email, password_hash=generate_password_hash(PASSWORD), role=role
            )
        )
    return email


def url_of(app: Flask, page: str) -> str:
    with app.test_request_context():
        return url_for(f"admin.{page}")


def sign_in(client: FlaskClient, email: str) -> None:
    form = client.get("/admin/signin").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form)
    assert token is not None
    answer = client.post("/admin/signin", data={"email": email, "password": PASSWORD, "csrf_token": token[1]})
    assert answer.status_code == 302


@pytest.fixture
def account(settings: Settings) -> dict[str, Any]:
    """An account with a store: {"account": its id, "store": the store's id}."""
    with session_scope(settings.database_url) as session:
        store = make_store(session)
        return {"account": store.account_id, "store": store.id}


@pytest.fixture
def owner(app: Flask, settings: Settings, account: dict[str, Any]) -> FlaskClient:
    client = app.test_client()
    sign_in(client, make_user(settings, account["account"]))
    return client


@pytest.fixture
def member(app: Flask, settings: Settings, account: dict[str, Any]) -> FlaskClient:
    client = app.test_client()
    sign_in(client, make_user(settings, account["account"], Role.MEMBER))
    return client


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_standalone(owner: FlaskClient, page: str) -> None:
    answer = owner.get(url_of(owner.application, page))
    assert answer.status_code == 200
    html = answer.get_data(as_text=True)
    assert "<main" in html
    assert "<s-page" not in html
    assert answer.headers["Content-Security-Policy"] == "frame-ancestors 'none';"


def test_a_page_needs_a_signed_in_user(client: FlaskClient) -> None:
    answer = client.get("/admin/setup/stores")
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("/admin/signin")


def test_the_overview_says_which_steps_are_done(
    owner: FlaskClient, settings: Settings, account: dict[str, Any]
) -> None:
    html = owner.get("/admin/setup").get_data(as_text=True)
    assert html.count("To do") == 3  # contacts, email tool, API key; the store is connected
    with session_scope(settings.database_url) as session:
        create_api_key(session, account["account"], "sync")
        add_email_source(session, account["account"], EmailTool.MAILCHIMP, "news")
    html = owner.get("/admin/setup").get_data(as_text=True)
    assert html.count("To do") == 1


def test_stores_are_listed_with_a_link_to_import(
    owner: FlaskClient, settings: Settings, account: dict[str, Any]
) -> None:
    with session_scope(settings.database_url) as session:
        csv = make_store(session, "PLN", account_id=account["account"])
        csv.platform = Platform.CSV
        csv.name = "Sklep"
        csv_id = csv.id
    html = owner.get("/admin/setup/stores").get_data(as_text=True)
    assert "Sklep" in html
    assert "PLN" in html
    assert f"/admin/setup/stores/{csv_id}/import" in html
    # Without SHOPIFY_API_KEY the page says so instead of offering an install link.
    assert 'id="shopify-not-configured"' in html


def test_members_see_a_403_page_for_keys(member: FlaskClient) -> None:
    answer = member.get("/admin/setup/keys")
    assert answer.status_code == 403
    assert 'id="forbidden"' in answer.get_data(as_text=True)
    assert "/admin/setup/keys" not in member.get("/admin/setup").get_data(as_text=True)


def test_keys_page_shows_prefixes_never_the_key(
    owner: FlaskClient, settings: Settings, account: dict[str, Any]
) -> None:
    with session_scope(settings.database_url) as session:
        key, token = create_api_key(session, account["account"], "warehouse")
        prefix, key_id = key.prefix, key.id
    html = owner.get("/admin/setup/keys").get_data(as_text=True)
    assert prefix in html
    assert "warehouse" in html
    assert token not in html
    assert f"DELETE /api/v1/keys/{key_id}" in html


def test_an_import_page_shows_its_counts_and_bad_rows(
    owner: FlaskClient, settings: Settings, account: dict[str, Any]
) -> None:
    with session_scope(settings.database_url) as session:
        job = Import(
            store_id=account["store"],
            kind="customers",
            filename="people.csv",
            status=ImportStatus.FINISHED,
            rows_read=3,
            records_written=2,
            rows_failed=1,
            errors=[{"row": 3, "column": "email", "reason": "not an email address"}],
        )
        session.add(job)
        session.flush()
        import_id = job.id
    html = owner.get(f"/admin/setup/stores/{account['store']}/import?import={import_id}").get_data(
        as_text=True
    )
    assert 'id="import-finished"' in html
    assert "not an email address" in html
    assert "people.csv" in html
    assert owner.get(f"/admin/setup/imports/{import_id}/progress").get_json()["ready"] is True


def test_an_unfinished_import_is_polled(
    owner: FlaskClient, settings: Settings, account: dict[str, Any]
) -> None:
    with session_scope(settings.database_url) as session:
        job = Import(
            store_id=account["store"], kind="orders", filename="o.csv", bytes_total=200, bytes_read=50
        )
        session.add(job)
        session.flush()
        import_id = job.id
    html = owner.get(f"/admin/setup/stores/{account['store']}/import?import={import_id}").get_data(
        as_text=True
    )
    assert f'data-poll="/admin/setup/imports/{import_id}/progress"' in html
    assert '<progress id="import-progress" max="100" value="25"' in html
    progress = owner.get(f"/admin/setup/imports/{import_id}/progress").get_json()
    assert (progress["ready"], progress["percent"]) == (False, 25)
    assert "25%" in progress["text"]


def test_another_accounts_store_and_import_do_not_exist_here(owner: FlaskClient, settings: Settings) -> None:
    with session_scope(settings.database_url) as session:
        other = make_store(session)
        job = Import(store_id=other.id, kind="orders", filename="o.csv")
        session.add(job)
        session.flush()
        other_id, import_id = other.id, job.id
    assert owner.get(f"/admin/setup/stores/{other_id}/import").status_code == 404
    assert owner.get(f"/admin/setup/imports/{import_id}/progress").status_code == 404


def test_the_settings_page_sends_a_time_frame_change_to_contacts(owner: FlaskClient) -> None:
    html = owner.get("/admin/setup/settings").get_data(as_text=True)
    form = re.search(r'<form id="frame-form"[^>]*>', html)
    assert form is not None
    assert 'data-next="/admin/"' in form[0]
    assert 'data-action="/api/v1/settings/sender"' in html


@pytest.fixture
def embedded(shopify_settings: Settings, shop: int) -> tuple[Flask, str]:
    """The app with Shopify configured, and a page-load query of the connected shop."""
    return embedded_app(shopify_settings, shop)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_embedded(embedded: tuple[Flask, str], page: str) -> None:
    app, query = embedded
    answer = app.test_client().get(f"{url_of(app, page)}?{query}")
    assert answer.status_code == 200
    html = answer.get_data(as_text=True)
    assert "<s-page" in html
    assert "<main" not in html
    assert (
        answer.headers["Content-Security-Policy"]
        == f"frame-ancestors https://{SHOP} https://admin.shopify.com;"
    )
    # Links between the Setup pages keep Shopify's parameters, so they stay embedded.
    assert "embedded=1" in html


def test_the_shopify_store_shows_its_first_import(
    embedded: tuple[Flask, str], shopify_settings: Settings, shop: int
) -> None:
    with session_scope(shopify_settings.database_url) as session:
        session.add(Backfill(store_id=shop, stage="customers", status=BackfillStatus.COMPLETED, records=1234))
        session.add(Backfill(store_id=shop, stage="orders", status=BackfillStatus.RUNNING))
    app, query = embedded
    html = app.test_client().get(f"/admin/setup/stores?{query}").get_data(as_text=True)
    assert "Snow Devil" in html
    table = html[html.index(f'id="backfill-{shop}"') :]
    assert re.search(r"Customers</s-table-cell><s-table-cell>Done</s-table-cell><s-table-cell>1,234<", table)
    assert re.search(r"Orders</s-table-cell><s-table-cell>Running in Shopify<", table)


def test_install_link_goes_to_the_shop(shopify_settings: Settings, account: dict[str, Any]) -> None:
    app = app_of(shopify_settings)
    client = app.test_client()
    sign_in(client, make_user(shopify_settings, account["account"]))
    assert 'id="shopify-form"' in client.get("/admin/setup/stores").get_data(as_text=True)
    answer = client.get("/admin/setup/stores/shopify?shop_domain=snowdevil")
    assert answer.headers["Location"] == f"https://{SHOP}/admin/oauth/install?client_id={API_KEY}"
    refused = client.get("/admin/setup/stores/shopify?shop_domain=evil.example.com/x")
    assert "shop_error=1" in refused.headers["Location"]
