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

Existing rows: where no order decided the checkout, its completion time is the platform's. A report
dropped before this migration cannot be recovered; the platform's next version of that checkout
brings it back.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from integration.store.types import UTCDateTime

revision = "0034"
down_revision = "0033"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("checkouts", sa.Column("platform_completed_at", UTCDateTime(timezone=True), nullable=True))
    checkouts = sa.table(
        "checkouts",
        sa.column("completed_at", UTCDateTime(timezone=True)),
        sa.column("platform_completed_at", UTCDateTime(timezone=True)),
        sa.column("recovery_rule", sa.String(32)),
    )
    op.execute(
        checkouts.update()
        .where(checkouts.c.completed_at.is_not(None), checkouts.c.recovery_rule.is_(None))
        .values(platform_completed_at=checkouts.c.completed_at)
    )


def downgrade() -> None:
    with op.batch_alter_table("checkouts") as batch:
        batch.drop_column("platform_completed_at")
