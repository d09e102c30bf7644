"""a send records whether it overrode the frequency cap

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("campaign_sends", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("frequency_cap_overridden", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("campaign_sends", schema=None) as batch_op:
        batch_op.drop_column("frequency_cap_overridden")
