"""Each buyer's orders per currency, kept current as orders arrive: what RFM and the statistics read.

A bulk import notes the buyers whose orders it wrote (`buyer_notes`) instead of recomputing their
rows batch after batch; the notes are folded in when the import ends (and by the scheduler every
ten minutes, meanwhile and after an import that stopped half-way), each noted buyer once.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, PrimaryKeyConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from integration.store.models.base import Base, BigID


class ContactTotals(Base):
    """A contact's standing orders in one currency, across all stores of its account.

    `orders` counts placed orders (not cancelled, voided or deleted); `revenue_orders` and
    `revenue` only those whose total is revenue (not refunded either). Recomputed from the orders
    of the contacts a batch touched, so a cancellation or a moved order is reflected too.
    """

    __tablename__ = "contact_totals"
    __table_args__ = (PrimaryKeyConstraint("contact_id", "currency"), Index(None, "account_id"))

    contact_id: Mapped[int] = mapped_column(BigID, ForeignKey("contacts.id", ondelete="CASCADE"))
    currency: Mapped[str] = mapped_column(String(3))
    account_id: Mapped[int] = mapped_column(BigID, ForeignKey("accounts.id", ondelete="CASCADE"))
    orders: Mapped[int]
    revenue_orders: Mapped[int]
    revenue: Mapped[Decimal]
    first_order_at: Mapped[datetime]
    last_order_at: Mapped[datetime]


class Buyer(Base):
    """A contact who ordered, summed over its currencies: what RFM scores.

    `orders` counts placed orders in every currency and `revenue_orders` those whose total is
    revenue (what the `orders_count` filter compares); `currency` is the one of most orders (then
    alphabetical) and `revenue` the revenue in it, since amounts in different currencies do not add.
    """

    __tablename__ = "buyers"
    # Ordered by each metric within the account: RFM finds each score's range of values by probes.
    __table_args__ = (
        Index(None, "account_id", "last_order_at"),
        Index(None, "account_id", "orders"),
        Index(None, "account_id", "currency", "revenue"),
        Index(None, "account_id", "revenue_orders"),
    )

    contact_id: Mapped[int] = mapped_column(
        BigID, ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    account_id: Mapped[int] = mapped_column(BigID, ForeignKey("accounts.id", ondelete="CASCADE"))
    orders: Mapped[int]
    revenue_orders: Mapped[int]
    last_order_at: Mapped[datetime]
    currency: Mapped[str] = mapped_column(String(3))
    revenue: Mapped[Decimal]


class BuyerNote(Base):
    """A contact whose orders changed while its rows were not recomputed (a bulk import's batches).

    Written in the transaction that wrote the orders, taken (deleted) by the fold that recomputes
    the contact: a note lost is impossible, a note twice costs one recomputation more. No key to
    `contacts`: a contact deleted meanwhile is recomputed to nothing.
    """

    __tablename__ = "buyer_notes"
    # A fold takes the notes of the account's lowest noted contacts.
    __table_args__ = (Index(None, "account_id", "contact_id"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    account_id: Mapped[int] = mapped_column(BigID, ForeignKey("accounts.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(BigID)
