"""The customer profile page: identity, orders and their detail, carts, sends and previews, value,
and what the message dialog says before anything is sent."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html import unescape
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_datetime
from flask.testing import FlaskClient
from sqlalchemy import select

from integration import ingest
from integration.accounts import create_account
from integration.analytics import rfm
from integration.audiences import segments
from integration.campaigns import preview_links
from integration.campaigns.sends import latest_preview, save_campaign
from integration.commerce.carts import mark_abandoned
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import (
    BlockedReason,
    CampaignChannel,
    CampaignSend,
    Contact,
    Sender,
    SendStatus,
    Store,
    SubscriptionStatus,
)
from integration.store.types import utcnow
from integration.web.admin.customer import cut_words
from tests.support.builders import bearer, checkout, customer, item, make_store, order
from tests.support.session_tokens import EMBEDDED, mint
from tests.support.shopify import SHOP
from tests.web.admin.pages import Hooks, sign_in
from tests.web.admin.test_viewer import page_load

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
HTML = b"<html><body><h1>Autumn sale</h1><script>alert(1)</script></body></html>"


@pytest.fixture
def ann(settings: Settings, client: FlaskClient) -> dict[str, Any]:
    """Ann's profile (`build_ann`), signed in as the owner of her account."""
    data = build_ann(settings.database_url)
    sign_in(client, settings.database_url, data["account"])
    return data


def build_ann(database_url: str) -> dict[str, Any]:
    """Ann with 12 orders, an open and a recovered cart, a letter and an email two days ago (within
    a 7-day frequency cap), in an account beside another one with its own contact."""
    now = utcnow().replace(microsecond=0)
    start = now - timedelta(days=60)
    with session_scope(database_url) as session:
        account = create_account(session, "Profile shop", "Europe/Warsaw")
        account.frequency_cap_days = 7
        # The store keeps New York's time, the account Warsaw's: orders show the store's clock.
        store = make_store(session, account_id=account.id, time_zone="America/New_York")
        other_account = create_account(session, "Other shop", "UTC")
        other_store = make_store(session, account_id=other_account.id)
        ingest.ingest_customers(
            session,
            store,
            [
                customer(
                    "c-ann",
                    "ann@example.com",
                    start,
                    first_name="Ann",
                    last_name="Lee",
                    phone="+48 600 100 200",
                    tags=["vip", "storepulse:champions"],
                )
            ],
        )
        ingest.ingest_customers(session, other_store, [customer("c-zed", "zed@example.com", start)])
        ingest.ingest_checkouts(
            session,
            store,
            [checkout("past-cart", start, email="ann@example.com", line_items=[item("Scarf", "20.00")])],
        )
        mark_abandoned(session, now=start + timedelta(hours=2))
        orders = [
            order(
                f"o{n}",
                start + timedelta(days=2 + n),
                name=f"#10{n:02d}",
                email="ann@example.com",
                financial_status="paid",
                line_items=[item("Linen shirt", "30.00", 2, "p-shirt")],
                total_discounts=Decimal("5.00"),
                total_shipping=Decimal("10.00"),
                total_tax=Decimal("13.00"),
                # o5's total leaves out its tax: it does not add up.
                total_price=Decimal("65.00") if n == 5 else Decimal("78.00"),
                checkout_token="past-cart" if n == 0 else None,
            )
            for n in range(12)
        ]
        ingest.ingest_orders(session, store, orders)
        ingest.ingest_checkouts(
            session,
            store,
            [
                checkout(
                    "open-cart",
                    now - timedelta(days=1),
                    email="ann@example.com",
                    total_price="15.00",
                    recovery_url="https://shop.example/recover/open-cart",
                    line_items=[item("Wool hat", "15.00", 1, "p-hat")],
                )
            ],
        )
        mark_abandoned(session, now=now)
        contacts = {c.email: c for c in session.scalars(select(Contact))}
        ann = contacts["ann@example.com"]
        letter = save_campaign(
            session,
            account.id,
            channel=CampaignChannel.LETTER,
            name="Autumn letter",
            preview=PDF,
            content_type="application/pdf",
        )
        email = save_campaign(
            session,
            account.id,
            channel=CampaignChannel.EMAIL,
            name="Autumn sale",
            preview=HTML,
            content_type="text/html; charset=utf-8",
        )
        letter_preview, email_preview = latest_preview(session, letter.id), latest_preview(session, email.id)
        assert letter_preview is not None
        assert email_preview is not None
        session.add_all(
            [
                CampaignSend(
                    campaign_id=letter.id,
                    contact_id=ann.id,
                    preview_id=letter_preview.id,
                    status=SendStatus.DELIVERED,
                    sent_at=start + timedelta(days=11, hours=12),
                    delivered_at=start + timedelta(days=12),
                    scanned_at=start + timedelta(days=12, hours=3),
                ),
                CampaignSend(
                    campaign_id=email.id,
                    contact_id=ann.id,
                    preview_id=email_preview.id,
                    status=SendStatus.SENT,
                    sent_at=now - timedelta(days=2),
                    opened_at=now - timedelta(days=1),
                ),
            ]
        )
        session.flush()
        rfm.compute(session, account.id, now)
        segments.ensure_predefined(session, account.id)
        segments.refresh_account(session, account.id, now)
        data = {
            "account": account.id,
            "other_account": other_account.id,
            "ann": ann.id,
            "zed": contacts["zed@example.com"].id,
            "letter": (letter.id, letter_preview.id),
            "email": (email.id, email_preview.id),
            "latest_order_at": start + timedelta(days=13),
        }
    return data


