"""a bulk import notes the buyers whose orders it wrote; their rows are recomputed once, at its end

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-05

An import's batches used to recompute each touched buyer's totals and leaderboard rows from all
of its orders, batch after batch: a buyer with orders in many batches was recomputed as often. The
batches now note the buyers in `buyer_notes` (in the transaction that wrote the orders) and the
import folds the notes in when it ends; the scheduler folds what an import left behind.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None


def upgrade() -> None:
    big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "buyer_notes",
        sa.Column("id", big_id, autoincrement=True, nullable=False),
        sa.Column("account_id", big_id, nullable=False),
        sa.Column("contact_id", big_id, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_buyer_notes_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_buyer_notes")),
    )
    with op.batch_alter_table("buyer_notes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_buyer_notes_account_id_contact_id"), ["account_id", "contact_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("buyer_notes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_buyer_notes_account_id_contact_id"))
    op.drop_table("buyer_notes")
