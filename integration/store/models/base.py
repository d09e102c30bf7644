"""Declarative base, naming convention and the persisted states."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import BigInteger, Date, Integer, MetaData, Table
from sqlalchemy import Enum as SAEnum
from sqlalchemy.orm import DeclarativeBase

from integration.store.types import JSONDocument, Money, UTCDateTime

# SQLite only auto-increments an INTEGER PRIMARY KEY, so big ids are INTEGER there.
BigID = BigInteger().with_variant(Integer(), "sqlite")

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        datetime: UTCDateTime(),
        date: Date(),
        Decimal: Money(),
        dict[str, Any]: JSONDocument,
        list[str]: JSONDocument,
        list[dict[str, Any]]: JSONDocument,
    }


def table_of(model: type[Base]) -> Table:
    """Return a model's Core table (for set-based statements)."""
    return cast(Table, model.__table__)


def state(enum: type[StrEnum], length: int = 32) -> SAEnum:
    """Store a StrEnum as its value in a VARCHAR, so new states need no schema change."""
    return SAEnum(
        enum,
        native_enum=False,
        create_constraint=False,
        length=length,
        values_callable=lambda members: [m.value for m in members],
    )


class Platform(StrEnum):
    SHOPIFY = "shopify"
    CSV = "csv"
    API = "api"
    WOOCOMMERCE = "woocommerce"
    BILLBEE = "billbee"


class EmailTool(StrEnum):
    SENDGRID = "sendgrid"
    MAILCHIMP = "mailchimp"


class StoreState(StrEnum):
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"


class SubscriptionStatus(StrEnum):
    SUBSCRIBED = "subscribed"
    UNKNOWN = "unknown"
    UNSUBSCRIBED = "unsubscribed"


class BlockedReason(StrEnum):
    HARD_BOUNCE = "hard_bounce"
    SPAM_COMPLAINT = "spam_complaint"


class EngagementStatus(StrEnum):
    ENGAGED = "engaged"
    UNENGAGED = "unengaged"
    BLOCKED = "blocked"


class InteractionType(StrEnum):
    EMAIL_OPEN = "email_open"
    EMAIL_CLICK = "email_click"
    PRODUCT_VIEW = "product_view"
    ADD_TO_CART = "add_to_cart"
    QR_SCAN = "qr_scan"
    ORDER_PLACED = "order_placed"
    HARD_BOUNCE = "hard_bounce"
    SOFT_BOUNCE = "soft_bounce"
    SPAM_COMPLAINT = "spam_complaint"
    UNSUBSCRIBE = "unsubscribe"
    SUBSCRIBE = "subscribe"
    CART_ABANDONED = "cart_abandoned"
    CART_RECOVERED = "cart_recovered"


# Interactions that make a contact engaged (an email open only when a person, not a machine, opened it).
COUNTED_INTERACTIONS = frozenset(
    {
        InteractionType.EMAIL_OPEN,
        InteractionType.EMAIL_CLICK,
        InteractionType.PRODUCT_VIEW,
        InteractionType.ADD_TO_CART,
        InteractionType.QR_SCAN,
        InteractionType.ORDER_PLACED,
    }
)

# A cancelled order, or one with these financial statuses, is no interaction.
NOT_PLACED_FINANCIAL_STATUSES = ("voided",)
# ... and these are no revenue either: the money went back.
NON_REVENUE_FINANCIAL_STATUSES = ("voided", "refunded")


class CheckoutState(StrEnum):
    OPEN = "open"
    ABANDONED = "abandoned"
    RECOVERED = "recovered"
    COMPLETED = "completed"


class CampaignChannel(StrEnum):
    EMAIL = "email"
    LETTER = "letter"


class SendStatus(StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    RETURNED = "returned"
    FAILED = "failed"


class InboxStatus(StrEnum):
    PENDING = "pending"
    PROCESSED = "processed"
    FAILED = "failed"


class ImportStatus(StrEnum):
    # Uploaded and checked, waiting for the merchant to confirm the import.
    CHECKED = "checked"
    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"


class DestinationKind(StrEnum):
    SHOPIFY = "shopify"
    MAILCHIMP = "mailchimp"
    KLAVIYO = "klaviyo"
    WEBHOOK = "webhook"


class SyncMode(StrEnum):
    TAGS = "tags"
    AUDIENCE = "audience"


class BackfillStatus(StrEnum):
    PENDING = "pending"
    STARTING = "starting"
    RUNNING = "running"
    IMPORTING = "importing"
    COMPLETED = "completed"
    FAILED = "failed"


class SyncStatus(StrEnum):
    IDLE = "idle"
    RUNNING = "running"
    # A fatal error such as a revoked key: the sync waits for new credentials.
    STOPPED = "stopped"


class SyncRunStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    # Some contacts failed.
    PARTIAL = "partial"
    FAILED = "failed"
    STOPPED = "stopped"


class ExportStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
