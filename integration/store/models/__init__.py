"""The store's tables, one module per concept; import from here."""

from integration.store.models.accounts import Account, ApiKey, Store
from integration.store.models.base import (
    COUNTED_INTERACTIONS,
    NON_REVENUE_FINANCIAL_STATUSES,
    NOT_PLACED_FINANCIAL_STATUSES,
    Base,
    BlockedReason,
    CampaignChannel,
    CheckoutState,
    DestinationKind,
    EngagementStatus,
    InboxStatus,
    InteractionType,
    Platform,
    SendStatus,
    StoreState,
    SubscriptionStatus,
    SyncMode,
    table_of,
)
from integration.store.models.campaigns import Campaign, CampaignPreview, CampaignSend
from integration.store.models.commerce import Checkout, CheckoutLineItem, Order, OrderLineItem
from integration.store.models.contacts import (
    Contact,
    ContactSnapshot,
    EngagementTransition,
    InteractionEvent,
    StoreCustomer,
)
from integration.store.models.inbox import InboxDelivery
from integration.store.models.sync import Destination, Segment, Sync, SyncState

__all__ = [
    "COUNTED_INTERACTIONS",
    "NON_REVENUE_FINANCIAL_STATUSES",
    "NOT_PLACED_FINANCIAL_STATUSES",
    "Account",
    "ApiKey",
    "Base",
    "BlockedReason",
    "Campaign",
    "CampaignChannel",
    "CampaignPreview",
    "CampaignSend",
    "Checkout",
    "CheckoutLineItem",
    "CheckoutState",
    "Contact",
    "ContactSnapshot",
    "Destination",
    "DestinationKind",
    "EngagementStatus",
    "EngagementTransition",
    "InboxDelivery",
    "InboxStatus",
    "InteractionEvent",
    "InteractionType",
    "Order",
    "OrderLineItem",
    "Platform",
    "Segment",
    "SendStatus",
    "Store",
    "StoreCustomer",
    "StoreState",
    "SubscriptionStatus",
    "Sync",
    "SyncMode",
    "SyncState",
    "table_of",
]
