"""Users of the standalone admin for tests: made in the store, signed in through the real form."""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from integration.accounts import create_account
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import Role
from integration.users import create_user

PASSWORD = "correct horse battery"
FORM_TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
PAGE_TOKEN = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


@dataclass(frozen=True)
class Person:
    id: int
    account_id: int
    email: str


def make_account(settings: Settings, name: str = "Corner Shop") -> int:
    with session_scope(settings.database_url) as session:
        return create_account(session, name).id


def make_user(settings: Settings, account_id: int, email: str, role: Role = Role.OWNER) -> Person:
    with session_scope(settings.database_url) as session:
        user = create_user(session, account_id, email, PASSWORD, role)
        return Person(user.id, account_id, user.email)


def form_token(client: FlaskClient, path: str = "/admin/signin") -> str:
    """The CSRF token of the form on `path`."""
    found = FORM_TOKEN.search(client.get(path).get_data(as_text=True))
    assert found is not None
    return found.group(1)


def sign_in(client: FlaskClient, email: str, password: str = PASSWORD, **environ: str) -> TestResponse:
    """Post the sign-in form as a browser would (with the form's CSRF token)."""
    token = form_token(client)
    return client.post(
        "/admin/signin",
        data={"email": email, "password": password, "csrf_token": token},
        environ_base=environ,
    )


def page_token(client: FlaskClient) -> str:
    """The CSRF token a signed-in page gives admin.js for its fetches."""
    found = PAGE_TOKEN.search(client.get("/admin/profile").get_data(as_text=True))
    assert found is not None
    return found.group(1)
