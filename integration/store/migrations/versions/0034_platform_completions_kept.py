"""a checkout keeps the time the platform reported it completed, apart from what became of it

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-07

`checkouts.completed_at` is the outcome: when the checkout was completed, by the platform's word or
by the order that completed it. The platform's own report was written there only while no order
had decided the checkout, so a report arriving after a token-less order had recovered the cart by
a shared product was dropped, and the cart stayed recovered; arriving first, it kept the product
rule away. What became of the cart depended on the processing order. `platform_completed_at`
keeps the report whatever else is stored, and the carts are settled from it.

Existing rows: where no order's rule decided the checkout, its completion time is the platform's,
unless an order naming the checkout was placed at that very time (earlier versions completed
checkouts by their orders without recording the rule). A report dropped before this migration
cannot be recovered; the platform's next version of that checkout brings it back.
"""

from __future__ import annotations

import sqlite3

import sqlalchemy as sa
from alembic import op

from integration.store.types import UTCDateTime

revision = "0034"
down_revision = "0033"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("checkouts", sa.Column("platform_completed_at", UTCDateTime(timezone=True), nullable=True))
    # A completion no order's rule was recorded for, and that no order naming the checkout placed at
    # that very time explains (earlier versions recorded such completions without their rule).
    op.execute(
        """
        UPDATE checkouts SET platform_completed_at = completed_at
        WHERE completed_at IS NOT NULL AND recovery_rule IS NULL
          AND NOT EXISTS (
            SELECT 1 FROM orders
            WHERE orders.store_id = checkouts.store_id
              AND (orders.checkout_token = checkouts.token OR orders.cart_token = checkouts.cart_token)
              AND coalesce(orders.processed_at, orders.created_at) = checkouts.completed_at
          )
        """
    )


def downgrade() -> None:
    # Not a batch rebuild on SQLite: dropping the old table would delete the checkouts' line items
    # through their foreign key (SQLite 3.35 and later drop a column in place, as PostgreSQL does).
    if op.get_bind().dialect.name == "sqlite" and sqlite3.sqlite_version_info < (3, 35, 0):
        raise RuntimeError(f"going below 0034 needs SQLite 3.35 or later, not {sqlite3.sqlite_version}")
    op.execute("ALTER TABLE checkouts DROP COLUMN platform_completed_at")
