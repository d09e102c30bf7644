"""The Syncs pages: destinations added through the API with their reasons beside the fields and their
credentials never shown again, a sync's dry run equal to the API's, its runs and errors, a stopped
sync's way out, and what members and other accounts see."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from integration.audiences import destinations
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import (
    DestinationKind,
    Role,
    Sync,
    SyncMode,
    SyncRun,
    SyncRunStatus,
    SyncStatus,
    User,
)
from integration.store.types import utcnow
from tests.support.builders import make_store
from tests.support.session_tokens import embedded_app
from tests.support.syncs import Audience, set_contact
from tests.web.admin.pages import Hooks, sign_in

SECRET = "whsec-a-secret-long-enough-1234"  # noqa: S105 - a test value
KLAVIYO_KEY = "pk_live_0123456789abcdef"

pytestmark = pytest.mark.audience(6, unsubscribed=1)


def csrf(client: FlaskClient) -> dict[str, str]:
    page = client.get("/admin/syncs").get_data(as_text=True)
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)
    assert token is not None
    return {"X-CSRFToken": token[1]}


@pytest.fixture
def owner(client: FlaskClient, settings: Settings, audience_shop: Audience) -> FlaskClient:
    sign_in(client, settings.database_url, audience_shop.account_id)
    return client


def webhook_sync(settings: Settings, shop: Audience, *, start: bool = False) -> tuple[int, int]:
    """A webhook destination (saved in the store: its URL is not reached) and a sync to it."""
    with session_scope(settings.database_url) as session:
        made = destinations.create_destination(
            session,
            shop.account_id,
            settings.encryption_keys,
            kind=DestinationKind.WEBHOOK,
            name="Our CRM",
            config={"url": "https://hooks.example.com/in"},
            credentials={"secret": SECRET},
        )
        created = destinations.create_sync(
            session,
            shop.account_id,
            segment_id=shop.segment_id,
            destination_id=made.id,
            mode=SyncMode.AUDIENCE,
            tag_prefix=settings.tag_prefix,
            start=start,
        )
        return made.id, created.id


def field_names(html: str, form: str) -> set[str]:
    """The names of a form's fields and of its slots for reasons by field."""
    part = html[html.index(f'<form id="{form}"') :]
    part = part[: part.index("</form>")]
    return set(re.findall(r' name="([^"]+)"', part)) | set(re.findall(r'data-error-for="([^"]+)"', part))


def dotted(details: dict[str, Any], prefix: str = "") -> set[str]:
    """The API's reasons by field as the page names its fields: `config.url`."""
    names: set[str] = set()
    for key, value in details.items():
        if isinstance(value, dict):
            names |= dotted(value, f"{prefix}{key}.")
        else:
            names.add(prefix + key)
    return names


@pytest.mark.parametrize(
    ("kind", "body", "refused"),
    [
        ("webhook", {"config": {"url": "not a url"}, "credentials": {"secret": SECRET}}, {"config.url"}),
        ("mailchimp", {"config": {}, "credentials": {"api_key": "x-us6"}}, {"config.list_id"}),
        (
            "mailchimp",
            {"config": {"list_id": "abc"}, "credentials": {"api_key": "no dc"}},
            {"credentials.api_key"},
        ),
        (
            "klaviyo",
            {"config": {"list_id": "Xy12"}, "credentials": {"api_key": "short"}},
            {"credentials.api_key"},
        ),
        ("klaviyo", {"config": {"list_id": "Xy12"}, "credentials": {"api_key": KLAVIYO_KEY}}, {"name"}),
    ],
)
def test_the_api_refuses_each_field_of_the_destination_form_beside_a_field_it_has(
    owner: FlaskClient, kind: str, body: dict[str, Any], refused: set[str]
) -> None:
    html = owner.get(f"/admin/syncs?kind={kind}").get_data(as_text=True)
    names = field_names(html, "destination-form")
    assert f'<input type="hidden" name="kind" value="{kind}">' in html
    sent = {"kind": kind, **body, **({"name": "A name"} if refused != {"name"} else {"name": ""})}
    answer = owner.post("/api/v1/destinations", json=sent, headers=csrf(owner))
    assert answer.status_code == 422, answer.get_json()
    details = answer.get_json()["details"]
    reasons = dotted(details.get("json", details))
    assert reasons == refused
    assert reasons <= names  # each reason has its field's slot on the page


