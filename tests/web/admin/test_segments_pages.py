"""The Segments pages: the list, a segment with its words, reach, history and members, and why a
member is in it, in both skins."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from integration.accounts import create_account
from integration.audiences import segments
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import (
    BlockedReason,
    Contact,
    EngagementStatus,
    Segment,
    SubscriptionStatus,
)
from integration.web.admin import segments as pages
from tests.support.session_tokens import embedded_app
from tests.web.admin.pages import Hooks, sign_in

DAY = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
VIP = {
    "all": [
        {"tag": "vip"},
        {"any": [{"subscription": ["unsubscribed"]}, {"not": {"engagement": ["blocked"]}}]},
    ]
}


def _contacts(account_id: int) -> list[Contact]:
    """ann, bob (vip, subscribed), cy (vip, unsubscribed), dee (vip, subscribed, blocked), eve (no tag)."""
    made = []
    for name, status, tags, blocked in (
        ("ann", SubscriptionStatus.SUBSCRIBED, ["vip"], False),
        ("bob", SubscriptionStatus.SUBSCRIBED, ["vip"], False),
        ("cy", SubscriptionStatus.UNSUBSCRIBED, ["vip"], False),
        ("dee", SubscriptionStatus.SUBSCRIBED, ["vip"], True),
        ("eve", SubscriptionStatus.SUBSCRIBED, [], False),
    ):
        made.append(
            Contact(
                account_id=account_id,
                email=f"{name}@example.com",
                first_name=name.capitalize(),
                subscription_status=status,
                engagement_status=EngagementStatus.BLOCKED if blocked else EngagementStatus.ENGAGED,
                blocked_reason=BlockedReason.HARD_BOUNCE if blocked else None,
                blocked_at=DAY if blocked else None,
                tags=tags,
                first_seen_at=DAY,
            )
        )
    return made


@pytest.fixture
def shop_data(settings: Settings) -> dict[str, Any]:
    """An account with five contacts and a saved segment of its VIPs, and another account's segment."""
    with session_scope(settings.database_url) as session:
        account_id = create_account(session, "Segment shop", "Europe/Warsaw").id
        people = _contacts(account_id)
        session.add_all(people)
        session.flush()
        saved = segments.save(session, account_id, name="VIPs", raw_filter=VIP, description="Our best people")
        segments.ensure_predefined(session, account_id)
        other = create_account(session, "Other shop", "UTC").id
        theirs = segments.save(session, other, name="Theirs", raw_filter={"tag": "vip"})
        return {
            "account": account_id,
            "segment": saved.id,
            "other_segment": theirs.id,
            "ids": {c.email.split("@")[0]: c.id for c in people if c.email},
        }


@pytest.fixture
def owner(client: FlaskClient, settings: Settings, shop_data: dict[str, Any]) -> FlaskClient:
    sign_in(client, settings.database_url, shop_data["account"])
    return client


def test_the_list_shows_predefined_segments_first_in_words_then_saved_ones(
    owner: FlaskClient, shop_data: dict[str, Any]
) -> None:
    html = owner.get("/admin/segments").get_data(as_text=True)
    hooks = Hooks(html)
    kinds = [h.text.strip() for h in hooks.all("data-kind")]
    assert kinds[-1] == "Saved"
    assert set(kinds[:-1]) == {"Predefined, not editable"}
    links = hooks.all("data-segment")
    assert links[-1].attrs["href"] == f"/admin/segments/{shop_data['segment']}"
    assert links[-1].text == "VIPs"
    assert links[0].text == "Engaged subscribers"
    definitions = [h.text for h in hooks.all("data-definition")]
    assert definitions[0] == "Engagement group: Engaged and Subscription: Subscribed"
    assert definitions[-1] == (
        "Tagged vip and (Subscription: Unsubscribed or not (Engagement group: Blocked))"
    )
    assert [h.text for h in hooks.all("data-size")][
        -1
    ] == "3"  # ann, bob, cy (dee is blocked, not subscribed)
    # the other account's segment is neither linked nor named
    assert f'href="/admin/segments/{shop_data["other_segment"]}"' not in html
    assert "Theirs" not in html
    assert 'href="/admin/segments"' in html  # in the navigation
    assert 'href="/admin/segments/new"' in html  # the editor's page, now that it is here


def test_segments_never_computed_are_computed_at_once_not_at_the_next_hourly_round(
    owner: FlaskClient, shop_data: dict[str, Any], run_worker: Callable[[], bool]
) -> None:
    html = owner.get("/admin/segments").get_data(as_text=True)
    sizes = [h.text for h in Hooks(html).all("data-size")]
    assert sizes[0] == "–"  # engaged subscribers: made, not yet computed
    assert sizes[-1] == "3"  # the saved one was computed when saved
    assert 'id="segments-computing"' in html
    assert run_worker()  # the refresh the page asked for
    after = owner.get("/admin/segments").get_data(as_text=True)
    assert 'id="segments-computing"' not in after
    assert "–" not in [h.text for h in Hooks(after).all("data-size")]