def page(client: FlaskClient, path: str, status: int = 200) -> tuple[str, Hooks]:
    answer = client.get(path)
    assert answer.status_code == status, answer.get_data(as_text=True)[:2000]
    html = answer.get_data(as_text=True)
    return html, Hooks(html)


def test_the_profile_shows_identity_segments_and_value(client: FlaskClient, ann: dict[str, Any]) -> None:
    html, hooks = page(client, f"/admin/contacts/{ann['ann']}")
    assert hooks.text("data-email") == "ann@example.com"
    assert hooks.text("data-phone") == "+48 600 100 200"
    assert hooks.one("data-subscription").attrs["data-subscription"] == "unknown"
    # The why is the contact list's: the latest order, on its day.
    # The contact list's why: no classification has run, so the latest interaction's day.
    assert hooks.text("data-why").startswith("Nothing since")
    own = [h.attrs["data-tag"] for h in hooks.all("data-tag")]
    assert sorted(own) == ["storepulse:champions", "vip"]
    assert "set by storepulse" in html
    assert html.count("data-own-tag") == 1
    assert hooks.all("data-store")
    assert "c-ann" in hooks.text("data-store")
    # The only buyer: the top spender and most frequent, and R1 F1 (the lowest of one).
    entered = [re.sub(r"\s+", " ", h.text).strip() for h in hooks.all("data-segment")]
    assert [e.split(" since ")[0] for e in entered] == ["Big spenders", "Frequent buyers", "RFM: Hibernating"]
    assert all(" since " in e for e in entered)
    assert hooks.one("data-rfm-scores").text.startswith("R")
    # One buyer: each score's range is its single value, said once.
    cuts = [h.text for h in hooks.all("data-cut")]
    assert cuts[0].startswith("R1: last order on ")
    assert cuts[1:] == ["F1: 12 orders", "M1: spent €923.00"]
    assert hooks.one("data-tier").attrs["data-tier"] == "big"  # the only buyer: the top 1%
    assert hooks.text("data-last-contacted") != "Never"
    spending = html[html.index('id="spending-table"') :]
    # Eleven orders of €78.00 and one of €65.00; the average of the twelve.
    assert '<td class="num">12</td><td class="num">€923.00</td><td class="num">€76.92</td>' in spending


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        (
            {"r": 5, "f": 2, "m": 3},
            [
                "R5: last order on or after Oct 14, 2026",
                "F2: 2 to 3 orders",
                "M3: spent €50.00 to €80.00",
            ],
        ),
        (
            {"r": 4, "f": 1, "m": 1},
            ["R4: last order from Sep 1, 2026 to Oct 13, 2026", "F1: 1 order", "M1: spent €20.00"],
        ),
    ],
)
def test_the_cut_points_are_said_in_words(app: Any, scores: dict[str, int], expected: list[str]) -> None:
    cuts = {
        "r": [
            {
                "score": 4,
                "last_order_from": "2026-09-01T10:00:00+00:00",
                "last_order_to": "2026-10-13T10:00:00+00:00",
            },
            {
                "score": 5,
                "last_order_from": "2026-10-14T10:00:00+00:00",
                "last_order_to": "2026-11-30T10:00:00+00:00",
            },
        ],
        "f": [{"score": 1, "orders_from": 1, "orders_to": 1}, {"score": 2, "orders_from": 2, "orders_to": 3}],
        "m": [
            {"currency": "EUR", "score": 1, "spent_from": "20.00", "spent_to": "20.00"},
            {"currency": "EUR", "score": 3, "spent_from": "50.00", "spent_to": "80.00"},
            {"currency": "PLN", "score": 3, "spent_from": "200.00", "spent_to": "300.00"},
        ],
    }
    with app.test_request_context("/admin/"):
        assert cut_words(cuts, {"scores": scores, "currency": "EUR"}) == expected
        assert cut_words(cuts, {"segment": "Prospects"}) == []


