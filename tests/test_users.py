"""People of an account: passwords, roles, invitations, and the account's last owner."""

from __future__ import annotations

from datetime import timedelta

import pytest

from integration import users
from integration.accounts import create_account
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import Invitation, Role, User
from integration.store.types import utcnow
from tests.support.users import PASSWORD


@pytest.fixture
def account(settings: Settings) -> int:
    with session_scope(settings.database_url) as session:
        return create_account(session, "Corner Shop").id


def test_a_user_signs_in_with_the_address_in_any_case_and_a_scrypt_hash(
    settings: Settings, account: int
) -> None:
    with session_scope(settings.database_url) as session:
        made = users.create_user(session, account, " Ana@Example.COM ", PASSWORD, Role.OWNER)
        assert made.email == "ana@example.com"
        assert made.password_hash.startswith("scrypt:")
        assert PASSWORD not in made.password_hash
    with session_scope(settings.database_url) as session:
        found = users.authenticate(session, "ANA@example.com", PASSWORD)
        assert found is not None
        assert found.last_sign_in_at is not None
        assert users.authenticate(session, "ana@example.com", PASSWORD + "!") is None
        assert users.authenticate(session, "nobody@example.com", PASSWORD) is None


@pytest.mark.parametrize(
    ("email", "password", "reason"),
    [
        ("not-an-address", PASSWORD, "invalid_email"),
        ("cy@example.com", "short", "weak_password"),
        ("ANA@example.com", PASSWORD, "email_taken"),
    ],
)
def test_a_user_needs_a_valid_free_address_and_a_long_password(
    settings: Settings, account: int, email: str, password: str, reason: str
) -> None:
    with session_scope(settings.database_url) as session:
        users.create_user(session, account, "ana@example.com", PASSWORD)
    with session_scope(settings.database_url) as session, pytest.raises(users.UserError) as refused:
        users.create_user(session, account, email, password)
    assert refused.value.reason == reason


def test_a_disabled_user_cannot_sign_in(settings: Settings, account: int) -> None:
    with session_scope(settings.database_url) as session:
        users.create_user(session, account, "ana@example.com", PASSWORD, Role.OWNER)
        member = users.create_user(session, account, "ben@example.com", PASSWORD)
        users.disable_user(session, member)
    with session_scope(settings.database_url) as session:
        assert users.authenticate(session, "ben@example.com", PASSWORD) is None


def test_changing_the_password_needs_the_current_one_and_ends_other_sessions(
    settings: Settings, account: int
) -> None:
    with session_scope(settings.database_url) as session:
        user = users.create_user(session, account, "ana@example.com", PASSWORD)
        with pytest.raises(users.UserError, match="current password"):
            users.change_password(session, user, "wrong password", "a new long password")
        assert user.session_version == 1
        users.change_password(session, user, PASSWORD, "a new long password")
        assert user.session_version == 2
    with session_scope(settings.database_url) as session:
        assert users.authenticate(session, "ana@example.com", PASSWORD) is None
        assert users.authenticate(session, "ana@example.com", "a new long password") is not None


def test_the_language_is_one_of_the_admins(settings: Settings, account: int) -> None:
    with session_scope(settings.database_url) as session:
        user = users.create_user(session, account, "ana@example.com", PASSWORD)
        users.set_locale(session, user, "pl")
        assert user.locale == "pl"
        with pytest.raises(users.UserError):
            users.set_locale(session, user, "de")


def test_the_last_active_owner_can_be_neither_demoted_nor_disabled(settings: Settings, account: int) -> None:
    with session_scope(settings.database_url) as session:
        owner = users.create_user(session, account, "ana@example.com", PASSWORD, Role.OWNER)
        for change in (
            lambda: users.change_role(session, owner, Role.MEMBER),
            lambda: users.disable_user(session, owner),
        ):
            with pytest.raises(users.UserError) as refused:
                change()
            assert refused.value.reason == "last_owner"
        second = users.create_user(session, account, "ben@example.com", PASSWORD, Role.MEMBER)
        users.change_role(session, second, Role.OWNER)
        users.disable_user(session, owner)  # another owner is left
        assert owner.disabled_at is not None
        with pytest.raises(users.UserError):
            users.change_role(session, second, Role.MEMBER)
        assert second.role is Role.OWNER


def test_an_invitation_works_once_and_keeps_only_a_digest(settings: Settings, account: int) -> None:
    with session_scope(settings.database_url) as session:
        invitation, token = users.invite(session, account, "Ben@example.com", Role.MEMBER)
        assert invitation.token_hash == users.digest(token) != token
        days = users._aware(invitation.expires_at) - utcnow()
        assert timedelta(days=6, hours=23) < days <= timedelta(days=7)
    with session_scope(settings.database_url) as session:
        user = users.accept_invitation(session, token, PASSWORD)
        assert (user.email, user.role, user.account_id) == ("ben@example.com", Role.MEMBER, account)
    with session_scope(settings.database_url) as session, pytest.raises(users.UserError) as refused:
        users.accept_invitation(session, token, PASSWORD)
    assert refused.value.reason == "invitation_accepted"
    with session_scope(settings.database_url) as session, pytest.raises(users.UserError) as unknown:
        users.accept_invitation(session, token + "x", PASSWORD)
    assert unknown.value.reason == "unknown_invitation"


def test_an_expired_or_revoked_invitation_is_refused(settings: Settings, account: int) -> None:
    with session_scope(settings.database_url) as session:
        expired, old = users.invite(session, account, "old@example.com")
        expired.expires_at = utcnow() - timedelta(seconds=1)
        revoked, gone = users.invite(session, account, "gone@example.com")
        users.revoke_invitation(session, account, revoked.id)
    for token, reason in ((old, "invitation_expired"), (gone, "invitation_revoked")):
        with session_scope(settings.database_url) as session, pytest.raises(users.UserError) as refused:
            users.accept_invitation(session, token, PASSWORD)
        assert refused.value.reason == reason
    with session_scope(settings.database_url) as session:
        states = {i.invitation.email: i.state for i in users.list_invitations(session, account)}
        assert states == {"old@example.com": "expired", "gone@example.com": "revoked"}
        assert session.query(User).count() == 0
        assert session.query(Invitation).count() == 2


def test_an_invitation_of_another_account_cannot_be_revoked(settings: Settings, account: int) -> None:
    with session_scope(settings.database_url) as session:
        other = create_account(session, "Other").id
        invitation, _token = users.invite(session, other, "ben@example.com")
        with pytest.raises(LookupError):
            users.revoke_invitation(session, account, invitation.id)
        assert invitation.revoked_at is None