def test_a_segment_shows_its_words_reach_history_and_members(
    owner: FlaskClient, shop_data: dict[str, Any]
) -> None:
    html = owner.get(f"/admin/segments/{shop_data['segment']}").get_data(as_text=True)
    hooks = Hooks(html)
    assert "<h1>VIPs</h1>" in html
    assert "Our best people" in html
    texts = {h.attrs["data-path"]: h for h in hooks.all("data-path", within="definition-tree")}
    assert set(texts) == {"0", "0.0", "0.1", "0.1.0", "0.1.1", "0.1.1.0"}
    assert not any("data-met" in h.attrs for h in texts.values())
    assert "Tagged vip" in texts["0.0"].text
    assert "A contact not classified yet" in hooks.all("data-not-set")[-1].text
    assert hooks.text("data-reach") == (
        "3 members, of whom 2 can receive marketing email (subscribed, not blocked, with an email address)."
    )
    assert hooks.text("data-members").startswith("Computed at ")
    assert [h.attrs["data-change"] for h in hooks.all("data-change")] == ["entered"] * 3
    assert "Segment created" in html
    assert [h.text for h in hooks.all("data-size-point")] == ["3"]
    assert '<svg class="chart"' in html
    members = hooks.all("data-why-link")
    assert [int(h.attrs["data-why-link"]) for h in members] == sorted(
        shop_data["ids"][n] for n in ("ann", "bob", "cy")
    )
    assert (
        members[0].attrs["href"]
        == f"/admin/segments/{shop_data['segment']}?why={shop_data['ids']['ann']}#why"
    )
    assert members[0].attrs["aria-label"] == "Why is ann@example.com here?"
    assert 'id="why"' not in html


def test_the_actions_export_and_delete_through_the_api(owner: FlaskClient, shop_data: dict[str, Any]) -> None:
    segment_id = shop_data["segment"]
    html = owner.get(f"/admin/segments/{segment_id}").get_data(as_text=True)
    assert f'data-method="POST" data-action="/api/v1/segments/{segment_id}/exports"' in html
    assert "announced in your notifications and listed in exports" in html
    assert f'data-method="DELETE" data-action="/api/v1/segments/{segment_id}"' in html
    assert 'data-confirm="Delete the segment VIPs? Its members and history go with it."' in html
    assert 'data-next="/admin/segments"' in html
    assert f'href="/admin/segments/{segment_id}/edit" data-edit' in html  # the editor's page


def test_a_predefined_segment_cannot_be_deleted_and_is_named_in_the_pages_language(
    owner: FlaskClient, settings: Settings, shop_data: dict[str, Any]
) -> None:
    with session_scope(settings.database_url) as session:
        sunset = session.scalar(
            select(Segment.id).where(Segment.account_id == shop_data["account"], Segment.key == "sunset")
        )
    html = owner.get(f"/admin/segments/{sunset}").get_data(as_text=True)
    assert "<h1>Sunset candidates</h1>" in html
    assert "Subscribed, with no counted interaction in 360 days (the time frame plus 180)" in html
    assert "Predefined, not editable" in html
    assert "delete-form" not in html
    assert "export-form" in html
    assert "No interaction in the last 360 days" in html


@pytest.mark.parametrize(
    ("who", "verdict", "marks"),
    [
        ("ann", "This contact matches the definition now.", {"0": "yes", "0.0": "yes", "0.1.0": "no"}),
        ("eve", "This contact does not match the definition now.", {"0": "no", "0.0": "no", "0.1": "yes"}),
        (
            "dee",
            "This contact does not match the definition now.",
            {"0": "no", "0.0": "yes", "0.1": "no", "0.1.0": "no", "0.1.1": "no", "0.1.1.0": "yes"},
        ),
    ],
)
def test_why_marks_each_condition_met_or_not_in_words(
    owner: FlaskClient, shop_data: dict[str, Any], who: str, verdict: str, marks: dict[str, str]
) -> None:
    contact_id = shop_data["ids"][who]
    html = owner.get(f"/admin/segments/{shop_data['segment']}?why={contact_id}").get_data(as_text=True)
    hooks = Hooks(html)
    assert hooks.text("data-why-verdict") == verdict
    assert f"{who}@example.com" in hooks.text("data-why-contact")
    found = {h.attrs["data-path"]: h for h in hooks.all("data-path", within="why-tree")}
    for path, mark in marks.items():
        assert found[path].attrs["data-met"] == mark
        # Said in words, with an icon, not by colour alone.
        assert found[path].text.strip().startswith("✓ Met:" if mark == "yes" else "✗ Not met:")


