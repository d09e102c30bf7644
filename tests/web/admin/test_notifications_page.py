"""The notifications page and the header's unread count, on both skins."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html import unescape

import pytest
from flask.testing import FlaskClient
from sqlalchemy import update

from integration import notifications
from integration.accounts import add_store, create_account
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import (
    ExportPart,
    ExportStatus,
    Import,
    Notification,
    NotificationKind,
    Platform,
    SegmentExport,
    Store,
)
from tests.support.session_tokens import EMBEDDED, mint
from tests.support.users import PAGE_TOKEN, make_user
from tests.web.admin.pages import Hooks, sign_in
from tests.web.admin.test_viewer import page_load

AT = datetime(2026, 11, 20, 23, 30, tzinfo=UTC)  # 21 November in Warsaw


@pytest.fixture
def told(settings: Settings, client: FlaskClient) -> dict[str, int]:
    """An account in Warsaw told of five events, one of them for another user; its owner signed in."""
    with session_scope(settings.database_url) as session:
        account_id = create_account(session, "Notice shop", "Europe/Warsaw").id
        store = add_store(session, account_id, platform=Platform.CSV, name="Corner CSV", currency="PLN")
        export = SegmentExport(
            account_id=account_id, segment_name="VIPs", status=ExportStatus.FINISHED, rows=1, finished_at=AT
        )
        job = Import(store_id=store.id, kind="customers", filename="clients.csv")
        session.add_all([export, job])
        session.flush()
        session.add(
            ExportPart(
                export_id=export.id, seq=0, data="\ufeffcontact_id,email\r\n1,a@example.com\r\n".encode()
            )
        )
        ids = {"account": account_id, "store": store.id, "export": export.id, "import": job.id}
    user_id = sign_in(client, settings.database_url, account_id)
    other = make_user(settings, account_id, "colleague@example.com").id
    with session_scope(settings.database_url) as session:
        tell = notifications.notify
        tell(
            session,
            account_id,
            NotificationKind.JOB_FAILED,
            "job:x",
            {"function": "jobs.compute.refresh_job"},
        )
        tell(
            session,
            account_id,
            NotificationKind.IMPORT_FINISHED,
            f"import:{ids['import']}",
            {
                "import_id": ids["import"],
                "store_id": ids["store"],
                "filename": "clients.csv",
                "rows": 1200,
                "failed": 3,
            },
        )
        tell(
            session,
            account_id,
            NotificationKind.STORE_DISCONNECTED,
            f"store:{ids['store']}",
            {"store": "Corner CSV"},
        )
        tell(
            session,
            account_id,
            NotificationKind.EXPORT_READY,
            f"export:{ids['export']}",
            {"export_id": ids["export"], "segment": "VIPs", "rows": 1},
            user_id=user_id,
        )
        tell(
            session,
            account_id,
            NotificationKind.EXPORT_FAILED,
            "export:99",
            {"segment": "Hidden"},
            user_id=other,
        )
        session.execute(update(Notification).values(created_at=AT))
    return ids


def _page(client: FlaskClient, path: str = "/admin/notifications") -> tuple[str, Hooks]:
    answer = client.get(path)
    assert answer.status_code == 200, answer.data
    html = answer.get_data(as_text=True)
    return html, Hooks(html)


def test_the_header_counts_unread_notices_and_the_page_says_each_in_words_with_its_link(
    client: FlaskClient, told: dict[str, int]
) -> None:
    html, hooks = _page(client, "/admin/")
    header = hooks.one("data-unread")
    assert header.attrs["data-unread"] == "4"
    assert header.attrs["aria-label"] == "4 unread notifications"
    assert header.attrs["href"] == "/admin/notifications"

    html, hooks = _page(client)
    texts = [re.sub(r"\s+", " ", h.text).strip() for h in hooks.all("data-notification")]
    assert texts == [
        "The export of VIPs is ready: 1 contact.",
        "Corner CSV was disconnected: the app was uninstalled from the shop. Its data is kept.",
        "The import of clients.csv finished. Rows read: 1,200; rows with errors: 3.",
        "A background task failed after its retries: jobs.compute.refresh_job.",
    ]
    assert "Hidden" not in html  # another user's notice
    assert {h.attrs["data-read"] for h in hooks.all("data-notification")} == {"no"}
    assert "Nov 21, 2026" in html  # the account's day, not UTC's
    links = {
        h.attrs["data-notification-link"]: unescape(h.attrs["href"])
        for h in hooks.all("data-notification-link")
    }
    ids = [h.attrs["data-notification"] for h in hooks.all("data-notification")]
    assert links[ids[0]].startswith("/exports/")
    assert links[ids[1]] == "/admin/setup/stores"
    assert links[ids[2]] == f"/admin/setup/stores/{told['store']}/import?import={told['import']}"
    assert ids[3] not in links
    download = client.get(links[ids[0]])
    assert download.status_code == 200
    assert download.data.decode("utf-8-sig").splitlines() == ["contact_id,email", "1,a@example.com"]
    assert 'id="mark-all-read"' in html
    assert f'data-action="/api/v1/notifications/{ids[0]}/read"' in html
    assert 'aria-label="Mark read: The export of VIPs is ready: 1 contact."' in html


def test_marking_read_through_the_api_hides_the_count_and_the_button(
    client: FlaskClient, told: dict[str, int]
) -> None:
    html, hooks = _page(client)
    found = PAGE_TOKEN.search(html)
    assert found is not None
    first = hooks.all("data-notification")[0].attrs["data-notification"]
    assert (
        client.post(
            f"/api/v1/notifications/{first}/read", headers={"X-CSRFToken": found.group(1)}
        ).status_code
        == 200
    )
    html, hooks = _page(client)
    assert hooks.one("data-unread").attrs["data-unread"] == "3"
    assert hooks.one("data-unread").attrs["aria-label"] == "3 unread notifications"
    assert [h.attrs["data-read"] for h in hooks.all("data-notification")] == ["yes", "no", "no", "no"]
    assert (
        client.post("/api/v1/notifications/read", headers={"X-CSRFToken": found.group(1)}).status_code == 200
    )
    html, hooks = _page(client)
    header = hooks.one("data-unread")
    assert header.attrs["data-unread"] == "0"
    assert "aria-label" not in header.attrs
    assert 'class="count"' not in html
    assert 'id="mark-all-read"' not in html


def test_an_account_without_notices_says_so(settings: Settings, client: FlaskClient) -> None:
    with session_scope(settings.database_url) as session:
        account_id = create_account(session, "Quiet shop", "UTC").id
    sign_in(client, settings.database_url, account_id)
    html, hooks = _page(client)
    assert "No notifications yet." in html
    assert hooks.one("data-unread").attrs["data-unread"] == "0"
    assert client.get("/admin/notifications?cursor=garbage").status_code == 200


@EMBEDDED
def test_inside_shopify_the_app_nav_carries_the_count_for_the_staff_member(
    shopify_client: FlaskClient, shopify_settings: Settings, shop: int
) -> None:
    with session_scope(shopify_settings.database_url) as session:
        store = session.get(Store, shop)
        assert store is not None
        notifications.notify(
            session, store.account_id, NotificationKind.SYNC_STOPPED, "sync:1", {"destination": "News"}
        )
    answer = shopify_client.get("/admin/notifications", query_string=page_load(mint(sub="42")))
    assert answer.status_code == 200
    hooks = Hooks(answer.get_data(as_text=True))
    nav = hooks.one("data-unread")
    assert nav.attrs["data-unread"] == "1"
    assert nav.text.strip() == "Notifications (1)"
    assert "<s-page" in answer.get_data(as_text=True)
    [notice] = hooks.all("data-notification")
    assert "The sync to News stopped" in notice.text
