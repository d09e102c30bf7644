"""indexes for the contact list's orders

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-04

The contact list pages through an account's contacts by latest interaction or by first seen, each
with the id as tie-breaker: these indexes give those orders, so a page reads its rows and no more.
"""

from __future__ import annotations

from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_contacts_account_id_last_interaction_at_id", ["account_id", "last_interaction_at", "id"]
        )
        batch_op.create_index(
            "ix_contacts_account_id_first_seen_at_id", ["account_id", "first_seen_at", "id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index("ix_contacts_account_id_first_seen_at_id")
        batch_op.drop_index("ix_contacts_account_id_last_interaction_at_id")
