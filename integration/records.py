"""The store's inbound records: what every source's schemas produce and the ingest functions take.

Records carry source identifiers (a store's customer id, a campaign's external id) and
timezone-aware times; resolving them to contacts and rows is the ingest functions' work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from integration.store.models import CampaignChannel, InteractionType, SendStatus, SubscriptionStatus


@dataclass(frozen=True)
class CustomerRecord:
    external_id: str
    updated_at: datetime
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    subscription_status: SubscriptionStatus | None = None
    subscription_changed_at: datetime | None = None
    tags: list[str] | None = None
    created_at: datetime | None = None


@dataclass(frozen=True)
class LineItemRecord:
    title: str
    quantity: int
    unit_price: Decimal
    external_id: str | None = None
    product_id: str | None = None
    variant_id: str | None = None
    sku: str | None = None
    variant_title: str | None = None
    total_discount: Decimal | None = None


@dataclass(frozen=True)
class RefundRecord:
    """Money returned on an order: the refund's own id, the order's id, and the amount returned."""

    external_id: str
    order_external_id: str
    amount: Decimal
    currency: str
    created_at: datetime


@dataclass(frozen=True)
class OrderRecord:
    external_id: str
    created_at: datetime
    updated_at: datetime
    currency: str
    total_price: Decimal
    name: str | None = None
    number: str | None = None
    customer_id: str | None = None
    email: str | None = None
    processed_at: datetime | None = None
    cancelled_at: datetime | None = None
    financial_status: str | None = None
    fulfillment_status: str | None = None
    subtotal_price: Decimal | None = None
    total_discounts: Decimal | None = None
    total_shipping: Decimal | None = None
    total_tax: Decimal | None = None
    checkout_token: str | None = None
    cart_token: str | None = None
    source_name: str | None = None
    line_items: list[LineItemRecord] = field(default_factory=list)
    # The refunds the order's payload lists (a refund delivered on its own counts the same, once).
    refunds: list[RefundRecord] = field(default_factory=list)


@dataclass(frozen=True)
class CheckoutRecord:
    token: str
    created_at: datetime
    updated_at: datetime
    currency: str
    total_price: Decimal
    cart_token: str | None = None
    customer_id: str | None = None
    email: str | None = None  # the checkout's own, kept on it
    # The customer's email: with the customer id, it finds the contact as an order's does.
    customer_email: str | None = None
    completed_at: datetime | None = None
    recovery_url: str | None = None
    line_items: list[LineItemRecord] = field(default_factory=list)


@dataclass(frozen=True)
class EventRecord:
    type: InteractionType
    occurred_at: datetime
    event_id: str | None = None
    customer_id: str | None = None
    email: str | None = None
    campaign_id: str | None = None
    product_id: str | None = None
    machine_open: bool = False
    # The contact a message was sent to, as the email tool echoes it back; wins over the email.
    contact_id: int | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CampaignRecord:
    external_id: str
    channel: CampaignChannel
    name: str
    preview: bytes | None = None
    preview_content_type: str | None = None
    created_at: datetime | None = None


@dataclass(frozen=True)
class SendRecord:
    campaign_id: str
    status: SendStatus
    customer_id: str | None = None
    email: str | None = None
    queued_at: datetime | None = None
    sent_at: datetime | None = None
    delivered_at: datetime | None = None
    returned_at: datetime | None = None
    failed_at: datetime | None = None
