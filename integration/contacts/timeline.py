"""A contact's activity, newest first: orders, carts, campaigns, interactions and changes of state.

One statement reads a page: a UNION ALL of small selects, one per kind of entry, each narrowed to
the contact by an index that starts with its contact id and cut to the page's size before the
union, so a contact with years of activity still costs a page. Entries are ordered by (time
descending, kind, id descending); the kind breaks ties by its rank in KINDS (alphabetical), not by
the database's collation, so the order and the keyset cursor agree on every database.

One-to-one messages are campaigns of one send, so they appear as campaign entries. Opens, clicks
and QR scans come from the interaction events (each one the contact made), not the send's marks.
"""

from __future__ import annotations

import binascii
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    String,
    and_,
    case,
    cast,
    literal,
    null,
    or_,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeEngine

from integration.keyset import BadCursor, pack, unpack
from integration.money import amount
from integration.store.db import account_row
from integration.store.models import (
    Campaign,
    CampaignSend,
    Checkout,
    Contact,
    EngagementTransition,
    InteractionEvent,
    InteractionType,
    Order,
    OrderRefund,
    Segment,
    SegmentChange,
    SubscriptionTransition,
)
from integration.store.types import MAX_ID, Money, UTCDateTime

DEFAULT_LIMIT = 50
MAX_LIMIT = 200

# What the contact did, one interaction event each.
EVENT_KINDS = (
    InteractionType.EMAIL_OPEN,
    InteractionType.EMAIL_CLICK,
    InteractionType.QR_SCAN,
    InteractionType.PRODUCT_VIEW,
    InteractionType.ADD_TO_CART,
)
KINDS = tuple(
    sorted(
        (
            "order_placed",
            "order_cancelled",
            "order_refunded",
            "cart_abandoned",
            "cart_recovered",
            "campaign_sent",
            "campaign_delivered",
            "campaign_returned",
            "campaign_failed",
            "subscription_changed",
            "engagement_changed",
            "segment_entered",
            "segment_left",
            *(k.value for k in EVENT_KINDS),
        )
    )
)
RANK = {kind: position for position, kind in enumerate(KINDS)}

# The columns every part gives, in the union's order, with their types.
COLUMNS: dict[str, TypeEngine[Any]] = {
    "at": UTCDateTime(),
    "kind": String(32),
    "rank": Integer(),
    "id": BigInteger(),
    "amount": Money(),
    "currency": String(3),
    "order_id": BigInteger(),
    "order_name": String(64),
    "campaign_id": BigInteger(),
    "campaign_name": String(300),
    "channel": String(32),
    "segment_id": BigInteger(),
    "segment_name": String(200),
    "product_id": String(64),
    "from_status": String(32),
    "to_status": String(32),
    "reason": String(64),
}

Cursor = tuple[datetime, str, int]
# A mapped attribute or a SQL expression: both are columns of a select.
Column = Any


