"""A contact with one entry of every kind its activity timeline shows, for the timeline's tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from integration.accounts import add_store, create_account
from integration.store.models import (
    Campaign,
    CampaignChannel,
    CampaignSend,
    Checkout,
    CheckoutState,
    Contact,
    EngagementStatus,
    EngagementTransition,
    InteractionEvent,
    InteractionType,
    Order,
    OrderRefund,
    Platform,
    Segment,
    SegmentChange,
    SendStatus,
    SubscriptionStatus,
    SubscriptionTransition,
)

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Shop:
    account_id: int
    store_id: int
    contact_id: int


def shop(session: Session, name: str = "Timeline shop", time_zone: str = "Europe/Warsaw") -> Shop:
    """An account with a store and one contact."""
    account_id = create_account(session, name, time_zone).id
    store = add_store(session, account_id, platform=Platform.API, name=f"{name} store", currency="EUR")
    contact = Contact(account_id=account_id, email=f"anna@{store.id}.example.com", first_name="Anna")
    session.add(contact)
    session.flush()
    return Shop(account_id, store.id, contact.id)


def contact_of(session: Session, where: Shop, email: str) -> int:
    """Another contact of the same account."""
    contact = Contact(account_id=where.account_id, email=email)
    session.add(contact)
    session.flush()
    return contact.id


def record_everything(
    session: Session,
    where: Shop,
    contact_id: int,
    start: datetime = START,
    step: timedelta = timedelta(hours=1),
    label: str = "",
) -> int:
    """One entry of every kind for the contact, each `step` after the one before (all at `start` when
    `step` is zero), plus a deleted order and a deleted cart that must not show; return the count.
    A second call for the same contact needs its own `label` (store ids and names are unique)."""
    moments = (start + step * n for n in range(100))
    tag = f"{contact_id}{label}"
    placed = next(moments)
    order = Order(
        store_id=where.store_id,
        contact_id=contact_id,
        external_id=f"o-{tag}",
        name=f"#10{tag}",
        created_at=placed,
        updated_at=placed,
        cancelled_at=next(moments),
        currency="EUR",
        total_price=Decimal("59.80"),
    )
    session.add(
        Order(
            store_id=where.store_id,
            contact_id=contact_id,
            external_id=f"gone-{tag}",
            created_at=placed,
            updated_at=placed,
            currency="EUR",
            total_price=Decimal("1.00"),
            deleted_at=placed,
        )
    )
    session.add(order)
    session.flush()
    session.add(
        OrderRefund(
            store_id=where.store_id,
            external_id=f"r-{tag}",
            order_external_id=order.external_id,
            amount=Decimal("19.90"),
            currency="EUR",
            created_at=next(moments),
        )
    )
    abandoned, recovered = next(moments), next(moments)
    session.add_all(
        [
            Checkout(
                store_id=where.store_id,
                token=f"cart-{tag}",
                contact_id=contact_id,
                created_at=abandoned,
                updated_at=recovered,
                currency="EUR",
                total_price=Decimal("29.90"),
                state=CheckoutState.RECOVERED,
                abandoned_at=abandoned,
                recovered_at=recovered,
                recovered_by_order_id=order.id,
            ),
            Checkout(
                store_id=where.store_id,
                token=f"gone-cart-{tag}",
                contact_id=contact_id,
                created_at=abandoned,
                updated_at=abandoned,
                currency="EUR",
                total_price=Decimal("5.00"),
                state=CheckoutState.ABANDONED,
                abandoned_at=abandoned,
                deleted_at=abandoned,
            ),
        ]
    )
    campaign = Campaign(account_id=where.account_id, channel=CampaignChannel.EMAIL, name=f"Winter sale {tag}")
    letter = Campaign(account_id=where.account_id, channel=CampaignChannel.LETTER, name=f"Catalogue {tag}")
    session.add_all([campaign, letter])
    session.flush()
    session.add_all(
        [
            CampaignSend(
                campaign_id=campaign.id,
                contact_id=contact_id,
                status=SendStatus.DELIVERED,
                sent_at=next(moments),
                delivered_at=next(moments),
            ),
            CampaignSend(
                campaign_id=letter.id,
                contact_id=contact_id,
                status=SendStatus.RETURNED,
                returned_at=next(moments),
                failed_at=next(moments),
            ),
        ]
    )
    for n, kind in enumerate(
        (
            InteractionType.EMAIL_OPEN,
            InteractionType.EMAIL_CLICK,
            InteractionType.QR_SCAN,
            InteractionType.PRODUCT_VIEW,
            InteractionType.ADD_TO_CART,
            InteractionType.ORDER_PLACED,  # an order's own event: the order shows instead
        )
    ):
        session.add(
            InteractionEvent(
                account_id=where.account_id,
                contact_id=contact_id,
                type=kind,
                occurred_at=next(moments),
                source="test",
                source_event_id=f"e-{tag}-{n}",
                campaign_id=campaign.id if kind != InteractionType.QR_SCAN else letter.id,
                product_id="p-7"
                if kind in (InteractionType.PRODUCT_VIEW, InteractionType.ADD_TO_CART)
                else None,
            )
        )
    segment = Segment(account_id=where.account_id, name=f"VIP {tag}")
    session.add(segment)
    session.flush()
    session.add_all(
        [
            SubscriptionTransition(
                account_id=where.account_id,
                contact_id=contact_id,
                from_status=SubscriptionStatus.UNKNOWN,
                to_status=SubscriptionStatus.SUBSCRIBED,
                changed_at=next(moments),
                reason="signup_form",
            ),
            EngagementTransition(
                account_id=where.account_id,
                contact_id=contact_id,
                from_status=EngagementStatus.UNENGAGED,
                to_status=EngagementStatus.ENGAGED,
                at=next(moments),
                reason="email_open",
            ),
            SegmentChange(
                segment_id=segment.id,
                contact_id=contact_id,
                change="entered",
                at=next(moments),
                reason="data",
            ),
            SegmentChange(
                segment_id=segment.id, contact_id=contact_id, change="left", at=next(moments), reason="edited"
            ),
        ]
    )
    session.flush()
    return 18
