"""The demo: seeded data through the inbox and a real worker process, on both setups."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from flask.testing import FlaskClient
from sqlalchemy import func, select

from integration.demo import generator as demo
from integration.demo.run import DEMO_ACCOUNT
from integration.settings import Settings, configure
from integration.store import session_scope
from integration.store.db import dispose_engines
from integration.store.models import (
    Account,
    Contact,
    EngagementStatus,
    InboxDelivery,
    InboxStatus,
    InteractionEvent,
    Platform,
    Store,
    Visitor,
    VisitorEvent,
)
from integration.store.types import utcnow
from integration.web.app import create_app
from tests.support.processes import storepulse
from tests.web.admin.pages import Hooks

CONTACTS = 300
NOW = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def test_the_generator_is_seeded() -> None:
    first, again = demo.generate(200, seed=3, now=NOW), demo.generate(200, seed=3, now=NOW)
    other = demo.generate(200, seed=4, now=NOW)
    assert first.phases == again.phases
    assert first.phases != other.phases


def test_the_generated_history_has_every_kind_of_record() -> None:
    data = demo.generate(2000, seed=7, now=NOW)
    records = [r for p in data.phases for topics in p.values() for r in topics.get("events", [])]
    kinds = {r["type"] if r["type"] != "bounce" else f"{r['bounce_type']}_bounce" for r in records}
    assert kinds == {
        "product_view",
        "add_to_cart",
        "email_open",
        "email_click",
        "qr_scan",
        "hard_bounce",
        "soft_bounce",
        "spam_complaint",
        "unsubscribe",
    }
    assert any(r.get("machine_open") for r in records)
    orders = [r for p in data.phases for topics in p.values() for r in topics.get("orders", [])]
    assert {o["currency"] for o in orders} == {"EUR", "USD"}
    woo = [body for phase in data.woocommerce for topic, body in phase if topic.startswith("order.")]
    assert {o["status"] for o in woo} >= {
        "completed",
        "refunded",
        "cancelled",
        "checkout-draft",
        "processing",
    }
    drafts = {o["id"] for o in woo if o["status"] == "checkout-draft"}
    assert drafts & {o["id"] for o in woo if o["status"] == "processing"}  # drafts placed later
    assert min(datetime.fromisoformat(o["created_at"]) for o in orders) < NOW.replace(year=2025)
    campaigns = data.phases[0][0]["campaigns"]
    assert {c["channel"] for c in campaigns} == {"email", "letter"}


def _expected_revenue(data: demo.DemoData) -> dict[str, Decimal]:
    revenue: dict[str, Decimal] = {}
    for topics in data.phases[1].values():
        for o in topics["orders"]:
            if o.get("cancelled_at") is None and o["financial_status"] not in ("voided", "refunded"):
                revenue[o["currency"]] = revenue.get(o["currency"], Decimal(0)) + Decimal(o["total_price"])
    # The WooCommerce shop's orders as they stand last: paid and awaiting payment count, the
    # refunded, cancelled and failed do not (connectors.woocommerce.schemas.STATUSES).
    last = {body["id"]: body for topic, body in data.woocommerce[1] if topic.startswith("order.")}
    for o in last.values():
        if o["status"] in ("completed", "processing", "on-hold", "pending"):
            revenue["PLN"] = revenue.get("PLN", Decimal(0)) + Decimal(o["total"])
    return revenue


@pytest.fixture(params=["embedded", "servers"])
def demo_env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    env = {"PATH": "/usr/bin:/bin", "STOREPULSE_INSTANCE_PATH": str(tmp_path / "instance")}
    if request.param == "servers":
        env |= {
            "DATABASE_URL": request.getfixturevalue("postgres_url"),
            "REDIS_URL": request.getfixturevalue("redis_url"),
            "SECRET_KEY": "demo-secret-key-0123456789",
            "STOREPULSE_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        }
    return env


def test_the_demo_builds_an_account_and_prints_its_summary(demo_env: dict[str, str]) -> None:
    result = storepulse("demo", "--contacts", str(CONTACTS), "--json", env=demo_env)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    generated = demo.generate(CONTACTS, seed=7)

    contacts = summary["contacts"]
    assert contacts["total"] == CONTACTS
    groups = contacts["by_engagement"]
    assert set(groups) == {"engaged", "unengaged", "blocked"}
    assert sum(sum(g.values()) for g in groups.values()) == CONTACTS
    assert set(groups["engaged"]) == {"subscribed", "unknown", "unsubscribed"}

    assert summary["orders"]["total"] == generated.count(1)
    revenue = {r["currency"]: Decimal(r["amount"]) for r in summary["orders"]["revenue"]}
    assert revenue == _expected_revenue(generated)
    assert summary["checkouts"]["recovered"] > 0
    assert summary["checkouts"]["abandoned"] > 0
    assert summary["campaigns"] == len(generated.phases[0][0]["campaigns"])
    assert summary["api_key"].startswith("sp_")
    _storefront_visits_engage_their_contacts(generated, demo_env)
    _campaign_results_are_the_apis_and_count_every_open_click_and_scan(summary, generated, demo_env)


def _storefront_visits_engage_their_contacts(generated: demo.DemoData, env: dict[str, str]) -> None:
    """The Shopify store's pixel and the other store's snippet: every batch taken, the views of
    logged-in, checked-out and identified visitors counted on their contacts, the others waiting,
    and contacts quiet for the time frame engaged again by them."""
    batches = [b for store in generated.storefront.values() for b in store]
    assert {b["source"] for b in batches} == {"shopify_pixel", "snippet"}
    settings = Settings.from_env(env)
    try:
        with session_scope(settings.database_url) as session:
            # The demo's own rows: the store may hold other tests' accounts too.
            account = session.scalars(select(Account.id).where(Account.name == DEMO_ACCOUNT)).one()
            stores = select(Store.id).where(Store.account_id == account).scalar_subquery()
            statuses = session.scalars(
                select(InboxDelivery.status).where(
                    InboxDelivery.source == "storefront", InboxDelivery.store_id.in_(stores)
                )
            ).all()
            assert statuses == [InboxStatus.PROCESSED] * len(batches)
            platforms = session.scalars(
                select(Store.platform).where(Store.account_id == account).order_by(Store.id)
            ).all()
            assert platforms == [Platform.SHOPIFY, Platform.API, Platform.WOOCOMMERCE]
            counted = session.scalar(
                select(func.count()).where(
                    InteractionEvent.source == "storefront", InteractionEvent.account_id == account
                )
            )
            waiting = session.scalar(select(func.count()).where(VisitorEvent.store_id.in_(stores)))
            ties = dict(
                session.execute(
                    select(Visitor.tied_by, func.count())
                    .where(Visitor.store_id.in_(stores))
                    .group_by(Visitor.tied_by)
                ).all()
            )
            engaged_by_views = session.scalar(
                select(func.count()).where(
                    Contact.account_id == account,
                    Contact.engagement_status == EngagementStatus.ENGAGED,
                    Contact.engagement_reason.in_(("product_view", "add_to_cart")),
                    Contact.last_interaction_at > utcnow() - timedelta(days=1),
                )
            )
    finally:
        configure(None)
        dispose_engines()
    assert counted
    assert waiting
    assert set(ties) == {"customer", "email", None}
    assert engaged_by_views


def _marked(data: demo.DemoData, kind: str) -> dict[str, int]:
    """Per campaign, the contacts with a counted event of this kind naming it (the sends it marks)."""
    events = [r for p in data.phases for topics in p.values() for r in topics.get("events", [])]
    pairs = {
        (r["campaign_id"], r["customer_id"])
        for r in events
        if r["type"] == kind and r.get("campaign_id") and not r.get("machine_open")
    }
    return dict(Counter(campaign for campaign, _ in pairs))


def _campaign_results_are_the_apis_and_count_every_open_click_and_scan(
    summary: dict[str, Any], generated: demo.DemoData, env: dict[str, str]
) -> None:
    printed = {c["external_id"]: c for c in summary["campaign_results"]}
    assert len(printed) == summary["campaigns"]
    for field, kind in (("opened", "email_open"), ("clicked", "email_click"), ("scanned", "qr_scan")):
        counts = {external_id: c[field] for external_id, c in printed.items() if c[field]}
        assert counts == _marked(generated, kind)
        assert sum(counts.values()) > 0, field
    assert sum(c["ordered"] for c in printed.values()) > 0
    # The same numbers through the API, from the demo's own store.
    settings = Settings.from_env(env)
    app = create_app({f.name: getattr(settings, f.name) for f in fields(settings)})
    headers = {"Authorization": f"Bearer {summary['api_key']}"}
    try:
        client = app.test_client()
        listed = client.get("/api/v1/campaigns?limit=100", headers=headers).get_json()["campaigns"]
        assert {c["external_id"]: c for c in listed} == printed
        for campaign in listed:
            results = client.get(f"/api/v1/campaigns/{campaign['id']}/results", headers=headers).get_json()
            for field in ("sends", "by_status", "opened", "clicked", "scanned", "ordered", "revenue"):
                assert results[field] == campaign[field], (campaign["name"], field)
        _the_admin_shows_the_demo_to_its_printed_sign_in(app.test_client(), summary, headers)
    finally:
        configure(None)
        dispose_engines()


def _the_admin_shows_the_demo_to_its_printed_sign_in(
    client: FlaskClient, summary: dict[str, Any], headers: dict[str, str]
) -> None:
    admin = summary["admin"]
    assert admin["url"].endswith("/admin/")
    form = client.get("/admin/signin").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form)
    assert token is not None
    signed_in = client.post(
        "/admin/signin", data={"email": admin["email"], "password": admin["password"], "csrf_token": token[1]}
    )
    assert signed_in.status_code == 302
    page = Hooks(client.get("/admin/").get_data(as_text=True))
    stats = client.get("/api/v1/contacts/stats", headers=headers).get_json()
    shown = {hook.within[-1]: int(hook.attrs["data-count"]) for hook in page.all("data-count")}
    assert shown == {f"group-{name}": group["count"] for name, group in stats["groups"].items()}
    assert sum(shown.values()) > 0


def test_running_the_demo_again_starts_over(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "STOREPULSE_INSTANCE_PATH": str(tmp_path / "instance")}
    first = json.loads(storepulse("demo", "--contacts", "120", "--json", env=env).stdout)
    printed = storepulse("demo", "--contacts", "120", env=env).stdout
    assert first["contacts"]["total"] == 120
    assert f"Orders: {first['orders']['total']} in all" in printed
    # The campaign table shows each campaign's figures, as the JSON (and the API) give them.
    rows = {
        cells[0]: cells[1:]
        for line in printed.splitlines()
        if len(cells := [c.strip() for c in line.strip("│ ").split("│")]) == 8 and cells[0]
    }
    for campaign in first["campaign_results"]:
        revenue = (
            campaign["revenue"][0]["amount"] + " " + campaign["revenue"][0]["currency"]
            if campaign["revenue"]
            else "-"
        )
        figures = [str(campaign[k]) for k in ("sends", "opened", "clicked", "scanned", "ordered")]
        assert rows[campaign["name"]] == [campaign["channel"], *figures, revenue]