def test_orders_come_ten_at_first_then_all_with_details_that_add_up_or_not(
    client: FlaskClient, ann: dict[str, Any]
) -> None:
    html, hooks = page(client, f"/admin/contacts/{ann['ann']}")
    assert len(hooks.all("data-order-detail")) == 10
    assert hooks.one("data-orders-count").attrs["data-orders-count"] == "12"
    shown = re.findall(r"Items of order (#\d+)", html)
    assert shown == [f"#10{n:02d}" for n in range(11, 1, -1)]  # newest first
    in_new_york = format_datetime(
        ann["latest_order_at"], "medium", tzinfo=ZoneInfo("America/New_York"), locale="en"
    )
    assert f'<th scope="row">{in_new_york}</th>' in html
    assert hooks.one("data-all-orders")
    html, hooks = page(client, f"/admin/contacts/{ann['ann']}?orders=all")
    assert len(hooks.all("data-order-detail")) == 12
    assert not hooks.all("data-all-orders")
    verdicts = [h.attrs["data-adds-up"] for h in hooks.all("data-adds-up")]
    assert verdicts.count("no") == 1
    assert verdicts.count("yes") == 11
    assert {h.text for h in hooks.all("data-items-total")} == {"€60.00"}
    assert {h.text for h in hooks.all("data-tax")} == {"€13.00"}
    # The order that recovered a cart carries the badge.
    assert len(hooks.all("data-recovered-cart")) == 1
    assert html.count("Linen shirt") == 12


def test_open_and_past_carts_with_the_recovering_order_and_rule(
    client: FlaskClient, ann: dict[str, Any]
) -> None:
    _html, hooks = page(client, f"/admin/contacts/{ann['ann']}")
    carts = {h.attrs["data-cart"]: h for h in hooks.all("data-cart")}
    assert set(carts) == {"open-cart", "past-cart"}
    kinds = {h.attrs["data-cart-kind"] for h in hooks.all("data-cart-kind")}
    assert kinds == {"open", "past"}
    assert hooks.one("data-recovery-url")
    rule = hooks.one("data-rule")
    assert rule.attrs["data-rule"] == "checkout_token"
    assert "checkout's token" in rule.text
    assert "#1000" in hooks.text("data-recovered-by")
    lines = [h.text for h in hooks.all("data-cart-line")]
    assert any("Wool hat" in line for line in lines)
    assert any("Scarf" in line for line in lines)