def test_why_for_another_accounts_contact_says_so(
    owner: FlaskClient, settings: Settings, shop_data: dict[str, Any]
) -> None:
    with session_scope(settings.database_url) as session:
        other = create_account(session, "Third shop", "UTC").id
        stranger = Contact(account_id=other, email="stranger@example.com", tags=["vip"])
        session.add(stranger)
        session.flush()
        stranger_id = stranger.id
    html = owner.get(f"/admin/segments/{shop_data['segment']}?why={stranger_id}").get_data(as_text=True)
    assert "That contact is not in this account." in html
    assert "stranger@example.com" not in html
    for odd in ("99999999999999999999999", "-1", "x"):  # a hand-edited link: no why, no error
        answer = owner.get(f"/admin/segments/{shop_data['segment']}?why={odd}&after={odd}")
        assert answer.status_code == 200
        assert 'id="why"' not in answer.get_data(as_text=True)


def test_members_come_in_keyset_pages(
    owner: FlaskClient, shop_data: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pages, "PAGE_SIZE", 2)
    url = f"/admin/segments/{shop_data['segment']}"
    seen: list[int] = []
    pages_seen = 0
    while url:
        hooks = Hooks(owner.get(url).get_data(as_text=True))
        seen += [int(h.attrs["data-why-link"]) for h in hooks.all("data-why-link")]
        following = hooks.all("data-next-page")
        url = following[0].attrs["href"] if following else ""
        pages_seen += 1
    assert pages_seen == 2
    assert seen == sorted(shop_data["ids"][n] for n in ("ann", "bob", "cy"))


def test_another_accounts_segment_is_not_found_inside_the_frame(
    owner: FlaskClient, shop_data: dict[str, Any]
) -> None:
    answer = owner.get(f"/admin/segments/{shop_data['other_segment']}")
    assert answer.status_code == 404
    html = answer.get_data(as_text=True)
    assert "This segment does not exist, or it belongs to another account." in html
    assert 'aria-label="Main"' in html  # the admin's navigation is there
    assert "Theirs" not in html


def test_edit_new_and_contact_links_appear_once_their_pages_exist(
    app: Flask, owner: FlaskClient, shop_data: dict[str, Any]
) -> None:
    for rule, endpoint in (
        ("/admin/segments/new", "admin.segment_new"),
        ("/admin/segments/<int:segment_id>/edit", "admin.segment_edit"),
        ("/admin/contacts/<int:contact_id>", "admin.contact"),
    ):
        if endpoint not in app.view_functions:  # a page still to come in this checkout
            app.add_url_rule(rule, endpoint, lambda **kwargs: "")
    listed = owner.get("/admin/segments").get_data(as_text=True)
    assert 'href="/admin/segments/new"' in listed
    html = owner.get(f"/admin/segments/{shop_data['segment']}").get_data(as_text=True)
    assert f'href="/admin/segments/{shop_data["segment"]}/edit"' in html
    assert f'<a href="/admin/contacts/{shop_data["ids"]["ann"]}">ann@example.com</a>' in html


@pytest.fixture
def embedded(shopify_settings: Settings, shop: int, shop_data: dict[str, Any]) -> tuple[Flask, str]:
    """The app inside Shopify's admin, its connected shop moved to the segments' account."""
    return embedded_app(shopify_settings, shop, shop_data["account"])


def test_both_pages_render_embedded_with_polaris_components(
    embedded: tuple[Flask, str], shop_data: dict[str, Any]
) -> None:
    app, query = embedded
    client = app.test_client()
    listed = client.get(f"/admin/segments?{query}")
    assert listed.status_code == 200
    html = listed.get_data(as_text=True)
    assert "<s-page" in html
    assert "<main" not in html
    assert f"/admin/segments/{shop_data['segment']}?embedded=1" in html  # links stay embedded
    page = client.get(f"/admin/segments/{shop_data['segment']}?why={shop_data['ids']['eve']}&{query}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<s-unordered-list" in html
    assert "<ul" not in html
    assert 'data-met="no"' in html
    assert "✗ Not met:" in html.replace('<span aria-hidden="true">✗</span>', "✗")
    missing = client.get(f"/admin/segments/{shop_data['other_segment']}?{query}")
    assert missing.status_code == 404
    assert "<s-banner" in missing.get_data(as_text=True)


def test_a_segment_seen_later_shows_who_left_and_why(
    owner: FlaskClient, settings: Settings, shop_data: dict[str, Any]
) -> None:
    with session_scope(settings.database_url) as session:
        bob = session.get(Contact, shop_data["ids"]["bob"])
        assert bob is not None
        bob.tags = []
        session.flush()
        segments.refresh(session, shop_data["segment"], now=datetime.now(UTC) + timedelta(minutes=1))
    hooks = Hooks(owner.get(f"/admin/segments/{shop_data['segment']}").get_data(as_text=True))
    changes = hooks.all("data-change")
    assert changes[0].attrs["data-change"] == "left"
    assert "Data changed" in owner.get(f"/admin/segments/{shop_data['segment']}").get_data(as_text=True)
    assert [h.text for h in hooks.all("data-size-point")] == ["3", "2"]
