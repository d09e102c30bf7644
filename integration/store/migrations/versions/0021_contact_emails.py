"""contacts' earlier email addresses, kept so that a contact is still found by them

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03

Addresses replaced before this revision are not known; changes from now on are kept.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import integration.store.types

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "contact_emails",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("contact_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("first_seen_at", integration.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("replaced_at", integration.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_contact_emails_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_contact_emails_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_emails")),
        sa.UniqueConstraint("account_id", "email", name=op.f("uq_contact_emails_account_id_email")),
    )
    op.create_index(op.f("ix_contact_emails_contact_id"), "contact_emails", ["contact_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_contact_emails_contact_id"), table_name="contact_emails")
    op.drop_table("contact_emails")