def test_sends_show_times_attribution_and_signed_previews(
    client: FlaskClient, ann: dict[str, Any], settings: Settings
) -> None:
    html, hooks = page(client, f"/admin/contacts/{ann['ann']}")
    assert {h.attrs["data-channel"] for h in hooks.all("data-channel")} == {"email", "letter"}
    assert {h.attrs["data-time"] for h in hooks.all("data-time")} >= {
        "sent_at",
        "opened_at",
        "scanned_at",
        "delivered_at",
    }
    # The letter went out on day 11.5; order o10 on day 12 is the first after it.
    [attributed] = hooks.all("data-attributed-order")
    assert "Led to an order of €78.00 0 days later" in attributed.text
    frames = hooks.all("data-preview")
    assert {h.attrs["data-preview"] for h in frames} == {"application/pdf", "text/html; charset=utf-8"}
    assert '<iframe class="preview-frame" sandbox=""' in html
    urls = [unescape(u) for u in _iframe_sources(html)]
    assert len(urls) == 2
    for url in urls:
        answer = client.get(url)
        assert answer.status_code == 200
        policy = answer.headers["Content-Security-Policy"]
        assert "frame-ancestors 'self';" in policy
        assert "default-src 'none'" in policy
        if answer.mimetype == "application/pdf":
            assert answer.data == PDF
        else:
            assert answer.data == HTML
            assert policy.startswith("sandbox;")
    # A link works without the session (an embedded frame has none), and only as signed.
    with client.application.test_client() as anonymous:
        assert anonymous.get(urls[0]).status_code == 200
        assert anonymous.get(urls[0][:-3] + "abc").status_code == 404


def test_a_preview_link_expires_and_never_opens_another_accounts_preview(
    client: FlaskClient, ann: dict[str, Any], settings: Settings
) -> None:
    campaign_id, preview_id = ann["email"]
    secret = settings.secret_key
    mine = preview_links.sign(
        secret, preview_links.PreviewLink(ann["account"], campaign_id, preview_id, None)
    )
    assert client.get(f"/admin/previews/{mine}").status_code == 200
    other = preview_links.PreviewLink(ann["other_account"], campaign_id, preview_id, None)
    assert client.get(f"/admin/previews/{preview_links.sign(secret, other)}").status_code == 404
    forged = preview_links.sign(
        "another secret", preview_links.PreviewLink(ann["account"], campaign_id, preview_id, None)
    )
    assert client.get(f"/admin/previews/{forged}").status_code == 404
    time.sleep(1.1)
    with pytest.raises(preview_links.PreviewLinkInvalid):
        preview_links.resolve(secret, mine, max_age=0)
    embedded = preview_links.PreviewLink(ann["account"], campaign_id, preview_id, "demo.myshopify.com")
    answer = client.get(f"/admin/previews/{preview_links.sign(secret, embedded)}")
    assert (
        "frame-ancestors 'self' https://demo.myshopify.com https://admin.shopify.com;"
        in answer.headers["Content-Security-Policy"]
    )


def test_another_accounts_or_a_missing_contact_is_not_found_inside_the_frame(
    client: FlaskClient, ann: dict[str, Any]
) -> None:
    for contact_id in (ann["zed"], 999_999_999):
        html, hooks = page(client, f"/admin/contacts/{contact_id}", status=404)
        assert hooks.one("data-not-found")
        assert "zed@example.com" not in html
        assert "Contact list" in html  # the frame's navigation is there


def test_the_contact_list_links_to_the_profile(client: FlaskClient, ann: dict[str, Any]) -> None:
    html = client.get("/admin/contacts/list").get_data(as_text=True)
    assert f'href="/admin/contacts/{ann["ann"]}"' in html


