"""The contact's activity page: the timeline in words, in the account's time zone, in keyset pages."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, render_template
from flask.testing import FlaskClient

from integration.contacts.timeline import KINDS, timeline
from integration.settings import Settings
from integration.store import session_scope
from tests.support.activity import START, record_everything, shop
from tests.web.admin.pages import Hooks, sign_in
from tests.web.admin.test_untranslated import pseudo_catalog, untranslated


@pytest.fixture
def recorded(settings: Settings, client: FlaskClient) -> dict[str, int]:
    """A Warsaw account's contact with every kind of activity, another account's contact, signed in."""
    with session_scope(settings.database_url) as session:
        here = shop(session)
        record_everything(session, here, here.contact_id)
        elsewhere = shop(session, "Other shop", "UTC")
        record_everything(session, elsewhere, elsewhere.contact_id)
    sign_in(client, settings.database_url, here.account_id)
    return {"account": here.account_id, "contact": here.contact_id, "other": elsewhere.contact_id}


def _entries(html: str) -> list[dict[str, Any]]:
    hooks = Hooks(html)
    return [
        {"kind": h.attrs["data-kind"], "at": h.attrs["data-at"], "text": h.text}
        for h in hooks.all("data-entry")
    ]


def _squash(text: str) -> str:
    return re.sub(r"[ \t\r\n]+", " ", text).strip()


def test_every_kind_shows_in_words_newest_first_in_the_accounts_zone(
    client: FlaskClient, recorded: dict[str, int]
) -> None:
    answer = client.get(f"/admin/contacts/{recorded['contact']}/activity")
    assert answer.status_code == 200
    entries = _entries(answer.get_data(as_text=True))
    assert sorted(e["kind"] for e in entries) == sorted(KINDS)
    assert [e["at"] for e in entries] == sorted((e["at"] for e in entries), reverse=True)
    by_kind = {e["kind"]: _squash(e["text"]) for e in entries}
    # 09:00 UTC on Nov 2 is 10:00 in Warsaw; the badge names the kind, the sentence says what happened.
    assert by_kind["order_placed"].startswith("Nov 2, 2026, 10:00:00")
    assert f"Order Ordered #10{recorded['contact']} for €59.80" in by_kind["order_placed"]
    assert "Refund Refunded €19.90 of order" in by_kind["order_refunded"]
    assert "Abandoned cart Left a cart of €29.90" in by_kind["cart_abandoned"]
    assert f"“Winter sale {recorded['contact']}” was delivered (email)" in by_kind["campaign_delivered"]
    assert f"“Catalogue {recorded['contact']}” came back undelivered (letter)" in by_kind["campaign_returned"]
    assert f"Scanned the QR code of “Catalogue {recorded['contact']}”" in by_kind["qr_scan"]
    assert "Added product p-7 to the cart" in by_kind["add_to_cart"]
    assert "Subscription changed from Unknown to Subscribed" in by_kind["subscription_changed"]
    assert "Moved from Unengaged to Engaged: opened an email" in by_kind["engagement_changed"]
    assert f"Left the segment “VIP {recorded['contact']}”: the segment was edited" in by_kind["segment_left"]


def test_the_page_is_written_in_the_viewers_language(client: FlaskClient, recorded: dict[str, int]) -> None:
    html = client.get(
        f"/admin/contacts/{recorded['contact']}/activity", headers={"Accept-Language": "pl"}
    ).get_data(as_text=True)
    placed = next(e for e in _entries(html) if e["kind"] == "order_placed")
    assert _squash(placed["text"]).startswith("2 lis 2026, 10:00:00")
    assert "59,80" in placed["text"]


def test_older_activity_pages_show_everything_once(
    settings: Settings, client: FlaskClient, recorded: dict[str, int]
) -> None:
    with session_scope(settings.database_url) as session:
        here = shop(session, "Busy shop")
        for label in ("a", "b", "c"):  # 54 entries, three of each kind at each time
            record_everything(session, here, here.contact_id, start=START, step=timedelta(0), label=label)
        whole = timeline(session, here.account_id, here.contact_id, limit=200)
        assert whole is not None
        expected = [(e["kind"], e["at"]) for e in whole["entries"]]
    sign_in(client, settings.database_url, here.account_id)
    seen: list[tuple[str, str]] = []
    url = f"/admin/contacts/{here.contact_id}/activity"
    pages = 0
    while url:
        html = client.get(url).get_data(as_text=True)
        seen += [(e["kind"], e["at"]) for e in _entries(html)]
        older = re.search(r'href="([^"]+)" rel="next"', html)
        url = unescape(older[1]) if older else ""
        pages += 1
    assert pages == 2
    assert len(seen) == 54
    assert seen == expected
    assert "Newest activity" in html  # the last page leads back to the first


def test_another_accounts_contact_is_not_found(client: FlaskClient, recorded: dict[str, int]) -> None:
    assert client.get(f"/admin/contacts/{recorded['other']}/activity").status_code == 404
    assert client.get("/admin/contacts/999999/activity").status_code == 404


def test_a_bad_cursor_starts_from_the_newest(client: FlaskClient, recorded: dict[str, int]) -> None:
    html = client.get(f"/admin/contacts/{recorded['contact']}/activity?cursor=nonsense").get_data(
        as_text=True
    )
    assert "here is the newest activity" in html
    assert len(_entries(html)) == len(KINDS)


def test_a_contact_without_activity_says_so(settings: Settings, client: FlaskClient) -> None:
    with session_scope(settings.database_url) as session:
        here = shop(session, "Quiet shop")
    sign_in(client, settings.database_url, here.account_id)
    html = client.get(f"/admin/contacts/{here.contact_id}/activity").get_data(as_text=True)
    assert Hooks(html).text("data-activity-empty") == "No activity yet."
    assert 'rel="next"' not in html


def test_signed_out_visitors_are_sent_to_sign_in(client: FlaskClient, settings: Settings) -> None:
    with session_scope(settings.database_url) as session:
        here = shop(session, "Closed shop")
    answer = client.get(f"/admin/contacts/{here.contact_id}/activity")
    assert answer.status_code in (302, 303)
    assert answer.headers["Location"].startswith("/admin/signin")


@pytest.mark.parametrize("embedded", [True, False])
def test_the_partial_renders_entries_in_either_skin(app: Flask, settings: Settings, embedded: bool) -> None:
    with session_scope(settings.database_url) as session:
        here = shop(session)
        record_everything(session, here, here.contact_id)
        page = timeline(session, here.account_id, here.contact_id, limit=3)
    assert page is not None
    # As another page of the admin includes it (the customer profile shows the first page).
    with app.test_request_context(f"/admin/contacts/{here.contact_id}/activity"):
        html = render_template(
            "admin/_activity.html",
            activity=page["entries"],
            activity_contact_id=here.contact_id,
            embedded=embedded,
        )
    assert [e["kind"] for e in _entries(html)] == [e["kind"] for e in page["entries"]]
    assert ("<s-badge" in html) is embedded
    assert ('class="badge' in html) is not embedded


def test_the_page_shows_only_catalogued_text(app: Flask, settings: Settings, tmp_path: Path) -> None:
    with session_scope(settings.database_url) as session:
        here = shop(session)
        record_everything(session, here, here.contact_id)
    app.extensions["babel"].translation_directories[:] = [str(pseudo_catalog(tmp_path / "translations"))]
    client = app.test_client()
    sign_in(client, settings.database_url, here.account_id, locale="pl")
    html = client.get(f"/admin/contacts/{here.contact_id}/activity").get_data(as_text=True)
    tag = here.contact_id
    data = {
        f"owner{here.account_id}@example.com",
        "Anna",
        f"Winter sale {tag}",
        f"Catalogue {tag}",
        f"VIP {tag}",
    }
    assert untranslated(html, data) == []
