"""the RFM computation's sums, kept per account

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-04

The RFM overview and its R×F grid are sums over every buyer's scores: computed once with the
scores (by the job) and kept, so the API and the admin page read a few sums instead of scanning a
million scores on every request.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import integration.store.types

# Numbered after main's 0025 (contact search trigrams), made alongside: merged, it revises 0025.
revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rfm_summaries",
        sa.Column("account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("computed_at", integration.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_rfm_summaries_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_rfm_summaries")),
    )


def downgrade() -> None:
    op.drop_table("rfm_summaries")
