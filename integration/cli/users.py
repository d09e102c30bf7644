"""`storepulse users`: people who sign in to the standalone admin, and their invitations."""

from __future__ import annotations

import sys

import click

from integration import users
from integration.cli.common import emit, json_option, opened, read_settings
from integration.store.models import Role

ROLE = click.Choice([role.value for role in Role])


@click.group("users")
def users_group() -> None:
    """Users of the standalone admin."""


def _password(from_stdin: bool) -> str:
    """The new user's password: the first line of standard input, or asked twice."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


@users_group.command("create")
@click.argument("account_id", type=int)
@click.argument("email")
@click.option("--role", type=ROLE, default=Role.OWNER.value, show_default=True)
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from the first line of standard input."
)
@json_option
def users_create(account_id: int, email: str, role: str, password_stdin: bool, as_json: bool) -> None:
    """Create a user who signs in with email and password (how the first owner is made)."""
    password = _password(password_stdin)
    with opened(read_settings()) as session:
        user = users.create_user(session, account_id, email, password, Role(role))
        data = {"id": user.id, "account_id": account_id, "email": user.email, "role": user.role.value}
    emit(as_json, data, f"user {data['id']} created: {data['email']} ({data['role']})")


@users_group.command("list")
@click.argument("account_id", type=int)
@json_option
def users_list(account_id: int, as_json: bool) -> None:
    """List the account's users."""
    with opened(read_settings()) as session:
        rows = [
            {
                "id": u.id,
                "email": u.email,
                "role": u.role.value,
                "last_sign_in_at": u.last_sign_in_at,
                "disabled": u.disabled_at is not None,
            }
            for u in users.list_users(session, account_id)
        ]
    lines = [
        f"{r['id']}\t{r['email']}\t{r['role']}\t{r['last_sign_in_at'] or 'never'}"
        + ("\tdisabled" if r["disabled"] else "")
        for r in rows
    ]
    emit(as_json, rows, "\n".join(lines) or "no users")


@users_group.command("invite")
@click.argument("account_id", type=int)
@click.argument("email")
@click.option("--role", type=ROLE, default=Role.MEMBER.value, show_default=True)
@json_option
def users_invite(account_id: int, email: str, role: str, as_json: bool) -> None:
    """Invite a person; prints the single-use link (valid for 7 days), shown only this once."""
    settings = read_settings()
    with opened(settings) as session:
        invitation, token = users.invite(session, account_id, email, Role(role))
        url = f"{settings.app_url.rstrip('/')}/admin/invitations/{token}"
        data = {
            "id": invitation.id,
            "email": invitation.email,
            "role": invitation.role.value,
            "url": url,
            "expires_at": invitation.expires_at,
        }
    emit(as_json, data, f"{url}\n(send it to {data['email']}; it works once and is not shown again)")


@users_group.command("disable")
@click.argument("email")
@json_option
def users_disable(email: str, as_json: bool) -> None:
    """Stop a user signing in (an account's last active owner stays)."""
    with opened(read_settings()) as session:
        user = users.find_user(session, email)
        if user is None:
            raise LookupError(f"no user {email.strip().lower()}")
        users.disable_user(session, user)
        data = {"id": user.id, "email": user.email, "disabled_at": user.disabled_at}
    emit(as_json, data, f"user {data['email']} disabled")
