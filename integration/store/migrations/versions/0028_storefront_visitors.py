"""storefront visitors and the interactions they make before they are tied to a contact

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-04

The Shopify pixel and the tracking snippet report a browser (Shopify's clientId, the snippet's own
id) rather than a person. A visitor is tied to a contact when one of its events names a customer or
a checkout the store knows; until then its product views and add-to-carts wait in `visitor_events`
and are counted on the contact when the tie is made.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import integration.store.types

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None

big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
when = integration.store.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "visitors",
        sa.Column("id", big_id, nullable=False),
        sa.Column("store_id", big_id, nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("contact_id", big_id, nullable=True),
        sa.Column("tied_by", sa.String(length=16), nullable=True),
        sa.Column("tied_at", when, nullable=True),
        sa.Column("customer_ref", sa.String(length=100), nullable=True),
        sa.Column("checkout_token", sa.String(length=100), nullable=True),
        sa.Column("first_seen_at", when, nullable=False),
        sa.Column("last_seen_at", when, nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_visitors_contact_id_contacts"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.id"], name=op.f("fk_visitors_store_id_stores"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visitors")),
        sa.UniqueConstraint("store_id", "key", name=op.f("uq_visitors_store_id_key")),
    )
    with op.batch_alter_table("visitors", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_visitors_last_seen_at"), ["last_seen_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_visitors_store_id_checkout_token"), ["store_id", "checkout_token"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_visitors_store_id_customer_ref"), ["store_id", "customer_ref"], unique=False
        )
    op.create_table(
        "visitor_events",
        sa.Column("id", big_id, nullable=False),
        sa.Column("store_id", big_id, nullable=False),
        sa.Column("visitor_id", big_id, nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("occurred_at", when, nullable=False),
        sa.Column("dedupe_key", sa.String(length=255), nullable=False),
        sa.Column("product_id", sa.String(length=64), nullable=True),
        sa.Column(
            "attributes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.id"], name=op.f("fk_visitor_events_store_id_stores"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["visitor_id"],
            ["visitors.id"],
            name=op.f("fk_visitor_events_visitor_id_visitors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visitor_events")),
        sa.UniqueConstraint("store_id", "dedupe_key", name=op.f("uq_visitor_events_store_id_dedupe_key")),
    )
    with op.batch_alter_table("visitor_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_visitor_events_occurred_at"), ["occurred_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_visitor_events_visitor_id"), ["visitor_id"], unique=False)


def downgrade() -> None:
    op.drop_table("visitor_events")
    op.drop_table("visitors")
