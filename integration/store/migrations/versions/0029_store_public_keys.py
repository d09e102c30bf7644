"""each store's public key for the storefront collector, and the origins its snippet may post from

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-04

The Shopify pixel and the tracking snippet post storefront events with a store's public key: it can
add events to its own store and nothing else, and it is shown openly (in the pixel's settings and
the snippet's code). Existing stores get a key each. The snippet is taken only from the origins a
merchant lists for the store (Shopify's pixel runs in Shopify's sandbox, which sends none).
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None

big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def new_key() -> str:
    """A store's public key as the model makes it (see `integration.store.models.accounts`)."""
    return "pk_" + secrets.token_urlsafe(18)


def upgrade() -> None:
    # Columns are added in place (SQLite's ALTER TABLE ADD COLUMN): rebuilding `stores` on SQLite
    # would drop it, and the drop would cascade to every row that refers to a store.
    op.add_column("stores", sa.Column("public_key", sa.String(length=40), nullable=True))
    op.add_column(
        "stores",
        sa.Column(
            "allowed_origins",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
    )
    stores = sa.table("stores", sa.column("id", big_id), sa.column("public_key", sa.String(40)))
    connection = op.get_bind()
    ids = connection.execute(sa.select(stores.c.id).where(stores.c.public_key.is_(None))).scalars().all()
    for store_id in ids:
        connection.execute(sa.update(stores).where(stores.c.id == store_id).values(public_key=new_key()))
    op.create_index(op.f("ix_stores_public_key"), "stores", ["public_key"], unique=True)


def downgrade() -> None:
    op.drop_index(op.f("ix_stores_public_key"), table_name="stores")
    op.drop_column("stores", "allowed_origins")
    op.drop_column("stores", "public_key")
