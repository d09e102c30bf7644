"""The users API: owners only, CSRF on cookie-session changes, API keys unchanged, the last owner kept."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import Invitation, Role
from integration.users import digest
from tests.support.builders import bearer
from tests.support.mailchimp import KEY, LIST
from tests.support.users import Person, make_account, make_user, page_token, sign_in

MAILCHIMP = {
    "kind": "mailchimp",
    "name": "Newsletter",
    "config": {"list_id": LIST},
    "credentials": {"api_key": KEY},
}


@pytest.fixture
def team(settings: Settings) -> dict[str, Person]:
    account = make_account(settings)
    return {
        "owner": make_user(settings, account, "ana@example.com", Role.OWNER),
        "member": make_user(settings, account, "ben@example.com", Role.MEMBER),
    }


def signed_in(app: Flask, email: str) -> tuple[FlaskClient, dict[str, str]]:
    """A browser signed in as `email`, and the CSRF header its page's fetches carry."""
    client = app.test_client()
    assert sign_in(client, email).status_code == 302
    return client, {"X-CSRFToken": page_token(client)}


def test_a_cookie_session_change_without_the_csrf_token_is_refused(
    app: Flask, team: dict[str, Person]
) -> None:
    client, csrf = signed_in(app, "ana@example.com")
    assert client.get("/api/v1/users").status_code == 200  # reading needs no token
    for headers in ({}, {"X-CSRFToken": "forged"}):
        refused = client.post("/api/v1/invitations", json={"email": "cy@example.com"}, headers=headers)
        assert refused.status_code == 403
        assert refused.get_json()["code"] == "csrf_failed"
    made = client.post("/api/v1/invitations", json={"email": "cy@example.com"}, headers=csrf)
    assert made.status_code == 201


def test_without_a_session_or_a_key_the_api_answers_401(client: FlaskClient, team: dict[str, Person]) -> None:
    assert client.get("/api/v1/users").status_code == 401


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/v1/users", None),
        ("POST", "/api/v1/users", {"email": "cy@example.com", "password": "long enough pw"}),
        ("GET", "/api/v1/invitations", None),
        ("POST", "/api/v1/invitations", {"email": "cy@example.com"}),
        ("POST", "/api/v1/destinations", MAILCHIMP),
    ],
)
def test_members_may_not_manage_users_or_destinations(
    app: Flask, team: dict[str, Person], method: str, path: str, body: Any
) -> None:
    client, csrf = signed_in(app, "ben@example.com")
    answer = client.open(path, method=method, json=body, headers=csrf)
    assert answer.status_code == 403
    assert answer.get_json()["code"] == "forbidden"
    patched = client.patch(f"/api/v1/users/{team['owner'].id}", json={"role": "member"}, headers=csrf)
    assert patched.status_code == 403


def test_members_still_read_destinations_and_owners_add_them(app: Flask, team: dict[str, Person]) -> None:
    member, member_csrf = signed_in(app, "ben@example.com")
    assert member.get("/api/v1/destinations").status_code == 200
    owner, owner_csrf = signed_in(app, "ana@example.com")
    made = owner.post("/api/v1/destinations", json=MAILCHIMP, headers=owner_csrf)
    assert made.status_code == 201, made.get_json()
    gone = member.delete(f"/api/v1/destinations/{made.get_json()['id']}", headers=member_csrf)
    assert gone.status_code == 403


def test_an_api_key_acts_as_an_owner(
    client: FlaskClient, settings: Settings, team: dict[str, Person]
) -> None:
    with session_scope(settings.database_url) as session:
        headers = bearer(session, team["owner"].account_id)
    listed = client.get("/api/v1/users", headers=headers).get_json()
    assert [(u["email"], u["role"]) for u in listed] == [
        ("ana@example.com", "owner"),
        ("ben@example.com", "member"),
    ]
    assert "password" not in listed[0]
    assert "password_hash" not in listed[0]
    made = client.post(
        "/api/v1/users", json={"email": "Cy@example.com", "password": "long enough pw"}, headers=headers
    )
    assert made.status_code == 201
    assert made.get_json()["email"] == "cy@example.com"
    taken = client.post(
        "/api/v1/users", json={"email": "cy@example.com", "password": "long enough pw"}, headers=headers
    )
    assert taken.status_code == 422
    assert taken.get_json()["details"]["json"]["email"]


def test_owners_change_roles_and_disable_but_keep_the_last_owner(app: Flask, team: dict[str, Person]) -> None:
    client, csrf = signed_in(app, "ana@example.com")
    owner, member = team["owner"].id, team["member"].id
    last = client.patch(f"/api/v1/users/{owner}", json={"role": "member"}, headers=csrf)
    assert last.status_code == 422
    assert last.get_json()["code"] == "last_owner"
    assert client.patch(f"/api/v1/users/{owner}", json={"disabled": True}, headers=csrf).status_code == 422
    promoted = client.patch(f"/api/v1/users/{member}", json={"role": "owner"}, headers=csrf)
    assert promoted.get_json()["role"] == "owner"
    disabled = client.patch(f"/api/v1/users/{member}", json={"disabled": True}, headers=csrf)
    assert disabled.get_json()["disabled"] is True
    assert sign_in(app.test_client(), "ben@example.com").status_code == 401


def test_a_disabled_users_session_ends(app: Flask, team: dict[str, Person]) -> None:
    member, _ = signed_in(app, "ben@example.com")
    owner, csrf = signed_in(app, "ana@example.com")
    owner.patch(f"/api/v1/users/{team['member'].id}", json={"disabled": True}, headers=csrf)
    assert member.get("/admin/profile").status_code == 302


def test_invitations_are_listed_without_their_token_and_revoked(
    app: Flask, settings: Settings, team: dict[str, Person]
) -> None:
    client, csrf = signed_in(app, "ana@example.com")
    made = client.post("/api/v1/invitations", json={"email": "cy@example.com", "role": "owner"}, headers=csrf)
    body = made.get_json()
    assert body["url"] == f"{settings.app_url}/admin/invitations/{body['token']}"
    with session_scope(settings.database_url) as session:
        stored = session.query(Invitation).one()
        assert stored.token_hash == digest(body["token"])
        assert stored.invited_by == team["owner"].id
    listed = client.get("/api/v1/invitations").get_json()
    assert listed == [{k: body[k] for k in ("id", "email", "role", "state", "created_at", "expires_at")}]
    assert client.delete(f"/api/v1/invitations/{body['id']}", headers=csrf).status_code == 204
    assert client.get("/api/v1/invitations").get_json()[0]["state"] == "revoked"
    assert app.test_client().get(f"/admin/invitations/{body['token']}").status_code == 410
    assert client.delete("/api/v1/invitations/999999", headers=csrf).status_code == 404


def test_the_users_endpoints_are_in_the_openapi_document(client: FlaskClient) -> None:
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path in (
        "/api/v1/users",
        "/api/v1/users/{user_id}",
        "/api/v1/invitations",
        "/api/v1/invitations/{invitation_id}",
    ):
        assert path in paths