def test_credentials_are_never_shown_again_after_saving(owner: FlaskClient) -> None:
    body = {
        "kind": "klaviyo",
        "name": "Klaviyo newsletter",
        "config": {"list_id": "Xy12Ab"},
        "credentials": {"api_key": KLAVIYO_KEY},
    }
    made = owner.post("/api/v1/destinations", json=body, headers=csrf(owner))
    assert made.status_code == 201
    listing = owner.get("/admin/syncs").get_data(as_text=True)
    one = owner.get(f"/admin/syncs/destinations/{made.get_json()['id']}").get_data(as_text=True)
    for html in (listing, one):
        assert KLAVIYO_KEY not in html
        assert KLAVIYO_KEY[-4:] + "<" not in html
    hooks = Hooks(listing)
    assert hooks.one("data-destination").text == "Klaviyo newsletter"
    assert hooks.text("data-credentials") == "Set; never shown again"
    assert Hooks(one).text("data-credentials") == "Set; never shown again"
    assert Hooks(one).text("data-where") == "List Xy12Ab"
    assert 'id="credentials-form"' in one
    assert 'name="credentials.api_key" type="password" value=""' in one


def test_without_destinations_the_page_says_how_to_add_one(owner: FlaskClient) -> None:
    html = owner.get("/admin/syncs").get_data(as_text=True)
    hooks = Hooks(html)
    empty = {h.attrs["data-empty"]: h.text for h in hooks.all("data-empty")}
    assert empty["syncs"].startswith("No sync yet. Add a destination first")
    assert empty["destinations"].startswith("No destination yet. Add one below")
    assert 'id="sync-form"' not in html
    assert 'id="destination-form"' in html
    assert 'href="/admin/syncs"' in html  # in the navigation


def test_a_new_sync_shows_the_dry_run_equal_to_the_api_and_a_button_to_start(
    owner: FlaskClient, settings: Settings, audience_shop: Audience
) -> None:
    _, sync_id = webhook_sync(settings, audience_shop)
    listing = owner.get("/admin/syncs").get_data(as_text=True)
    assert 'id="sync-form"' in listing
    assert 'data-next="/admin/syncs/{id}"' in listing
    html = owner.get(f"/admin/syncs/{sync_id}").get_data(as_text=True)
    api = owner.post(f"/api/v1/syncs/{sync_id}/preview", headers=csrf(owner)).get_json()
    hooks = Hooks(html)
    shown = hooks.one("data-preview-adds").attrs
    for action in ("adds", "updates", "removes", "unchanged"):
        assert int(shown[f"data-preview-{action}"]) == api[action], action
    assert api["adds"] == 6  # the subscribed ones: the unsubscribed contact is never sent
    sample = [a["email"] for a in api["sample"]["adds"]]
    assert all(email in html for email in sample)
    assert "In the segment, not yet sent" in html
    assert f'data-method="PATCH" data-action="/api/v1/syncs/{sync_id}"' in html
    assert 'id="start-form"' in html
    assert "Start the sync" in html
    assert Hooks(owner.get("/admin/syncs").get_data(as_text=True)).text("data-status") == "Paused"


