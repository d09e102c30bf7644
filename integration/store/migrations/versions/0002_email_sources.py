"""email sources

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import integration.store.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "email_sources",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("sendgrid", "mailchimp", name="emailtool", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=True),
        sa.Column("verification_key", sa.Text(), nullable=True),
        sa.Column("created_at", integration.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_delivery_at", integration.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_email_sources_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_sources")),
    )
    op.create_index(op.f("ix_email_sources_account_id"), "email_sources", ["account_id"], unique=False)
    # Batch mode: SQLite adds a foreign key only by rebuilding the table.
    with op.batch_alter_table("inbox") as batch:
        batch.add_column(
            sa.Column("email_source_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True)
        )
        batch.create_foreign_key(
            op.f("fk_inbox_email_source_id_email_sources"),
            "email_sources",
            ["email_source_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("inbox") as batch:
        batch.drop_constraint(op.f("fk_inbox_email_source_id_email_sources"), type_="foreignkey")
        batch.drop_column("email_source_id")
    op.drop_index(op.f("ix_email_sources_account_id"), table_name="email_sources")
    op.drop_table("email_sources")
