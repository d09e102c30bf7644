"""the inbox records when a delivery's signature was verified on receipt

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03

Deliveries already stored keep no such record (null): nothing tells a SendGrid delivery verified on
receipt from one stored unsigned by a version that did not require a key, so a SendGrid delivery
still pending at the upgrade is not processed (it fails with the reason).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import integration.store.types

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbox", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "signature_verified_at", integration.store.types.UTCDateTime(timezone=True), nullable=True
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("inbox", schema=None) as batch_op:
        batch_op.drop_column("signature_verified_at")
