"""The people of an account: passwords, roles, languages, and single-use invitations.

An account always keeps at least one active owner: demoting or disabling the last one is refused.
Refusals raise `UserError` (a ValueError, so the command line ends in one line) with a short
machine-readable `reason`; a missing user or invitation raises LookupError.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from integration.store.models import Account, Invitation, Role, User
from integration.store.types import utcnow

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024  # hashing a megabyte of "password" would be a cheap way to load the server
INVITATION_DAYS = 7
LOCALES = ("en", "pl", "es")


class UserError(ValueError):
    """A change to users or invitations that is refused; `reason` says why, for machines."""

    def __init__(self, reason: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.field = field


@dataclass(frozen=True)
class InvitationState:
    """What an invitation is now: pending, accepted, revoked or expired."""

    invitation: Invitation
    state: str


@cache
def _unknown_hash() -> str:
    # Compared against when no user has the address, so a miss costs as long as a wrong password.
    return generate_password_hash(secrets.token_urlsafe(16))


def digest(token: str) -> str:
    """The SHA-256 digest an invitation token is kept as."""
    return hashlib.sha256(token.encode()).hexdigest()


def normalized_email(email: str) -> str:
    """Return the address lower-cased, or raise UserError when it is not an email address."""
    try:
        checked = validate_email(email.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise UserError("invalid_email", f"not a valid email address: {exc}", "email") from exc
    return checked.normalized.lower()


def _checked_password(password: str, field: str = "password") -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(
            "weak_password", f"the password needs at least {MIN_PASSWORD_LENGTH} characters", field
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise UserError(
            "long_password", f"the password may have at most {MAX_PASSWORD_LENGTH} characters", field
        )
    return password


def _check_free(session: Session, email: str) -> None:
    if session.scalar(select(User.id).where(func.lower(User.email) == email)) is not None:
        raise UserError("email_taken", "a user with this email address exists already", "email")


def create_user(
    session: Session, account_id: int, email: str, password: str, role: Role = Role.MEMBER
) -> User:
    """Create a user of the account with a scrypt hash of the password."""
    if session.get(Account, account_id) is None:
        raise LookupError(f"no account {account_id}")
    address = normalized_email(email)
    _check_free(session, address)
    user = User(
        account_id=account_id,
        email=address,
        password_hash=generate_password_hash(_checked_password(password)),
        role=Role(role),
    )
    session.add(user)
    session.flush()
    return user


def find_user(session: Session, email: str) -> User | None:
    """The user with this address (any case), if there is one."""
    return session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))


def authenticate(session: Session, email: str, password: str) -> User | None:
    """Return the active user with this email and password, else None; a miss costs one hash check too."""
    user = find_user(session, email) if len(email) <= 320 else None
    valid = check_password_hash(
        user.password_hash if user else _unknown_hash(), password[:MAX_PASSWORD_LENGTH]
    )
    if user is None or not valid or user.disabled_at is not None:
        return None
    user.last_sign_in_at = utcnow()
    return user


def change_password(session: Session, user: User, current: str, new: str) -> None:
    """Set a new password after checking the current one; the user's other sessions end."""
    if not check_password_hash(user.password_hash, current[:MAX_PASSWORD_LENGTH]):
        raise UserError("wrong_password", "the current password is not right", "current_password")
    user.password_hash = generate_password_hash(_checked_password(new, "new_password"))
    user.session_version += 1
    session.flush()


def set_locale(session: Session, user: User, locale: str | None) -> None:
    """Choose the admin's language of the user (None: the browser's)."""
    if locale is not None and locale not in LOCALES:
        raise UserError("unknown_locale", f"the language must be one of {', '.join(LOCALES)}", "locale")
    user.locale = locale
    session.flush()


def list_users(session: Session, account_id: int) -> list[User]:
    """The account's users, disabled ones too, in the order they were made."""
    return list(session.scalars(select(User).where(User.account_id == account_id).order_by(User.id)))


def get_user(session: Session, account_id: int, user_id: int) -> User:
    """The account's user with this id, or LookupError."""
    user = session.get(User, user_id)
    if user is None or user.account_id != account_id:
        raise LookupError(f"no user {user_id}")
    return user


