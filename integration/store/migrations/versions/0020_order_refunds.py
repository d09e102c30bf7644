"""order refunds, and each order's refunded amount kept beside its total

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03

Orders already stored start with nothing refunded; refunds delivered from now on (or read again by
a backfill) bring them down.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import integration.store.types

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "order_refunds",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("store_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column("order_external_id", sa.String(length=64), nullable=False),
        sa.Column("amount", integration.store.types.Money(precision=18, scale=4), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("created_at", integration.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ingested_at", integration.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.id"], name=op.f("fk_order_refunds_store_id_stores"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_refunds")),
        sa.UniqueConstraint("store_id", "external_id", name=op.f("uq_order_refunds_store_id_external_id")),
    )
    op.create_index(
        op.f("ix_order_refunds_store_id_order_external_id"),
        "order_refunds",
        ["store_id", "order_external_id"],
        unique=False,
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "total_refunded",
                integration.store.types.Money(precision=18, scale=4),
                server_default="0",
                nullable=False,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("total_refunded")
    op.drop_index(op.f("ix_order_refunds_store_id_order_external_id"), table_name="order_refunds")
    op.drop_table("order_refunds")
