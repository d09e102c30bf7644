"""rfm scores and period spend

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import integration.store.types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "contact_period_spend",
        sa.Column("account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("store_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("contact_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("purchases", sa.Integer(), nullable=False),
        sa.Column("revenue_orders", sa.Integer(), nullable=False),
        sa.Column("revenue", integration.store.types.Money(precision=18, scale=4), nullable=False),
        sa.Column("average", integration.store.types.Money(precision=18, scale=4), nullable=False),
        sa.Column("last_order_at", integration.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_contact_period_spend_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_contact_period_spend_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "account_id", "store_id", "period", "currency", "contact_id", name=op.f("pk_contact_period_spend")
        ),
    )
    with op.batch_alter_table("contact_period_spend", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_contact_period_spend_account_id_store_id_period_currency_average"),
            ["account_id", "store_id", "period", "currency", "average"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_contact_period_spend_account_id_store_id_period_currency_purchases"),
            ["account_id", "store_id", "period", "currency", "purchases"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_contact_period_spend_account_id_store_id_period_currency_revenue"),
            ["account_id", "store_id", "period", "currency", "revenue"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_contact_period_spend_contact_id"), ["contact_id"], unique=False)

    op.create_table(
        "rfm_scores",
        sa.Column("contact_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("last_order_at", integration.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("frequency", sa.Integer(), nullable=False),
        sa.Column("monetary", integration.store.types.Money(precision=18, scale=4), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("r", sa.Integer(), nullable=False),
        sa.Column("f", sa.Integer(), nullable=False),
        sa.Column("m", sa.Integer(), nullable=False),
        sa.Column("segment", sa.String(length=60), nullable=False),
        sa.Column("spender_tier", sa.String(length=20), nullable=False),
        sa.Column("frequent_buyer", sa.Boolean(), nullable=False),
        sa.Column("computed_at", integration.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("contact_id", name=op.f("pk_rfm_scores")),
    )
    with op.batch_alter_table("rfm_scores", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_rfm_scores_account_id_segment"), ["account_id", "segment"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_rfm_scores_account_id_spender_tier"), ["account_id", "spender_tier"], unique=False
        )

    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "rfm_scheme",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column(
                "rfm_cuts",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column("rfm_computed_at", integration.store.types.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("rfm_computed_at")
        batch_op.drop_column("rfm_cuts")
        batch_op.drop_column("rfm_scheme")

    with op.batch_alter_table("rfm_scores", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rfm_scores_account_id_spender_tier"))
        batch_op.drop_index(batch_op.f("ix_rfm_scores_account_id_segment"))

    op.drop_table("rfm_scores")
    with op.batch_alter_table("contact_period_spend", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contact_period_spend_contact_id"))
        batch_op.drop_index(batch_op.f("ix_contact_period_spend_account_id_store_id_period_currency_revenue"))
        batch_op.drop_index(
            batch_op.f("ix_contact_period_spend_account_id_store_id_period_currency_purchases")
        )
        batch_op.drop_index(batch_op.f("ix_contact_period_spend_account_id_store_id_period_currency_average"))

    op.drop_table("contact_period_spend")
