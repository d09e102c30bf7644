"""imports count the records already stored as they are (duplicates) apart from older ones

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03

Imports finished before keep 0: they counted duplicates among `records_unchanged`.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("imports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("records_duplicate", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("imports", schema=None) as batch_op:
        batch_op.drop_column("records_duplicate")
