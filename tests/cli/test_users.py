"""`storepulse users`: the first owner, listing, invitation links and disabling from the command line."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner

from integration.cli import cli
from integration.settings import Settings
from integration.store import session_scope
from integration.users import accept_invitation, authenticate
from tests.support.users import PASSWORD, make_account


@pytest.fixture
def invoke(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr("integration.cli.common.get_settings", lambda: settings)
    runner = CliRunner()

    def run(*args: str, stdin: str | None = None) -> Any:
        return runner.invoke(cli, list(args), input=stdin)

    return run


def test_the_first_owner_is_made_with_a_password_typed_twice(invoke: Any, settings: Settings) -> None:
    account = make_account(settings)
    made = invoke(
        "users", "create", str(account), "Ana@Example.com", "--json", stdin=f"{PASSWORD}\n{PASSWORD}\n"
    )
    assert made.exit_code == 0, made.output
    data = json.loads(made.output[made.output.index("{") :])
    assert (data["email"], data["role"], data["account_id"]) == ("ana@example.com", "owner", account)
    assert PASSWORD not in made.output
    with session_scope(settings.database_url) as session:
        assert authenticate(session, "ana@example.com", PASSWORD) is not None


def test_a_password_from_stdin_and_the_refusals_in_one_line(invoke: Any, settings: Settings) -> None:
    account = make_account(settings)
    made = invoke(
        "users",
        "create",
        str(account),
        "ben@example.com",
        "--role",
        "member",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert made.exit_code == 0, made.output
    assert "ben@example.com (member)" in made.output
    short = invoke("users", "create", str(account), "cy@example.com", "--password-stdin", stdin="short\n")
    assert short.exit_code == 1
    assert "at least 10 characters" in short.output
    taken = invoke(
        "users", "create", str(account), "BEN@example.com", "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert "exists already" in taken.output
    listed = json.loads(invoke("users", "list", str(account), "--json").output)
    assert [(u["email"], u["role"], u["disabled"]) for u in listed] == [("ben@example.com", "member", False)]


def test_an_invitation_link_is_printed_once_and_works(invoke: Any, settings: Settings) -> None:
    account = make_account(settings)
    printed = invoke("users", "invite", str(account), "cy@example.com", "--role", "owner")
    assert printed.exit_code == 0, printed.output
    url = printed.output.splitlines()[0]
    prefix = f"{settings.app_url}/admin/invitations/"
    assert url.startswith(prefix)
    with session_scope(settings.database_url) as session:
        user = accept_invitation(session, url.removeprefix(prefix), PASSWORD)
        assert user.role.value == "owner"


def test_disabling_keeps_the_last_owner(invoke: Any, settings: Settings) -> None:
    account = make_account(settings)
    for email, role in (("ana@example.com", "owner"), ("ben@example.com", "member")):
        invoke(
            "users", "create", str(account), email, "--role", role, "--password-stdin", stdin=PASSWORD + "\n"
        )
    last = invoke("users", "disable", "ana@example.com")
    assert last.exit_code == 1
    assert "at least one active owner" in last.output
    assert invoke("users", "disable", "BEN@example.com").exit_code == 0
    assert invoke("users", "disable", "nobody@example.com").exit_code == 1
    assert "disabled" in invoke("users", "list", str(account)).output.splitlines()[1]
