"""The store's tables, one module per concept; import from here."""

from integration.store.models.accounts import Account, ApiKey, EmailSource, Sender, Store
from integration.store.models.base import (
    COUNTED_INTERACTIONS,
    NON_REVENUE_FINANCIAL_STATUSES,
    NOT_PLACED_FINANCIAL_STATUSES,
    Base,
    BlockedReason,
    CampaignChannel,
    CheckoutState,
    DestinationKind,
    EmailTool,
    EngagementStatus,
    ImportStatus,
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
    StatsCache,
    StoreCustomer,
    SubscriptionTransition,
)
from integration.store.models.imports import Import, ImportPart
from integration.store.models.inbox import InboxDelivery
from integration.store.models.leaderboard import ContactPeriodSpend
from integration.store.models.platform import Backfill, DataExport
from integration.store.models.rfm import RfmScore
from integration.store.models.sync import Destination, Segment, Sync, SyncState

__all__ = [
    "Sender",
    "ContactPeriodSpend",
    "RfmScore",
    "StatsCache",
    "Backfill",
    "DataExport",
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
    "EmailSource",
    "EmailTool",
    "EngagementStatus",
    "EngagementTransition",
    "Import",
    "ImportPart",
    "ImportStatus",
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
    "SubscriptionTransition",
    "Sync",
    "SyncMode",
    "SyncState",
    "table_of",
]
