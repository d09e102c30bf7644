"""buyers' totals kept at ingest; leaderboard currency counts and indexes ending with the contact

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import integration.store.types

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# The orders that count, as `integration.orders` defines them at this revision.
BACKFILL = """
INSERT INTO contact_totals
    (contact_id, currency, account_id, orders, revenue_orders, revenue, first_order_at, last_order_at)
SELECT o.contact_id, o.currency, s.account_id, count(*),
       sum(CASE WHEN o.financial_status = 'refunded' THEN 0 ELSE 1 END),
       coalesce(sum(CASE WHEN o.financial_status = 'refunded' THEN 0 ELSE o.total_price END), 0),
       min(o.created_at), max(o.created_at)
FROM orders o JOIN stores s ON s.id = o.store_id
WHERE o.contact_id IS NOT NULL AND o.cancelled_at IS NULL AND o.deleted_at IS NULL
  AND (o.financial_status IS NULL OR o.financial_status <> 'voided')
GROUP BY o.contact_id, o.currency, s.account_id
"""
# The leaderboard's metric indexes gain the contact: ties are read in index order.
METRICS = ("average", "purchases", "revenue")
PERIOD_CURRENCIES = """
INSERT INTO period_currencies (account_id, store_id, period, currency, contacts)
SELECT account_id, store_id, period, currency, count(*) FROM contact_period_spend
GROUP BY account_id, store_id, period, currency
"""
# Per buyer: every order, the newest, and the revenue in its main currency (most orders, then
# alphabetical).
BUYERS = """
INSERT INTO buyers (contact_id, account_id, orders, last_order_at, currency, revenue)
SELECT t.contact_id, t.account_id, s.orders, s.last_order_at, t.currency, t.revenue
FROM contact_totals t
JOIN (SELECT contact_id, sum(orders) AS orders, max(last_order_at) AS last_order_at
      FROM contact_totals GROUP BY contact_id) s ON s.contact_id = t.contact_id
WHERE NOT EXISTS (SELECT 1 FROM contact_totals o WHERE o.contact_id = t.contact_id
                  AND (o.orders > t.orders OR (o.orders = t.orders AND o.currency < t.currency)))
"""


def upgrade() -> None:
    big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "contact_totals",
        sa.Column("contact_id", big_id, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("account_id", big_id, nullable=False),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.Column("revenue_orders", sa.Integer(), nullable=False),
        sa.Column("revenue", integration.store.types.Money(precision=18, scale=4), nullable=False),
        sa.Column("first_order_at", integration.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_order_at", integration.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_contact_totals_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_contact_totals_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("contact_id", "currency", name=op.f("pk_contact_totals")),
    )
    with op.batch_alter_table("contact_totals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_contact_totals_account_id"), ["account_id"], unique=False)
    op.create_table(
        "buyers",
        sa.Column("contact_id", big_id, autoincrement=False, nullable=False),
        sa.Column("account_id", big_id, nullable=False),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.Column("last_order_at", integration.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("revenue", integration.store.types.Money(precision=18, scale=4), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_buyers_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_buyers_contact_id_contacts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("contact_id", name=op.f("pk_buyers")),
    )
    op.execute(BACKFILL)
    op.execute(BUYERS)
    op.create_table(
        "period_currencies",
        sa.Column("account_id", big_id, nullable=False),
        sa.Column("store_id", big_id, nullable=False),
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("contacts", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_period_currencies_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "account_id", "store_id", "period", "currency", name=op.f("pk_period_currencies")
        ),
    )
    op.execute(PERIOD_CURRENCIES)
    with op.batch_alter_table("contact_period_spend", schema=None) as batch_op:
        for metric in METRICS:
            batch_op.drop_index(
                batch_op.f(f"ix_contact_period_spend_account_id_store_id_period_currency_{metric}")
            )
            batch_op.create_index(
                batch_op.f(
                    f"ix_contact_period_spend_account_id_store_id_period_currency_{metric}_contact_id"
                ),
                ["account_id", "store_id", "period", "currency", metric, "contact_id"],
                unique=False,
            )
    with op.batch_alter_table("buyers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_buyers_account_id_currency_revenue"),
            ["account_id", "currency", "revenue"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_buyers_account_id_last_order_at"), ["account_id", "last_order_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_buyers_account_id_orders"), ["account_id", "orders"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("contact_period_spend", schema=None) as batch_op:
        for metric in METRICS:
            batch_op.drop_index(
                batch_op.f(f"ix_contact_period_spend_account_id_store_id_period_currency_{metric}_contact_id")
            )
            batch_op.create_index(
                batch_op.f(f"ix_contact_period_spend_account_id_store_id_period_currency_{metric}"),
                ["account_id", "store_id", "period", "currency", metric],
                unique=False,
            )
    op.drop_table("period_currencies")
    op.drop_table("buyers")
    with op.batch_alter_table("contact_totals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contact_totals_account_id"))
    op.drop_table("contact_totals")
