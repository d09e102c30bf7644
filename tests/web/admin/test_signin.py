"""Signing in to the standalone admin: one answer for any failure, limits, cookies, CSRF, invitations."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import Role, User
from integration.users import invite
from integration.web.app import create_app
from tests.support.users import PASSWORD, form_token, make_account, make_user, page_token, sign_in

BASE = ("instance_path", "database_url", "redis_url", "secret_key", "encryption_keys")


@pytest.fixture
def make_app(settings: Settings) -> Callable[..., Flask]:
    def make(**overrides: Any) -> Flask:
        made = create_app({**{name: getattr(settings, name) for name in BASE}, **overrides})
        made.testing = True
        return made

    return make


def message_of(page: str) -> str:
    found = re.search(r'class="banner[^"]*"[^>]*>([^<]*)<', page)
    assert found is not None, page
    return found.group(1)


def test_an_owner_signs_in_and_reaches_the_next_local_page_only(
    client: FlaskClient, settings: Settings
) -> None:
    make_user(settings, make_account(settings), "ana@example.com")
    token = form_token(client)
    answer = client.post(
        "/admin/signin?next=//evil.example/x",
        data={"email": "ANA@example.com", "password": PASSWORD, "csrf_token": token},
    )
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/admin/"
    assert client.get("/admin/profile").status_code == 200
    with session_scope(settings.database_url) as session:
        assert session.query(User).one().last_sign_in_at is not None


def test_a_wrong_email_and_a_wrong_password_get_the_same_answer(
    client: FlaskClient, settings: Settings
) -> None:
    make_user(settings, make_account(settings), "ana@example.com")
    unknown = sign_in(client, "nobody@example.com", PASSWORD)
    wrong = sign_in(client, "ana@example.com", "not the password")
    assert unknown.status_code == wrong.status_code == 401
    assert message_of(unknown.get_data(as_text=True)) == message_of(wrong.get_data(as_text=True))
    assert client.get("/admin/profile").status_code == 302  # still signed out


def test_the_sign_in_form_refuses_a_post_without_its_csrf_token(
    client: FlaskClient, settings: Settings
) -> None:
    make_user(settings, make_account(settings), "ana@example.com")
    answer = client.post("/admin/signin", data={"email": "ana@example.com", "password": PASSWORD})
    assert answer.status_code == 200  # the form again, not a session
    assert client.get("/admin/profile").status_code == 302
    assert sign_in(client, "ana@example.com").status_code == 302
    assert client.post("/admin/signout").status_code == 400  # sign-out needs the token too
    assert client.get("/admin/profile").status_code == 200
    signed_out = client.post("/admin/signout", data={"csrf_token": page_token(client)})
    assert signed_out.status_code == 302
    assert client.get("/admin/profile").status_code == 302


def test_session_cookies_are_httponly_lax_and_secure_behind_https(
    make_app: Callable[..., Flask], settings: Settings
) -> None:
    make_user(settings, make_account(settings), "ana@example.com")
    for url, secure in (("https://pulse.example.com", True), ("http://127.0.0.1:8000", False)):
        client = make_app(app_url=url).test_client()
        answer = sign_in(client, "ana@example.com")
        cookie = next(c for c in answer.headers.getlist("Set-Cookie") if c.startswith("session="))
        assert "HttpOnly" in cookie
        assert "SameSite=Lax" in cookie
        assert ("Secure" in cookie) is secure


def test_failures_from_one_address_are_limited_then_refill(
    make_app: Callable[..., Flask], settings: Settings
) -> None:
    make_user(settings, make_account(settings), "ana@example.com")
    client = make_app(signin_failures_per_address=3, signin_failure_window_seconds=1.5).test_client()
    here = {"REMOTE_ADDR": "203.0.113.7"}
    for n in range(3):
        assert sign_in(client, f"guess{n}@example.com", "nope nope nope", **here).status_code == 401
    refused = sign_in(client, "ana@example.com", PASSWORD, **here)  # even the right password waits
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 2
    assert "Too many failed sign-ins" in refused.get_data(as_text=True)
    assert sign_in(client, "ana@example.com", PASSWORD, REMOTE_ADDR="198.51.100.1").status_code == 302
    time.sleep(0.6)  # one failure's worth refills in 0.5 s
    assert sign_in(client, "ana@example.com", PASSWORD, **here).status_code == 302


def test_failures_for_one_account_are_limited_from_any_address(
    make_app: Callable[..., Flask], settings: Settings
) -> None:
    make_user(settings, make_account(settings), "ana@example.com")
    client = make_app(signin_failures_per_account=3).test_client()
    for n in range(3):
        assert (
            sign_in(client, "ana@example.com", "wrong wrong", REMOTE_ADDR=f"203.0.113.{n}").status_code == 401
        )
    assert sign_in(client, "ana@example.com", PASSWORD, REMOTE_ADDR="203.0.113.99").status_code == 429
    # An unknown address is limited the same way, so the answers do not tell which emails exist.
    for n in range(3):
        assert sign_in(client, "nobody@example.com", "x", REMOTE_ADDR=f"198.51.100.{n}").status_code == 401
    assert sign_in(client, "nobody@example.com", "x", REMOTE_ADDR="198.51.100.99").status_code == 429


def test_successful_sign_ins_take_nothing(make_app: Callable[..., Flask], settings: Settings) -> None:
    make_user(settings, make_account(settings), "ana@example.com")
    app = make_app(signin_failures_per_address=2, signin_failures_per_account=2)
    for _ in range(4):
        assert sign_in(app.test_client(), "ana@example.com").status_code == 302


def test_sign_in_works_without_redis(
    make_app: Callable[..., Flask], settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    make_user(settings, make_account(settings), "ana@example.com")
    client = make_app(redis_url="redis://127.0.0.1:9/0").test_client()
    assert sign_in(client, "ana@example.com", "wrong wrong").status_code == 401
    assert sign_in(client, "ana@example.com", "wrong again").status_code == 401
    assert sign_in(client, "ana@example.com").status_code == 302
    warned = [r for r in caplog.records if "sign-in limits unavailable" in r.getMessage()]
    assert len(warned) == 1


def test_a_password_change_ends_the_other_sessions_but_this_one(app: Flask, settings: Settings) -> None:
    make_user(settings, make_account(settings), "ana@example.com")
    here, elsewhere = app.test_client(), app.test_client()
    sign_in(here, "ana@example.com")
    sign_in(elsewhere, "ana@example.com")
    changed = here.post(
        "/api/v1/profile/password",
        json={
            "current_password": PASSWORD,
            "new_password": "a much newer one",
            "new_password_again": "a much newer one",
        },
        headers={"X-CSRFToken": page_token(here)},
    )
    assert changed.status_code == 204, changed.get_json()
    assert here.get("/admin/profile").status_code == 200
    assert elsewhere.get("/admin/profile").status_code == 302


def test_the_language_chosen_on_the_profile_is_kept(client: FlaskClient, settings: Settings) -> None:
    make_user(settings, make_account(settings), "ana@example.com")
    sign_in(client, "ana@example.com")
    answer = client.patch(
        "/api/v1/profile", json={"locale": "pl"}, headers={"X-CSRFToken": page_token(client)}
    )
    assert answer.status_code == 200
    assert answer.get_json()["locale"] == "pl"
    assert '<html lang="pl">' in client.get("/admin/profile").get_data(as_text=True)


def test_an_invitation_link_sets_a_password_signs_in_and_works_once(
    client: FlaskClient, settings: Settings
) -> None:
    account = make_account(settings)
    make_user(settings, account, "ana@example.com")
    with session_scope(settings.database_url) as session:
        _invitation, token = invite(session, account, "ben@example.com", Role.MEMBER)
    path = f"/admin/invitations/{token}"
    assert "ben@example.com" in client.get(path).get_data(as_text=True)
    csrf = form_token(client, path)
    differ = client.post(
        path, data={"password": PASSWORD, "password_again": PASSWORD + "x", "csrf_token": csrf}
    )
    assert differ.status_code == 200
    assert "The passwords differ." in differ.get_data(as_text=True)
    joined = client.post(path, data={"password": PASSWORD, "password_again": PASSWORD, "csrf_token": csrf})
    assert joined.status_code == 302
    profile = client.get("/admin/profile").get_data(as_text=True)
    assert "ben@example.com" in profile
    again = client.get(path)
    assert again.status_code == 410
    assert "used already" in again.get_data(as_text=True)
    assert client.get("/admin/invitations/made-up-token").status_code == 410


def test_members_see_no_users_page_and_owners_do(client: FlaskClient, settings: Settings) -> None:
    account = make_account(settings)
    make_user(settings, account, "ana@example.com")
    make_user(settings, account, "ben@example.com", Role.MEMBER)
    sign_in(client, "ben@example.com")
    assert client.get("/admin/users").status_code == 403
    assert 'href="/admin/users"' not in client.get("/admin/profile").get_data(as_text=True)
    client.post("/admin/signout", data={"csrf_token": page_token(client)})
    sign_in(client, "ana@example.com")
    page = client.get("/admin/users")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "ben@example.com" in text
    assert 'href="/admin/users"' in text
