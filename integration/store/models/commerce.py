"""Orders and checkouts with their line items."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from integration.store.models.base import Base, BigID, CheckoutState, state
from integration.store.types import utcnow


class Order(Base):
    """An order of a store, keyed by the store's id for it; source timestamps are the source's."""

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("store_id", "external_id"),
        Index(None, "contact_id", "created_at"),
        Index(None, "store_id", "created_at"),
        Index(None, "store_id", "checkout_token"),
        Index(None, "store_id", "cart_token"),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    store_id: Mapped[int] = mapped_column(BigID, ForeignKey("stores.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(BigID, ForeignKey("contacts.id", ondelete="SET NULL"))
    external_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(64))
    number: Mapped[str | None] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime]
    processed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]
    cancelled_at: Mapped[datetime | None]
    financial_status: Mapped[str | None] = mapped_column(String(32))
    fulfillment_status: Mapped[str | None] = mapped_column(String(32))
    currency: Mapped[str] = mapped_column(String(3))
    subtotal_price: Mapped[Decimal | None]
    total_discounts: Mapped[Decimal | None]
    total_shipping: Mapped[Decimal | None]
    total_tax: Mapped[Decimal | None]
    total_price: Mapped[Decimal]
    # The sum of the order's refunds in its currency (order_refunds), kept here so that revenue
    # sums stay one pass over orders; revenue is total_price − total_refunded (integration.commerce.orders).
    total_refunded: Mapped[Decimal] = mapped_column(default=Decimal(0), server_default="0")
    checkout_token: Mapped[str | None] = mapped_column(String(255))
    cart_token: Mapped[str | None] = mapped_column(String(255))
    source_name: Mapped[str | None] = mapped_column(String(64))
    ingested_at: Mapped[datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[datetime | None]

    line_items: Mapped[list[OrderLineItem]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="OrderLineItem.id"
    )


class OrderLineItem(Base):
    __tablename__ = "order_line_items"
    # By product and SKU: the "bought product" filter finds the buyers of one product from these.
    __table_args__ = (Index(None, "order_id"), Index(None, "product_id"), Index(None, "sku"))

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    order_id: Mapped[int] = mapped_column(BigID, ForeignKey("orders.id", ondelete="CASCADE"))
    external_id: Mapped[str | None] = mapped_column(String(64))
    product_id: Mapped[str | None] = mapped_column(String(64))
    variant_id: Mapped[str | None] = mapped_column(String(64))
    sku: Mapped[str | None] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(String(500))
    variant_title: Mapped[str | None] = mapped_column(String(500))
    quantity: Mapped[int]
    unit_price: Mapped[Decimal]
    total_discount: Mapped[Decimal | None]


class OrderRefund(Base):
    """A refund of an order, keyed by the store's id for it.

    Keyed to the order by the order's external id, not a foreign key: a refund may arrive before
    its order, and counts once the order arrives.
    """

    __tablename__ = "order_refunds"
    __table_args__ = (
        UniqueConstraint("store_id", "external_id"),
        Index(None, "store_id", "order_external_id"),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    store_id: Mapped[int] = mapped_column(BigID, ForeignKey("stores.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(64))
    order_external_id: Mapped[str] = mapped_column(String(64))
    amount: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime]
    ingested_at: Mapped[datetime] = mapped_column(default=utcnow)


class Checkout(Base):
    """A checkout of a store, keyed by its token: open, abandoned, recovered or completed."""

    __tablename__ = "checkouts"
    __table_args__ = (
        UniqueConstraint("store_id", "token"),
        Index(None, "store_id", "state", "updated_at"),
        Index(None, "store_id", "abandoned_at"),
        Index(None, "store_id", "cart_token"),
        Index(None, "contact_id"),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    store_id: Mapped[int] = mapped_column(BigID, ForeignKey("stores.id", ondelete="CASCADE"))
    token: Mapped[str] = mapped_column(String(255))
    cart_token: Mapped[str | None] = mapped_column(String(255))
    contact_id: Mapped[int | None] = mapped_column(BigID, ForeignKey("contacts.id", ondelete="SET NULL"))
    email: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # When it was completed, by the platform's report or by the order that completed it (the outcome,
    # see commerce.carts); the platform's own report is kept apart, whatever decided the checkout.
    completed_at: Mapped[datetime | None]
    platform_completed_at: Mapped[datetime | None]
    currency: Mapped[str] = mapped_column(String(3))
    total_price: Mapped[Decimal]
    recovery_url: Mapped[str | None] = mapped_column(Text)
    state: Mapped[CheckoutState] = mapped_column(state(CheckoutState), default=CheckoutState.OPEN)
    abandoned_at: Mapped[datetime | None]
    recovered_at: Mapped[datetime | None]
    recovered_by_order_id: Mapped[int | None] = mapped_column(
        BigID, ForeignKey("orders.id", ondelete="SET NULL")
    )
    # Which rule linked the order that recovered (or completed) it: "checkout_token", "cart_token" or
    # "product" (carts.RULES); none for a checkout the platform reported completed without its order.
    recovery_rule: Mapped[str | None] = mapped_column(String(32))
    ingested_at: Mapped[datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[datetime | None]

    line_items: Mapped[list[CheckoutLineItem]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="CheckoutLineItem.id"
    )


class CheckoutLineItem(Base):
    __tablename__ = "checkout_line_items"
    __table_args__ = (Index(None, "checkout_id"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    checkout_id: Mapped[int] = mapped_column(BigID, ForeignKey("checkouts.id", ondelete="CASCADE"))
    product_id: Mapped[str | None] = mapped_column(String(64))
    variant_id: Mapped[str | None] = mapped_column(String(64))
    sku: Mapped[str | None] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(String(500))
    variant_title: Mapped[str | None] = mapped_column(String(500))
    quantity: Mapped[int]
    unit_price: Mapped[Decimal]