def test_runs_are_listed_with_their_counts_duration_and_errors_as_the_api_gives_them(
    owner: FlaskClient, settings: Settings, audience_shop: Audience
) -> None:
    _, sync_id = webhook_sync(settings, audience_shop, start=True)
    failed = audience_shop.contact_ids["person2@example.com"]
    started = utcnow() - timedelta(hours=1)
    with session_scope(settings.database_url) as session:
        session.add_all(
            [
                SyncRun(
                    sync_id=sync_id,
                    started_at=started,
                    finished_at=started + timedelta(seconds=4),
                    status=SyncRunStatus.PARTIAL,
                    adds=5,
                    failed=1,
                    errors=[{"contact_id": failed, "action": "add", "error": "the receiver refused it"}],
                ),
                SyncRun(
                    sync_id=sync_id,
                    started_at=started + timedelta(minutes=30),
                    finished_at=started + timedelta(minutes=31),
                    status=SyncRunStatus.SUCCEEDED,
                    updates=2,
                    removes=1,
                    unchanged=3,
                ),
            ]
        )
    html = owner.get(f"/admin/syncs/{sync_id}").get_data(as_text=True)
    api = owner.get(f"/api/v1/syncs/{sync_id}/runs").get_json()["runs"]
    hooks = Hooks(html)
    assert [int(h.attrs["data-run"]) for h in hooks.all("data-run")] == [r["id"] for r in api]
    for key in ("adds", "updates", "removes", "unchanged", "failed"):
        assert [int(h.attrs[f"data-run-{key}"]) for h in hooks.all(f"data-run-{key}")] == [
            r[key] for r in api
        ]
    assert "4 seconds" in html
    assert "1 minute" in html
    assert "Some contacts failed" in html
    assert hooks.one("data-error-contact").attrs["href"] == f"/admin/contacts/{failed}"
    assert hooks.text("data-contact-error") == "the receiver refused it"
    assert 'id="pause-form"' in html
    assert 'id="start-form"' not in html  # on: the dry run is offered, not shown
    assert hooks.one("data-show-preview").attrs["href"] == f"/admin/syncs/{sync_id}?preview=1#preview"


def test_a_stopped_sync_says_why_and_links_to_replacing_the_credentials(
    owner: FlaskClient, settings: Settings, audience_shop: Audience
) -> None:
    destination_id, sync_id = webhook_sync(settings, audience_shop, start=True)
    with session_scope(settings.database_url) as session:
        found = session.get(Sync, sync_id)
        assert found is not None
        found.status, found.last_error = SyncStatus.STOPPED, "401: the endpoint refused the signature"
    html = owner.get(f"/admin/syncs/{sync_id}").get_data(as_text=True)
    assert 'id="sync-stopped"' in html
    assert "refused its credentials or its address (401: the endpoint refused the signature)" in html
    link = Hooks(html).one("data-replace-credentials")
    assert link.attrs["href"] == f"/admin/syncs/destinations/{destination_id}"
    page = owner.get(link.attrs["href"]).get_data(as_text=True)
    assert 'id="destination-stopped"' in page
    assert 'name="credentials.secret"' in page
    replaced = owner.patch(
        f"/api/v1/destinations/{destination_id}",
        json={"credentials": {"secret": "a-new-secret-long-enough-9876"}},
        headers=csrf(owner),
    )
    assert replaced.status_code == 200
    after = owner.get(f"/admin/syncs/{sync_id}").get_data(as_text=True)
    assert 'id="sync-stopped"' not in after
    assert "a-new-secret" not in owner.get(link.attrs["href"]).get_data(as_text=True)


def test_members_see_destinations_read_only(
    client: FlaskClient, settings: Settings, audience_shop: Audience
) -> None:
    destination_id, _ = webhook_sync(settings, audience_shop)
    with session_scope(settings.database_url) as session:
        member = User(
            account_id=audience_shop.account_id,
            email="member@example.com",
            password_hash=generate_password_hash("a long enough password"),
            role=Role.MEMBER,
        )
        session.add(member)
        session.flush()
        member_id = member.id
    with client.session_transaction() as cookie:
        cookie["_user_id"] = f"{member_id}:1"
        cookie["_fresh"] = True
    html = client.get("/admin/syncs").get_data(as_text=True)
    assert 'id="destination-form"' not in html
    assert "Only an owner of the account can add or change destinations." in html
    assert Hooks(html).one("data-destination").text == "Our CRM"
    one = client.get(f"/admin/syncs/destinations/{destination_id}").get_data(as_text=True)
    assert 'id="credentials-form"' not in one
    assert 'id="delete-form"' not in one
    body = {
        "kind": "klaviyo",
        "name": "K",
        "config": {"list_id": "X1"},
        "credentials": {"api_key": KLAVIYO_KEY},
    }
    assert client.post("/api/v1/destinations", json=body, headers=csrf(client)).status_code == 403