def timeline(
    session: Session,
    account_id: int,
    contact_id: int,
    *,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> dict[str, Any] | None:
    """A page of the contact's activity, newest first, and the next page's cursor; None when the
    contact is not the account's. A cursor this list did not give out raises `BadCursor`."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be from 1 to {MAX_LIMIT}")
    contact = account_row(session, Contact, contact_id, account_id)
    if contact is None or contact.deleted_at is not None:
        return None
    after = decode(cursor) if cursor is not None else None
    parts = [_cut(part, after, limit) for part in _parts(contact_id)]
    union = union_all(*parts).subquery("activity")
    rows = session.execute(
        select(union).order_by(union.c.at.desc(), union.c.rank, union.c.id.desc()).limit(limit + 1)
    ).all()
    page = rows[:limit]
    more = len(rows) > limit
    return {
        "entries": [_entry(row._mapping) for row in page],
        "next_cursor": encode(page[-1].at, page[-1].kind, page[-1].id) if more and page else None,
    }


def encode(at: datetime, kind: str, row_id: int) -> str:
    """The cursor of the page after the entry with this time, kind and id."""
    return pack([at.isoformat(), kind, row_id])


def decode(cursor: str) -> Cursor:
    """The time (UTC), kind and id a cursor names; BadCursor if it is not one `encode` made."""
    try:
        at, kind, row_id = unpack(cursor)
        moment = datetime.fromisoformat(at)
        if moment.tzinfo is None:
            raise ValueError("naive")
        moment = moment.astimezone(UTC)
    except (ValueError, TypeError, OverflowError, binascii.Error) as exc:
        raise BadCursor("not a cursor of this timeline") from exc
    if kind not in RANK or type(row_id) is not int or not 0 <= row_id <= MAX_ID:
        raise BadCursor("not a cursor of this timeline")
    return moment, kind, row_id


def _entry(row: Any) -> dict[str, Any]:
    money = row["amount"]
    return {
        "at": row["at"].isoformat(),
        "kind": row["kind"],
        "amount": amount(money) if isinstance(money, Decimal | int) else None,
        "currency": row["currency"],
        "order_id": row["order_id"],
        "order_name": row["order_name"],
        "campaign_id": row["campaign_id"],
        "campaign_name": row["campaign_name"],
        "channel": row["channel"],
        "segment_id": row["segment_id"],
        "segment_name": row["segment_name"],
        "product_id": row["product_id"],
        "from": row["from_status"],
        "to": row["to_status"],
        "reason": row["reason"],
    }


class _Part:
    """One select of the union: its kind (a name, or a column for the interaction events), its time
    and id columns, the rest of its facts, and what narrows it to the contact."""

    def __init__(
        self,
        kind: str | Column,
        at: Column,
        row_id: Column,
        facts: dict[str, Column],
        query: Select[Any],
    ) -> None:
        self.kind, self.at, self.row_id, self.facts, self.query = kind, at, row_id, facts, query

    def rank(self) -> ColumnElement[int]:
        if isinstance(self.kind, str):
            return literal(RANK[self.kind], Integer())
        return case({kind: RANK[kind.value] for kind in EVENT_KINDS}, value=self.kind)

    def select(self) -> Select[Any]:
        """The part's rows as the union's columns."""
        given: dict[str, Column] = {
            "at": self.at,
            "kind": literal(self.kind, String(32)) if isinstance(self.kind, str) else self.kind,
            "rank": self.rank(),
            "id": self.row_id,
            **self.facts,
        }
        columns = [
            (type_coerce(given[name], kind) if name in given else cast(null(), kind)).label(name)
            for name, kind in COLUMNS.items()
        ]
        return self.query.with_only_columns(*columns, maintain_column_froms=True)


def _cut(part: _Part, after: Cursor | None, limit: int) -> Select[Any]:
    """The part's first `limit + 1` rows after the cursor, in the timeline's order."""
    query = part.select()
    if after is not None:
        query = query.where(_after(part, after))
    order = (
        (part.at.desc(), part.row_id.desc())
        if isinstance(part.kind, str)
        else (
            part.at.desc(),
            part.rank(),
            part.row_id.desc(),
        )
    )
    inner = query.order_by(*order).limit(limit + 1).subquery()
    return select(inner)


def _after(part: _Part, cursor: Cursor) -> ColumnElement[bool]:
    """SQL: the part's rows that come after the cursor's entry in (time desc, kind, id desc)."""
    at, kind, row_id = cursor
    earlier: ColumnElement[bool] = part.at < at
    if isinstance(part.kind, str):
        # One kind throughout: the comparison of kinds is known here, and the time alone narrows.
        if part.kind > kind:
            same_time_too: ColumnElement[bool] = part.at <= at
            return same_time_too
        if part.kind < kind:
            return earlier
        return or_(earlier, and_(part.at == at, part.row_id < row_id))
    rank = part.rank()
    return or_(
        earlier,
        and_(part.at == at, or_(rank > RANK[kind], and_(rank == RANK[kind], part.row_id < row_id))),
    )


def _parts(contact_id: int) -> list[_Part]:
    """Every kind of entry of the contact, each from its own table."""
    mine = Order.contact_id == contact_id, Order.deleted_at.is_(None)
    order_facts = {
        "amount": Order.total_price,
        "currency": Order.currency,
        "order_id": Order.id,
        "order_name": Order.name,
    }
    carts = Checkout.contact_id == contact_id, Checkout.deleted_at.is_(None)
    cart_facts = {
        "amount": Checkout.total_price,
        "currency": Checkout.currency,
        "order_id": Checkout.recovered_by_order_id,
    }
    sends = select(CampaignSend).join(Campaign, Campaign.id == CampaignSend.campaign_id)
    send_facts = {
        "campaign_id": Campaign.id,
        "campaign_name": Campaign.name,
        "channel": Campaign.channel,
    }
    parts = [
        _Part("order_placed", Order.created_at, Order.id, order_facts, select(Order).where(*mine)),
        _Part(
            "order_cancelled",
            Order.cancelled_at,
            Order.id,
            order_facts,
            select(Order).where(*mine, Order.cancelled_at.is_not(None)),
        ),
        _Part(
            "order_refunded",
            OrderRefund.created_at,
            OrderRefund.id,
            {**order_facts, "amount": OrderRefund.amount, "currency": OrderRefund.currency},
            select(OrderRefund)
            .join(
                Order,
                and_(
                    Order.store_id == OrderRefund.store_id, Order.external_id == OrderRefund.order_external_id
                ),
            )
            .where(*mine),
        ),
        _Part(
            "cart_abandoned",
            Checkout.abandoned_at,
            Checkout.id,
            {k: v for k, v in cart_facts.items() if k != "order_id"},
            select(Checkout).where(*carts, Checkout.abandoned_at.is_not(None)),
        ),
        _Part(
            "cart_recovered",
            Checkout.recovered_at,
            Checkout.id,
            cart_facts,
            select(Checkout).where(*carts, Checkout.recovered_at.is_not(None)),
        ),
    ]
    for kind, column in (
        ("campaign_sent", CampaignSend.sent_at),
        ("campaign_delivered", CampaignSend.delivered_at),
        ("campaign_returned", CampaignSend.returned_at),
        ("campaign_failed", CampaignSend.failed_at),
    ):
        query = sends.where(CampaignSend.contact_id == contact_id, column.is_not(None))
        parts.append(_Part(kind, column, CampaignSend.id, send_facts, query))
    parts += [
        _Part(
            InteractionEvent.type,
            InteractionEvent.occurred_at,
            InteractionEvent.id,
            {
                "campaign_id": InteractionEvent.campaign_id,
                "campaign_name": Campaign.name,
                "channel": Campaign.channel,
                "product_id": InteractionEvent.product_id,
            },
            select(InteractionEvent)
            .outerjoin(Campaign, Campaign.id == InteractionEvent.campaign_id)
            .where(InteractionEvent.contact_id == contact_id, InteractionEvent.type.in_(EVENT_KINDS)),
        ),
        _Part(
            "subscription_changed",
            SubscriptionTransition.changed_at,
            SubscriptionTransition.id,
            {
                "from_status": SubscriptionTransition.from_status,
                "to_status": SubscriptionTransition.to_status,
                "reason": SubscriptionTransition.reason,
            },
            select(SubscriptionTransition).where(SubscriptionTransition.contact_id == contact_id),
        ),
        _Part(
            "engagement_changed",
            EngagementTransition.at,
            EngagementTransition.id,
            {
                "from_status": EngagementTransition.from_status,
                "to_status": EngagementTransition.to_status,
                "reason": EngagementTransition.reason,
            },
            select(EngagementTransition).where(EngagementTransition.contact_id == contact_id),
        ),
    ]
    for kind, change in (("segment_entered", "entered"), ("segment_left", "left")):
        changes = (
            select(SegmentChange)
            .join(Segment, Segment.id == SegmentChange.segment_id)
            .where(SegmentChange.contact_id == contact_id, SegmentChange.change == change)
        )
        facts = {"segment_id": Segment.id, "segment_name": Segment.name, "reason": SegmentChange.reason}
        parts.append(_Part(kind, SegmentChange.at, SegmentChange.id, facts, changes))
    return parts
