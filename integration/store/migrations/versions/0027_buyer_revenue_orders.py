"""each buyer's revenue orders over its currencies, indexed: the `orders_count` filter reads one row

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-04

The segment filter `orders_count` counts revenue orders (not cancelled, voided or refunded) in every
currency. It summed each contact's per-currency totals, one lookup per contact: seconds at a million
contacts. The sum is now kept on the buyer's row beside its placed orders, with an index per account.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

BACKFILL = """
UPDATE buyers SET revenue_orders = (
    SELECT coalesce(sum(contact_totals.revenue_orders), 0)
    FROM contact_totals WHERE contact_totals.contact_id = buyers.contact_id
)
"""


def upgrade() -> None:
    with op.batch_alter_table("buyers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revenue_orders", sa.Integer(), nullable=False, server_default="0"))
    op.execute(BACKFILL)
    with op.batch_alter_table("buyers", schema=None) as batch_op:
        batch_op.alter_column("revenue_orders", server_default=None)
        batch_op.create_index(
            batch_op.f("ix_buyers_account_id_revenue_orders"), ["account_id", "revenue_orders"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("buyers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_buyers_account_id_revenue_orders"))
        batch_op.drop_column("revenue_orders")
