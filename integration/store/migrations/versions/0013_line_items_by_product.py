"""order line items indexed by product id and by SKU (the bought-product filter)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("order_line_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_order_line_items_product_id"), ["product_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_order_line_items_sku"), ["sku"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("order_line_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_order_line_items_sku"))
        batch_op.drop_index(batch_op.f("ix_order_line_items_product_id"))
