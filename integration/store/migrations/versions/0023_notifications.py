"""notifications and who has read them

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-03

What happened that the account's people should know (an export ready, a sync stopped...), for one
user or for everyone, and each reader's having read it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import integration.store.types

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "kind",
            sa.Enum(
                "export_ready",
                "export_failed",
                "sync_stopped",
                "import_finished",
                "import_failed",
                "store_disconnected",
                "job_failed",
                name="notificationkind",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        sa.Column("created_at", integration.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_notifications_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_notifications_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_notifications_account_id_id"), ["account_id", "id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_notifications_account_id_kind_subject"),
            ["account_id", "kind", "subject"],
            unique=False,
        )

    op.create_table(
        "notification_reads",
        sa.Column("notification_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("reader", sa.String(length=80), nullable=False),
        sa.Column("read_at", integration.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["notifications.id"],
            name=op.f("fk_notification_reads_notification_id_notifications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("notification_id", "reader", name=op.f("pk_notification_reads")),
    )
    with op.batch_alter_table("segment_exports", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("requested_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True)
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_segment_exports_requested_by_users"),
            "users",
            ["requested_by"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("segment_exports", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_segment_exports_requested_by_users"), type_="foreignkey")
        batch_op.drop_column("requested_by")
    op.drop_table("notification_reads")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notifications_account_id_kind_subject"))
        batch_op.drop_index(batch_op.f("ix_notifications_account_id_id"))

    op.drop_table("notifications")
