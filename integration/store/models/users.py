"""People who sign in to the standalone admin, and the single-use invitations that bring them in."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from integration.store.models.base import Base, BigID, state
from integration.store.types import utcnow


class Role(StrEnum):
    """What a user may do: owners manage users, API keys and destinations; members the rest."""

    OWNER = "owner"
    MEMBER = "member"


class User(Base):
    """A person of one account, signing in with email and password (a Werkzeug scrypt hash)."""

    __tablename__ = "users"
    __table_args__ = (Index(None, "account_id"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    account_id: Mapped[int] = mapped_column(BigID, ForeignKey("accounts.id", ondelete="CASCADE"))
    # Kept lower-cased: one person, one address, across all accounts.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(state(Role, 16), default=Role.MEMBER)
    # The language the user chose for the admin (en, pl, es); None: the browser's.
    locale: Mapped[str | None] = mapped_column(String(16))
    # The user's choices on the admin's pages (columns shown, their order), by page.
    preferences: Mapped[dict[str, Any] | None]
    # Changed with the password: sessions signed in before a password change end.
    session_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_sign_in_at: Mapped[datetime | None]
    disabled_at: Mapped[datetime | None]


class Invitation(Base):
    """A single-use link that lets a person join an account; only its SHA-256 digest is kept."""

    __tablename__ = "invitations"
    __table_args__ = (Index(None, "account_id"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    account_id: Mapped[int] = mapped_column(BigID, ForeignKey("accounts.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[Role] = mapped_column(state(Role, 16), default=Role.MEMBER)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by: Mapped[int | None] = mapped_column(BigID, ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