def test_another_accounts_sync_and_destination_are_not_found(
    owner: FlaskClient, settings: Settings, audience_shop: Audience
) -> None:
    with session_scope(settings.database_url) as session:
        other = make_store(session).account_id
    theirs = Audience(other, 0, 0)
    with session_scope(settings.database_url) as session:
        from integration.audiences import segments

        theirs.segment_id = segments.save(session, other, name="Theirs", raw_filter={"tag": "x"}).id
    destination_id, sync_id = webhook_sync(settings, theirs)
    for path in (f"/admin/syncs/{sync_id}", f"/admin/syncs/destinations/{destination_id}"):
        answer = owner.get(path)
        assert answer.status_code == 404
        assert "Our CRM" not in answer.get_data(as_text=True)
    listing = owner.get("/admin/syncs").get_data(as_text=True)
    assert f"/admin/syncs/{sync_id}" not in listing


def test_a_contact_who_left_shows_as_a_remove_with_its_reason(
    owner: FlaskClient, settings: Settings, audience_shop: Audience
) -> None:
    _, sync_id = webhook_sync(settings, audience_shop, start=True)
    gone = audience_shop.contact_ids["person1@example.com"]
    with session_scope(settings.database_url) as session:
        from integration.store.models import SyncState

        session.add(SyncState(sync_id=sync_id, contact_id=gone, member=True, address="person1@example.com"))
    from integration.store.models import SubscriptionStatus

    set_contact(settings, gone, subscription_status=SubscriptionStatus.UNSUBSCRIBED)
    html = owner.get(f"/admin/syncs/{sync_id}?preview=1").get_data(as_text=True)
    api = owner.post(f"/api/v1/syncs/{sync_id}/preview", headers=csrf(owner)).get_json()
    assert api["removes"] == 1
    assert int(Hooks(html).one("data-preview-removes").attrs["data-preview-removes"]) == 1
    assert 'id="sample-removes"' in html
    assert "Unsubscribed from marketing" in html
    with session_scope(settings.database_url) as session:
        assert session.scalar(select(Sync.enabled).where(Sync.id == sync_id)) is True


@pytest.fixture
def embedded(shopify_settings: Settings, shop: int, audience_shop: Audience) -> tuple[Flask, str]:
    """The app inside Shopify's admin, its connected shop moved to the audience's account."""
    return embedded_app(shopify_settings, shop, audience_shop.account_id)


def test_the_pages_render_embedded_with_polaris_components_and_links_that_stay_embedded(
    embedded: tuple[Flask, str], settings: Settings, audience_shop: Audience, shop: int
) -> None:
    app, query = embedded
    destination_id, sync_id = webhook_sync(settings, audience_shop)
    client = app.test_client()
    listed = client.get(f"/admin/syncs?kind=shopify&{query}")
    assert listed.status_code == 200
    html = listed.get_data(as_text=True)
    assert "<s-page" in html
    assert "<main" not in html
    assert '<s-select label="Store" name="config.store_id">' in html
    assert f'<s-option value="{shop}"' in html
    assert f"/admin/syncs/{sync_id}?embedded=1" in html
    assert f"/admin/syncs/destinations/{destination_id}?embedded=1" in html
    assert 'data-next="/admin/syncs/{id}?embedded=1' in html
    page = client.get(f"/admin/syncs/{sync_id}?{query}")
    assert page.status_code == 200
    one = page.get_data(as_text=True)
    assert "<s-table" in one
    assert "<table" not in one
    assert 'id="start-form"' in one
    destination = client.get(f"/admin/syncs/destinations/{destination_id}?{query}").get_data(as_text=True)
    assert '<s-password-field label="Signing secret" name="credentials.secret"' in destination
    assert SECRET not in destination
