"""`/api/v1/notifications`: what finished or failed, for whom, with a download link made when read."""

from __future__ import annotations

import csv
import io
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from integration import ingest, notifications
from integration.audiences import exports
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import Notification, NotificationKind, Role, Store
from tests.support.builders import bearer, customer, make_store, store_of
from tests.support.session_tokens import EMBEDDED, fetch_headers, mint
from tests.support.users import make_user, page_token, sign_in
from tests.views.test_imports import EXPORT, _upload


def _vip_segment(client: FlaskClient, settings: Settings, shop: dict[str, Any]) -> int:
    with session_scope(settings.database_url) as session:
        ingest.ingest_customers(
            session,
            store_of(session, shop),
            [
                customer("1", "ann@example.com", tags=["vip"]),
                customer("2", "bob@example.com", tags=["vip"]),
                customer("3", "cy@example.com"),
            ],
        )
    made = client.post(
        "/api/v1/segments", json={"name": "VIPs", "filter": {"tag": "vip"}}, headers=shop["headers"]
    )
    return int(made.get_json()["id"])


def test_an_api_keys_export_tells_the_account_with_a_link_that_downloads_the_file(
    client: FlaskClient, settings: Settings, api_shop: dict[str, Any], run_worker: Any
) -> None:
    headers = api_shop["headers"]
    segment_id = _vip_segment(client, settings, api_shop)
    assert client.get("/api/v1/notifications", headers=headers).get_json()["unread"] == 0
    client.post(f"/api/v1/segments/{segment_id}/exports", headers=headers)
    run_worker()

    listed = client.get("/api/v1/notifications", headers=headers).get_json()
    assert listed["unread"] == 1
    [notice] = listed["notifications"]
    assert (notice["kind"], notice["read"], notice["for_everyone"]) == ("export_ready", False, True)
    assert notice["data"]["segment"] == "VIPs"
    assert notice["data"]["rows"] == 2
    downloaded = client.get(notice["download"])
    assert downloaded.status_code == 200
    rows = list(csv.DictReader(io.StringIO(downloaded.data.decode("utf-8-sig"))))
    assert [r["email"] for r in rows] == ["ann@example.com", "bob@example.com"]

    # Another key of the account reads on its own; this one has read it.
    with session_scope(settings.database_url) as session:
        other_key = bearer(session, api_shop["account"])
    assert (
        client.post(f"/api/v1/notifications/{notice['id']}/read", headers=headers).get_json()["unread"] == 0
    )
    assert client.get("/api/v1/notifications", headers=headers).get_json()["notifications"][0]["read"] is True
    assert client.get("/api/v1/notifications", headers=other_key).get_json()["unread"] == 1
    assert client.post("/api/v1/notifications/read", headers=other_key).get_json()["marked"] == 1
    assert client.get("/api/v1/notifications", headers=other_key).get_json()["unread"] == 0


def test_a_signed_in_users_export_is_told_to_them_alone(
    app: Flask, settings: Settings, api_shop: dict[str, Any], run_worker: Any
) -> None:
    segment_id = _vip_segment(app.test_client(), settings, api_shop)
    ana = make_user(settings, api_shop["account"], "ana@example.com", Role.OWNER)
    make_user(settings, api_shop["account"], "ben@example.com", Role.MEMBER)
    browsers = {}
    for email in ("ana@example.com", "ben@example.com"):
        browser = app.test_client()
        assert sign_in(browser, email).status_code == 302
        browsers[email] = (browser, {"X-CSRFToken": page_token(browser)})
    browser, csrf = browsers["ana@example.com"]
    assert browser.post(f"/api/v1/segments/{segment_id}/exports", headers=csrf).status_code == 202
    run_worker()
    with session_scope(settings.database_url) as session:
        assert session.scalars(select(Notification.user_id)).all() == [ana.id]
    [notice] = browser.get("/api/v1/notifications").get_json()["notifications"]
    assert notice["kind"] == "export_ready"
    assert notice["for_everyone"] is False
    assert browser.get(notice["download"]).status_code == 200
    ben, ben_csrf = browsers["ben@example.com"]
    assert ben.get("/api/v1/notifications").get_json() | {"notifications": None} == {
        "notifications": None,
        "unread": 0,
        "unread_cap": 100,
        "next_cursor": None,
    }
    # Someone else's notice is no one's to mark.
    refused = ben.post(f"/api/v1/notifications/{notice['id']}/read", headers=ben_csrf)
    assert refused.status_code == 404
    assert browser.post(f"/api/v1/notifications/{notice['id']}/read").status_code == 403  # no CSRF token


def test_a_failed_export_is_told_and_keeps_no_link(
    client: FlaskClient, settings: Settings, api_shop: dict[str, Any], run_worker: Any, monkeypatch: Any
) -> None:
    def broken(*_args: Any) -> Any:
        raise RuntimeError("disk full")

    monkeypatch.setattr(exports, "_blocks", broken)
    segment_id = _vip_segment(client, settings, api_shop)
    client.post(f"/api/v1/segments/{segment_id}/exports", headers=api_shop["headers"])
    run_worker()
    [notice] = client.get("/api/v1/notifications", headers=api_shop["headers"]).get_json()["notifications"]
    assert (notice["kind"], notice["download"]) == ("export_failed", None)


def test_imports_that_finish_or_fail_are_told_with_their_counts(
    client: FlaskClient, settings: Settings, run_worker: Any
) -> None:
    with session_scope(settings.database_url) as session:
        store = make_store(session)
        store_id, headers = store.id, bearer(session, store.account_id)
    finished = _upload(client, store_id, headers, EXPORT).get_json()
    run_worker()
    failed = _upload(client, store_id, headers, b"").get_json()
    run_worker()
    notices = client.get("/api/v1/notifications", headers=headers).get_json()["notifications"]
    assert [(n["kind"], n["data"]["import_id"]) for n in notices] == [
        ("import_failed", failed["id"]),
        ("import_finished", finished["id"]),
    ]
    assert (notices[1]["data"]["rows"], notices[1]["data"]["written"], notices[1]["data"]["failed"]) == (
        3,
        2,
        1,
    )


def test_a_bad_cursor_or_limit_is_refused(client: FlaskClient, api_shop: dict[str, Any]) -> None:
    headers = api_shop["headers"]
    assert client.get("/api/v1/notifications?cursor=nope", headers=headers).status_code == 422
    assert client.get("/api/v1/notifications?limit=0", headers=headers).status_code == 422
    assert client.post("/api/v1/notifications/999999/read", headers=headers).status_code == 404
    assert client.get("/api/v1/notifications").status_code == 401


@EMBEDDED
def test_each_shopify_staff_member_has_their_own_read_state(
    shopify_settings: Settings, shopify_client: FlaskClient, shop: int
) -> None:
    with session_scope(shopify_settings.database_url) as session:
        store = session.get(Store, shop)
        assert store is not None
        notifications.notify(
            session, store.account_id, NotificationKind.SYNC_STOPPED, "sync:1", {"sync_id": 1}
        )

    def unread(staff: str) -> int:
        answer = shopify_client.get("/api/v1/notifications", headers=fetch_headers(mint(sub=staff)))
        return int(answer.get_json()["unread"])

    assert (unread("42"), unread("43")) == (1, 1)
    marked = shopify_client.post("/api/v1/notifications/read", headers=fetch_headers(mint(sub="42")))
    assert marked.get_json()["marked"] == 1
    assert (unread("42"), unread("43")) == (0, 1)
