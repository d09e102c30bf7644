"""removal markers; one data export per data request

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03

Exports made twice for one request (before this revision) keep the first one.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import integration.store.types

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "removals",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("store_id", BIG_ID, nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "customer", "order", name="removalkind", native_enum=False, create_constraint=False, length=32
            ),
            nullable=False,
        ),
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column(
            "reason",
            sa.Enum(
                "deleted",
                "redacted",
                name="removalreason",
                native_enum=False,
                create_constraint=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("removed_at", integration.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", integration.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.id"], name=op.f("fk_removals_store_id_stores"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_removals")),
        sa.UniqueConstraint(
            "store_id", "kind", "external_id", name=op.f("uq_removals_store_id_kind_external_id")
        ),
    )
    exports = sa.table(
        "data_exports", sa.column("id", BIG_ID), sa.column("store_id", BIG_ID), sa.column("request_id")
    )
    first = (
        sa.select(sa.func.min(exports.c.id))
        .where(exports.c.request_id.is_not(None))
        .group_by(exports.c.store_id, exports.c.request_id)
    )
    op.execute(
        exports.delete().where(
            exports.c.request_id.is_not(None), exports.c.id.not_in(first.scalar_subquery())
        )
    )
    with op.batch_alter_table("data_exports", schema=None) as batch_op:
        batch_op.create_unique_constraint(
            batch_op.f("uq_data_exports_store_id_request_id"), ["store_id", "request_id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("data_exports", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_data_exports_store_id_request_id"), type_="unique")
    op.drop_table("removals")