def _active_owners(session: Session, account_id: int) -> int:
    return (
        session.scalar(
            select(func.count(User.id)).where(
                User.account_id == account_id, User.role == Role.OWNER, User.disabled_at.is_(None)
            )
        )
        or 0
    )


def _keep_an_owner(session: Session, user: User) -> None:
    if user.role is Role.OWNER and user.disabled_at is None and _active_owners(session, user.account_id) <= 1:
        raise UserError("last_owner", "an account keeps at least one active owner: make another owner first")


def change_role(session: Session, user: User, role: Role) -> None:
    """Make the user an owner or a member; the last active owner stays an owner."""
    role = Role(role)
    if role is not Role.OWNER:
        _keep_an_owner(session, user)
    user.role = role
    session.flush()


def disable_user(session: Session, user: User) -> None:
    """Stop the user signing in; their sessions end. The last active owner cannot be disabled."""
    if user.disabled_at is not None:
        return
    _keep_an_owner(session, user)
    user.disabled_at = utcnow()
    user.session_version += 1
    session.flush()


def enable_user(session: Session, user: User) -> None:
    """Let a disabled user sign in again."""
    user.disabled_at = None
    session.flush()


def invite(
    session: Session, account_id: int, email: str, role: Role = Role.MEMBER, invited_by: int | None = None
) -> tuple[Invitation, str]:
    """Invite a person to the account; return the invitation and its token, shown only this once."""
    if session.get(Account, account_id) is None:
        raise LookupError(f"no account {account_id}")
    address = normalized_email(email)
    _check_free(session, address)
    token = secrets.token_urlsafe(32)
    invitation = Invitation(
        account_id=account_id,
        email=address,
        role=Role(role),
        token_hash=digest(token),
        invited_by=invited_by,
        expires_at=utcnow() + timedelta(days=INVITATION_DAYS),
    )
    session.add(invitation)
    session.flush()
    return invitation, token


def invitation_state(invitation: Invitation, now: datetime | None = None) -> str:
    """Whether the invitation is pending, accepted, revoked or expired."""
    if invitation.accepted_at is not None:
        return "accepted"
    if invitation.revoked_at is not None:
        return "revoked"
    if _aware(invitation.expires_at) <= (now or utcnow()):
        return "expired"
    return "pending"


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; every time stored is UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=utcnow().tzinfo)


def pending_invitation(session: Session, token: str) -> Invitation:
    """The pending invitation of a token, or UserError saying why it cannot be used."""
    invitation = session.scalar(select(Invitation).where(Invitation.token_hash == digest(token)))
    if invitation is None:
        raise UserError("unknown_invitation", "this invitation link is not valid")
    state = invitation_state(invitation)
    if state != "pending":
        told = "has expired" if state == "expired" else f"has been {state} already"
        raise UserError(f"invitation_{state}", f"this invitation {told}")
    return invitation


def accept_invitation(session: Session, token: str, password: str) -> User:
    """Make the invited person a user with this password; the invitation is then spent."""
    invitation = pending_invitation(session, token)
    user = create_user(session, invitation.account_id, invitation.email, password, invitation.role)
    invitation.accepted_at = utcnow()
    session.flush()
    return user


def revoke_invitation(session: Session, account_id: int, invitation_id: int) -> Invitation:
    """Revoke a pending invitation of the account: its link no longer works."""
    invitation = session.get(Invitation, invitation_id)
    if invitation is None or invitation.account_id != account_id:
        raise LookupError(f"no invitation {invitation_id}")
    if invitation.accepted_at is not None:
        raise UserError("invitation_accepted", "this invitation has been accepted already")
    if invitation.revoked_at is None:
        invitation.revoked_at = utcnow()
    session.flush()
    return invitation


def list_invitations(session: Session, account_id: int) -> list[InvitationState]:
    """The account's invitations with their state, newest first."""
    now = utcnow()
    rows = session.scalars(
        select(Invitation).where(Invitation.account_id == account_id).order_by(Invitation.id.desc())
    )
    return [InvitationState(row, invitation_state(row, now)) for row in rows]
