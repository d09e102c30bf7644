"""a backfill stage read page by page keeps the next page to read and how many there are

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-05

Shopify's backfill is one bulk read per stage; WooCommerce's REST API is read a page at a time.
A stage then records the next page to read (so a stopped worker's successor goes on from there,
neither losing nor repeating a page's writes) and the collection's page count as the platform last
said it (the admin's progress). Both stay empty for bulk reads.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Added in place: rebuilding `backfills` on SQLite is not needed for nullable columns.
    op.add_column("backfills", sa.Column("page", sa.Integer(), nullable=True))
    op.add_column("backfills", sa.Column("pages", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("backfills", "pages")
    op.drop_column("backfills", "page")
