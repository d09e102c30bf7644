"""subscription transitions

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import integration.store.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subscription_transitions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("contact_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "from_status",
            sa.Enum(
                "subscribed",
                "unknown",
                "unsubscribed",
                name="subscriptionstatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "to_status",
            sa.Enum(
                "subscribed",
                "unknown",
                "unsubscribed",
                name="subscriptionstatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("changed_at", integration.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("at", integration.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_subscription_transitions_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_subscription_transitions_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscription_transitions")),
    )
    op.create_index(
        op.f("ix_subscription_transitions_account_id_at"),
        "subscription_transitions",
        ["account_id", "at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_subscription_transitions_contact_id"),
        "subscription_transitions",
        ["contact_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_subscription_transitions_contact_id"), table_name="subscription_transitions")
    op.drop_index(op.f("ix_subscription_transitions_account_id_at"), table_name="subscription_transitions")
    op.drop_table("subscription_transitions")
