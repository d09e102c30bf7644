"""sync runs and delivery state

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import integration.store.types

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sync_runs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("sync_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("started_at", integration.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", integration.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("adds", sa.Integer(), nullable=False),
        sa.Column("updates", sa.Integer(), nullable=False),
        sa.Column("removes", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column(
            "errors",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["sync_id"], ["syncs.id"], name=op.f("fk_sync_runs_sync_id_syncs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_runs")),
    )
    with op.batch_alter_table("sync_runs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sync_runs_sync_id_started_at"), ["sync_id", "started_at"], unique=False
        )

    with op.batch_alter_table("sync_states", schema=None) as batch_op:
        batch_op.add_column(sa.Column("member", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("address", sa.String(length=320), nullable=True))
        batch_op.add_column(sa.Column("remote_id", sa.String(length=128), nullable=True))

    with op.batch_alter_table("syncs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "config",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                server_default="{}",
                nullable=False,
            )
        )
        batch_op.add_column(sa.Column("status", sa.String(length=16), server_default="idle", nullable=False))
        batch_op.add_column(
            sa.Column("run_started_at", integration.store.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("last_error", sa.Text(), nullable=True))
        batch_op.create_index(batch_op.f("ix_syncs_account_id"), ["account_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("syncs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_syncs_account_id"))
        batch_op.drop_column("last_error")
        batch_op.drop_column("run_started_at")
        batch_op.drop_column("status")
        batch_op.drop_column("config")

    with op.batch_alter_table("sync_states", schema=None) as batch_op:
        batch_op.drop_column("remote_id")
        batch_op.drop_column("address")
        batch_op.drop_column("member")

    with op.batch_alter_table("sync_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sync_runs_sync_id_started_at"))

    op.drop_table("sync_runs")
