"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import integration.store.types

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("engagement_window_days", sa.Integer(), nullable=False),
        sa.Column("abandonment_delay_minutes", sa.Integer(), nullable=False),
        sa.Column("recovery_window_days", sa.Integer(), nullable=False),
        sa.Column("attribution_window_days", sa.Integer(), nullable=False),
        sa.Column("frequency_cap_days", sa.Integer(), nullable=False),
        sa.Column("classified_at", integration.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", integration.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", integration.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", integration.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", integration.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_api_keys_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_keys_prefix")),
    )
    op.create_index(op.f("ix_api_keys_account_id"), "api_keys", ["account_id"], unique=False)
    op.create_table(
        "campaigns",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=True),
        sa.Column(
            "channel",
            sa.Enum("email", "letter", name="campaignchannel", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("created_at", integration.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_campaigns_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
        sa.UniqueConstraint("account_id", "external_id", name=op.f("uq_campaigns_account_id_external_id")),
    )
    op.create_table(
        "contact_snapshots",
        sa.Column("account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column(
            "subscription_status",
            sa.Enum(
                "subscribed",
                "unknown",
                "unsubscribed",
                name="subscriptionstatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "engagement_status",
            sa.Enum("engaged", "unengaged", "blocked", name="engagementstatus", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("contacts", sa.Integer(), nullable=False),
        sa.Column("taken_at", integration.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_contact_snapshots_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "account_id", "day", "subscription_status", "engagement_status", name=op.f("pk_contact_snapshots")
        ),
    )
    op.create_table(
        "contacts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("first_name", sa.String(length=200), nullable=True),
        sa.Column("last_name", sa.String(length=200), nullable=True),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column(
            "subscription_status",
            sa.Enum(
                "subscribed",
                "unknown",
                "unsubscribed",
                name="subscriptionstatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "subscription_changed_at", integration.store.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("subscription_reason", sa.String(length=64), nullable=True),
        sa.Column(
            "blocked_reason",
            sa.Enum("hard_bounce", "spam_complaint", name="blockedreason", native_enum=False, length=32),
            nullable=True,
        ),
        sa.Column("blocked_at", integration.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "engagement_status",
            sa.Enum("engaged", "unengaged", "blocked", name="engagementstatus", native_enum=False, length=32),
            nullable=True,
        ),
        sa.Column("engagement_since", integration.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("engagement_reason", sa.String(length=32), nullable=True),
        sa.Column("last_interaction_at", integration.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "last_interaction_type",
            sa.Enum(
                "email_open",
                "email_click",
                "product_view",
                "add_to_cart",
                "qr_scan",
                "order_placed",
                "hard_bounce",
                "soft_bounce",
                "spam_complaint",
                "unsubscribe",
                "subscribe",
                "cart_abandoned",
                "cart_recovered",
                name="interactiontype",
                native_enum=False,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("first_seen_at", integration.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "tags",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", integration.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", integration.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", integration.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_contacts_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
        sa.UniqueConstraint("account_id", "email", name=op.f("uq_contacts_account_id_email")),
    )
    op.create_index(
        op.f("ix_contacts_account_id_engagement_status_last_interaction_at"),
        "contacts",
        ["account_id", "engagement_status", "last_interaction_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_contacts_account_id_subscription_status_engagement_status"),
        "contacts",
        ["account_id", "subscription_status", "engagement_status"],
        unique=False,
    )
    op.create_table(
        "destinations",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "shopify",
                "mailchimp",
                "klaviyo",
                "webhook",
                name="destinationkind",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "config",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("credentials", sa.LargeBinary(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", integration.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_destinations_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_destinations")),
    )
    op.create_index(op.f("ix_destinations_account_id"), "destinations", ["account_id"], unique=False)
    op.create_table(
        "segments",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "filter",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("predefined", sa.Boolean(), nullable=False),
        sa.Column("created_at", integration.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", integration.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_segments_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segments")),
        sa.UniqueConstraint("account_id", "name", name=op.f("uq_segments_account_id_name")),
    )
    op.create_table(
        "stores",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "platform",
            sa.Enum("shopify", "csv", "api", name="platform", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("shop_domain", sa.String(length=255), nullable=True),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column(
            "state",
            sa.Enum("connected", "disconnected", name="storestate", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("credentials", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", integration.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("connected_at", integration.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("disconnected_at", integration.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_stores_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stores")),
        sa.UniqueConstraint("platform", "shop_domain", name=op.f("uq_stores_platform_shop_domain")),
    )
    op.create_index(op.f("ix_stores_account_id"), "stores", ["account_id"], unique=False)
    op.create_table(
        "campaign_previews",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("campaign_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", integration.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_previews_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_previews")),
        sa.UniqueConstraint("campaign_id", "sha256", name=op.f("uq_campaign_previews_campaign_id_sha256")),
    )
    op.create_table(
        "engagement_transitions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("contact_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "from_status",
            sa.Enum("engaged", "unengaged", "blocked", name="engagementstatus", native_enum=False, length=32),
            nullable=True,
        ),
        sa.Column(
            "to_status",
            sa.Enum("engaged", "unengaged", "blocked", name="engagementstatus", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("at", integration.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_engagement_transitions_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_engagement_transitions_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_engagement_transitions")),
    )
    op.create_index(
        op.f("ix_engagement_transitions_account_id_at"),
        "engagement_transitions",
        ["account_id", "at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_engagement_transitions_contact_id"), "engagement_transitions", ["contact_id"], unique=False
    )
    op.create_table(
        "inbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("store_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("topic", sa.String(length=100), nullable=False),
        sa.Column("delivery_id", sa.String(length=255), nullable=False),
        sa.Column("event_id", sa.String(length=255), nullable=True),
        sa.Column("triggered_at", integration.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("received_at", integration.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "headers",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("pending", "processed", "failed", name="inboxstatus", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column(
            "result",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("processed_at", integration.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.id"], name=op.f("fk_inbox_store_id_stores"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox")),
        sa.UniqueConstraint("source", "delivery_id", name=op.f("uq_inbox_source_delivery_id")),
    )
    op.create_index(op.f("ix_inbox_status_received_at"), "inbox", ["status", "received_at"], unique=False)
    op.create_index(op.f("ix_inbox_store_id"), "inbox", ["store_id"], unique=False)
    op.create_table(
        "interaction_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("contact_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("store_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "type",
            sa.Enum(
                "email_open",
                "email_click",
                "product_view",
                "add_to_cart",
                "qr_scan",
                "order_placed",
                "hard_bounce",
                "soft_bounce",
                "spam_complaint",
                "unsubscribe",
                "subscribe",
                "cart_abandoned",
                "cart_recovered",
                name="interactiontype",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("occurred_at", integration.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("counted", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("source_event_id", sa.String(length=255), nullable=True),
        sa.Column("campaign_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("product_id", sa.String(length=64), nullable=True),
        sa.Column(
            "attributes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("ingested_at", integration.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_interaction_events_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_interaction_events_campaign_id_campaigns"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_interaction_events_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["store_id"],
            ["stores.id"],
            name=op.f("fk_interaction_events_store_id_stores"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_interaction_events")),
        sa.UniqueConstraint(
            "account_id",
            "source",
            "source_event_id",
            name=op.f("uq_interaction_events_account_id_source_source_event_id"),
        ),
    )
    op.create_index(
        op.f("ix_interaction_events_account_id_occurred_at"),
        "interaction_events",
        ["account_id", "occurred_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_interaction_events_campaign_id"), "interaction_events", ["campaign_id"], unique=False
    )
    op.create_index(
        op.f("ix_interaction_events_contact_id_occurred_at"),
        "interaction_events",
        ["contact_id", "occurred_at"],
        unique=False,
    )
    op.create_table(
        "orders",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("store_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("contact_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=True),
        sa.Column("number", sa.String(length=64), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("created_at", integration.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("processed_at", integration.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", integration.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("cancelled_at", integration.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("financial_status", sa.String(length=32), nullable=True),
        sa.Column("fulfillment_status", sa.String(length=32), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("subtotal_price", integration.store.types.Money(precision=18, scale=4), nullable=True),
        sa.Column("total_discounts", integration.store.types.Money(precision=18, scale=4), nullable=True),
        sa.Column("total_shipping", integration.store.types.Money(precision=18, scale=4), nullable=True),
        sa.Column("total_tax", integration.store.types.Money(precision=18, scale=4), nullable=True),
        sa.Column("total_price", integration.store.types.Money(precision=18, scale=4), nullable=False),
        sa.Column("checkout_token", sa.String(length=255), nullable=True),
        sa.Column("cart_token", sa.String(length=255), nullable=True),
        sa.Column("source_name", sa.String(length=64), nullable=True),
        sa.Column("ingested_at", integration.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", integration.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_orders_contact_id_contacts"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.id"], name=op.f("fk_orders_store_id_stores"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("store_id", "external_id", name=op.f("uq_orders_store_id_external_id")),
    )
    op.create_index(
        op.f("ix_orders_contact_id_created_at"), "orders", ["contact_id", "created_at"], unique=False
    )
    op.create_index(op.f("ix_orders_store_id_cart_token"), "orders", ["store_id", "cart_token"], unique=False)
    op.create_index(
        op.f("ix_orders_store_id_checkout_token"), "orders", ["store_id", "checkout_token"], unique=False
    )
    op.create_index(op.f("ix_orders_store_id_created_at"), "orders", ["store_id", "created_at"], unique=False)
    op.create_table(
        "store_customers",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("store_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("contact_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", integration.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", integration.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("linked_at", integration.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_store_customers_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.id"], name=op.f("fk_store_customers_store_id_stores"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_store_customers")),
        sa.UniqueConstraint("store_id", "external_id", name=op.f("uq_store_customers_store_id_external_id")),
    )
    op.create_index(op.f("ix_store_customers_contact_id"), "store_customers", ["contact_id"], unique=False)
    op.create_table(
        "syncs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("segment_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("destination_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "mode", sa.Enum("tags", "audience", name="syncmode", native_enum=False, length=32), nullable=False
        ),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("last_run_at", integration.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", integration.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_syncs_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["destination_id"],
            ["destinations.id"],
            name=op.f("fk_syncs_destination_id_destinations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["segment_id"], ["segments.id"], name=op.f("fk_syncs_segment_id_segments"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_syncs")),
        sa.UniqueConstraint("segment_id", "destination_id", name=op.f("uq_syncs_segment_id_destination_id")),
    )
    op.create_table(
        "campaign_sends",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("campaign_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("contact_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("preview_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "queued",
                "sent",
                "delivered",
                "returned",
                "failed",
                name="sendstatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("queued_at", integration.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("sent_at", integration.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", integration.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("returned_at", integration.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("failed_at", integration.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("opened_at", integration.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("clicked_at", integration.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("scanned_at", integration.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", integration.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_sends_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_campaign_sends_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["preview_id"],
            ["campaign_previews.id"],
            name=op.f("fk_campaign_sends_preview_id_campaign_previews"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_sends")),
        sa.UniqueConstraint(
            "campaign_id", "contact_id", name=op.f("uq_campaign_sends_campaign_id_contact_id")
        ),
    )
    op.create_index(
        op.f("ix_campaign_sends_contact_id_sent_at"),
        "campaign_sends",
        ["contact_id", "sent_at"],
        unique=False,
    )
    op.create_table(
        "checkouts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("store_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("token", sa.String(length=255), nullable=False),
        sa.Column("cart_token", sa.String(length=255), nullable=True),
        sa.Column("contact_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("created_at", integration.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", integration.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("completed_at", integration.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("total_price", integration.store.types.Money(precision=18, scale=4), nullable=False),
        sa.Column("recovery_url", sa.Text(), nullable=True),
        sa.Column(
            "state",
            sa.Enum(
                "open",
                "abandoned",
                "recovered",
                "completed",
                name="checkoutstate",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("abandoned_at", integration.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("recovered_at", integration.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "recovered_by_order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("recovery_rule", sa.String(length=32), nullable=True),
        sa.Column("ingested_at", integration.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", integration.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_checkouts_contact_id_contacts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["recovered_by_order_id"],
            ["orders.id"],
            name=op.f("fk_checkouts_recovered_by_order_id_orders"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.id"], name=op.f("fk_checkouts_store_id_stores"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkouts")),
        sa.UniqueConstraint("store_id", "token", name=op.f("uq_checkouts_store_id_token")),
    )
    op.create_index(op.f("ix_checkouts_contact_id"), "checkouts", ["contact_id"], unique=False)
    op.create_index(
        op.f("ix_checkouts_store_id_cart_token"), "checkouts", ["store_id", "cart_token"], unique=False
    )
    op.create_index(
        op.f("ix_checkouts_store_id_state_updated_at"),
        "checkouts",
        ["store_id", "state", "updated_at"],
        unique=False,
    )
    op.create_table(
        "order_line_items",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=True),
        sa.Column("product_id", sa.String(length=64), nullable=True),
        sa.Column("variant_id", sa.String(length=64), nullable=True),
        sa.Column("sku", sa.String(length=255), nullable=True),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("variant_title", sa.String(length=500), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price", integration.store.types.Money(precision=18, scale=4), nullable=False),
        sa.Column("total_discount", integration.store.types.Money(precision=18, scale=4), nullable=True),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_order_line_items_order_id_orders"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_line_items")),
    )
    op.create_index(op.f("ix_order_line_items_order_id"), "order_line_items", ["order_id"], unique=False)
    op.create_table(
        "sync_states",
        sa.Column("sync_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("contact_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=True),
        sa.Column("delivered_at", integration.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_sync_states_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sync_id"], ["syncs.id"], name=op.f("fk_sync_states_sync_id_syncs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("sync_id", "contact_id", name=op.f("pk_sync_states")),
    )
    op.create_index(op.f("ix_sync_states_contact_id"), "sync_states", ["contact_id"], unique=False)
    op.create_table(
        "checkout_line_items",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("checkout_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("product_id", sa.String(length=64), nullable=True),
        sa.Column("variant_id", sa.String(length=64), nullable=True),
        sa.Column("sku", sa.String(length=255), nullable=True),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("variant_title", sa.String(length=500), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price", integration.store.types.Money(precision=18, scale=4), nullable=False),
        sa.ForeignKeyConstraint(
            ["checkout_id"],
            ["checkouts.id"],
            name=op.f("fk_checkout_line_items_checkout_id_checkouts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkout_line_items")),
    )
    op.create_index(
        op.f("ix_checkout_line_items_checkout_id"), "checkout_line_items", ["checkout_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_checkout_line_items_checkout_id"), table_name="checkout_line_items")
    op.drop_table("checkout_line_items")
    op.drop_index(op.f("ix_sync_states_contact_id"), table_name="sync_states")
    op.drop_table("sync_states")
    op.drop_index(op.f("ix_order_line_items_order_id"), table_name="order_line_items")
    op.drop_table("order_line_items")
    op.drop_index(op.f("ix_checkouts_store_id_state_updated_at"), table_name="checkouts")
    op.drop_index(op.f("ix_checkouts_store_id_cart_token"), table_name="checkouts")
    op.drop_index(op.f("ix_checkouts_contact_id"), table_name="checkouts")
    op.drop_table("checkouts")
    op.drop_index(op.f("ix_campaign_sends_contact_id_sent_at"), table_name="campaign_sends")
    op.drop_table("campaign_sends")
    op.drop_table("syncs")
    op.drop_index(op.f("ix_store_customers_contact_id"), table_name="store_customers")
    op.drop_table("store_customers")
    op.drop_index(op.f("ix_orders_store_id_created_at"), table_name="orders")
    op.drop_index(op.f("ix_orders_store_id_checkout_token"), table_name="orders")
    op.drop_index(op.f("ix_orders_store_id_cart_token"), table_name="orders")
    op.drop_index(op.f("ix_orders_contact_id_created_at"), table_name="orders")
    op.drop_table("orders")
    op.drop_index(op.f("ix_interaction_events_contact_id_occurred_at"), table_name="interaction_events")
    op.drop_index(op.f("ix_interaction_events_campaign_id"), table_name="interaction_events")
    op.drop_index(op.f("ix_interaction_events_account_id_occurred_at"), table_name="interaction_events")
    op.drop_table("interaction_events")
    op.drop_index(op.f("ix_inbox_store_id"), table_name="inbox")
    op.drop_index(op.f("ix_inbox_status_received_at"), table_name="inbox")
    op.drop_table("inbox")
    op.drop_index(op.f("ix_engagement_transitions_contact_id"), table_name="engagement_transitions")
    op.drop_index(op.f("ix_engagement_transitions_account_id_at"), table_name="engagement_transitions")
    op.drop_table("engagement_transitions")
    op.drop_table("campaign_previews")
    op.drop_index(op.f("ix_stores_account_id"), table_name="stores")
    op.drop_table("stores")
    op.drop_table("segments")
    op.drop_index(op.f("ix_destinations_account_id"), table_name="destinations")
    op.drop_table("destinations")
    op.drop_index(op.f("ix_contacts_account_id_subscription_status_engagement_status"), table_name="contacts")
    op.drop_index(op.f("ix_contacts_account_id_engagement_status_last_interaction_at"), table_name="contacts")
    op.drop_table("contacts")
    op.drop_table("contact_snapshots")
    op.drop_table("campaigns")
    op.drop_index(op.f("ix_api_keys_account_id"), table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_table("accounts")