def _set(settings: Settings, contact_id: int, **values: Any) -> None:
    with session_scope(settings.database_url) as session:
        contact = session.get(Contact, contact_id)
        assert contact is not None
        for name, value in values.items():
            setattr(contact, name, value)


def _add_sender(settings: Settings, account_id: int) -> None:
    with session_scope(settings.database_url) as session:
        session.add(
            Sender(
                account_id=account_id,
                host="127.0.0.1",
                port=2525,
                security="none",
                from_email="s@example.com",
            )
        )


def test_the_dialog_says_what_stops_a_message_before_it_is_sent(
    client: FlaskClient, ann: dict[str, Any], settings: Settings
) -> None:
    path = f"/admin/contacts/{ann['ann']}"
    # No sender yet: said, with where to set one, and no form.
    html, _hooks = page(client, path)
    assert 'id="refused-no-sender"' in html
    assert "/admin/setup/settings#sender" in html
    assert 'id="message-form"' not in html
    _add_sender(settings, ann["account"])
    # Contacted two days ago within a 7-day cap: the warning, the date and the explicit override.
    html, _hooks = page(client, path)
    assert 'id="message-form"' in html
    assert 'id="warn-cap"' in html
    assert 'name="override"' in html
    assert 'id="cap-warning"' in html
    assert 'name="override_unsubscribed"' not in html
    # Unsubscribed: a needed message only, by its own box.
    _set(settings, ann["ann"], subscription_status=SubscriptionStatus.UNSUBSCRIBED)
    html, _hooks = page(client, path)
    assert 'id="warn-unsubscribed"' in html
    assert 'name="override_unsubscribed"' in html
    # Blocked: refused with the reason, nothing to send.
    _set(settings, ann["ann"], blocked_reason=BlockedReason.HARD_BOUNCE, blocked_at=datetime.now(UTC))
    html, _hooks = page(client, path)
    assert 'id="refused-blocked"' in html
    assert "Hard bounce" in html
    assert 'id="message-form"' not in html


@EMBEDDED
def test_the_page_renders_embedded_as_polaris_markup(
    shopify_client: FlaskClient, shop: int, shopify_settings: Settings
) -> None:
    with session_scope(shopify_settings.database_url) as session:
        store = session.get(Store, shop)
        assert store is not None
        ingest.ingest_customers(session, store, [customer("c-1", "eve@example.com", first_name="Eve")])
        contact_id = session.scalars(select(Contact.id)).one()
    answer = shopify_client.get(f"/admin/contacts/{contact_id}", query_string=page_load(mint()))
    assert answer.status_code == 200, answer.data
    html = answer.get_data(as_text=True)
    assert "<s-page" in html
    assert "<s-section" in html
    assert "<main" not in html
    assert "<dialog" in html
    assert 'data-dialog-open="message-dialog"' in html
    assert (
        f"frame-ancestors https://{SHOP} https://admin.shopify.com;"
        == answer.headers["Content-Security-Policy"]
    )


def _iframe_sources(html: str) -> list[str]:
    return re.findall(r'<iframe[^>]* src="([^"]+)"', html)


def test_the_apis_preview_keeps_its_sandbox_and_may_not_be_framed(
    client: FlaskClient, ann: dict[str, Any], settings: Settings
) -> None:
    with session_scope(settings.database_url) as session:
        headers = bearer(session, ann["account"])
    campaign_id, preview_id = ann["email"]
    answer = client.get(f"/api/v1/campaigns/{campaign_id}/previews/{preview_id}", headers=headers)
    assert answer.status_code == 200
    assert answer.headers["Content-Security-Policy"] == (
        "sandbox; default-src 'none'; img-src * data:; style-src 'unsafe-inline' *; frame-ancestors 'none';"
    )
