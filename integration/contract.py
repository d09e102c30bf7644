"""The connector contract: what sources hand the store and what the store hands destinations.

Inbound, a `Source` turns one stored inbox delivery into the records below (`CustomerRecord`,
`OrderRecord`, ...) through the ingest functions and reports an `Outcome`: a replayed delivery or
record counts as `duplicate`, an older version than the one stored as `unchanged` (it never
overwrites a newer one), and a malformed record is listed in `skipped` with its position and
reason while the valid ones are stored. A `BatchingSource` can also normalize several deliveries in
one call.

Outbound, a sync run hands a `DestinationClient` batches of `Change`s and gets back a `Delivery`
naming each contact's outcome. The registry in `connectors.registry` opens one per run from a
`Target`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

from sqlalchemy.orm import Session

from integration.follow_ups import FollowUp, RefreshRfm, RefreshStats, SyncAccount
from integration.store.models import (
    CampaignChannel,
    InboxDelivery,
    InteractionType,
    SendStatus,
    SubscriptionStatus,
    Sync,
    SyncMode,
)


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


# What a storefront event is, as the Shopify pixel and the tracking snippet report it. Product views
# and add-to-carts are interactions; the others (and every event) can tie the visitor to a contact.
# `identify` is the snippet's claim of an email address: the weakest tie (see ingest.storefront).
STOREFRONT_KINDS = (
    "page_view",
    "product_view",
    "add_to_cart",
    "checkout_started",
    "checkout_completed",
    "identify",
)


@dataclass(frozen=True)
class StorefrontRecord:
    """One event from a storefront: a visitor (a browser's id) did something, perhaps as a customer."""

    event_id: str
    kind: str  # one of STOREFRONT_KINDS
    occurred_at: datetime
    visitor: str
    # The platform's customer id (a logged-in customer, a completed checkout's buyer), if it named one.
    customer_id: str | None = None
    checkout_token: str | None = None
    product_id: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    # An address the page claimed (`identify`): unverified, so it only ever ties an untied visitor
    # to an existing contact, and changes nothing about that contact.
    email: str | None = None


@dataclass(frozen=True)
class CampaignRecord:
    external_id: str
    channel: CampaignChannel
    name: str
    preview: bytes | None = None
    preview_content_type: str | None = None
    created_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class SendTimes:
    """When a send reached each status; a send reported by a source or by a caller carries these."""

    queued_at: datetime | None = None
    sent_at: datetime | None = None
    delivered_at: datetime | None = None
    returned_at: datetime | None = None
    failed_at: datetime | None = None


SEND_TIMES = tuple(f.name for f in fields(SendTimes))


@dataclass(frozen=True)
class SendRecord(SendTimes):
    campaign_id: str
    status: SendStatus
    customer_id: str | None = None
    email: str | None = None


@dataclass
class Outcome:
    """What one ingest call did; `contact_ids` are the contacts whose classification may change,
    for the caller to classify (an orders import gives none: the fold that ends it classifies its
    buyers).

    `duplicate` counts records already stored as they are (the same event id, or the same version
    of a record, again: a replay); `unchanged` counts those that changed nothing otherwise (an
    older version than the one stored).
    """

    written: int = 0
    unchanged: int = 0
    duplicate: int = 0
    skipped: list[dict[str, Any]] = field(default_factory=list)
    contact_ids: set[int] = field(default_factory=set)
    account_id: int | None = None
    # Work its source asks for once the batch is committed (customers to read, a backfill's next stage).
    asked: list[FollowUp] = field(default_factory=list)
    # Orders, or what buyers spent, changed: RFM scores follow.
    orders_changed: bool = False

    def merge(self, other: Outcome) -> Outcome:
        self.written += other.written
        self.unchanged += other.unchanged
        self.duplicate += other.duplicate
        self.skipped.extend(other.skipped)
        self.contact_ids |= other.contact_ids
        self.asked.extend(other.asked)
        self.orders_changed |= other.orders_changed
        return self

    def follow_ups(self) -> list[FollowUp]:
        """Return the work to queue once the batch is committed: what its source asked for, then
        what its changes call for (nothing more without an account)."""
        due: list[FollowUp] = list(self.asked)
        if self.account_id is None:
            return due
        if self.orders_changed:
            due.append(RefreshRfm(self.account_id))
        if self.written or self.contact_ids:
            due += [RefreshStats(self.account_id), SyncAccount(self.account_id)]
        return due

    def as_dict(self) -> dict[str, Any]:
        return {
            "written": self.written,
            "unchanged": self.unchanged,
            "duplicate": self.duplicate,
            "skipped": self.skipped,
        }

    def count_stale(self, incoming: datetime, stored: datetime | None) -> None:
        """Count a record not written because a version as new (a duplicate) or newer is stored."""
        if stored is not None and stored == incoming:
            self.duplicate += 1
        else:
            self.unchanged += 1


class Source(Protocol):
    """A source connector: turns one stored delivery into store records.

    `process` raises InvalidRecord when the delivery as a whole cannot be read (it fails at once),
    reports each malformed record in the outcome's `skipped` with its position and reason (the
    valid ones are stored), and sets the outcome's `account_id` so that the contacts it touched are
    reclassified.
    """

    name: str

    def process(self, session: Session, delivery: InboxDelivery) -> Outcome: ...


@runtime_checkable
class BatchingSource(Source, Protocol):
    """A source that can also normalize several deliveries of one kind in one call."""

    def batch_key(self, delivery: InboxDelivery) -> tuple[Any, ...] | None:
        """Deliveries with the same key can be normalized in one call; None: alone."""
        ...

    def process_batch(self, session: Session, deliveries: Sequence[InboxDelivery]) -> Outcome:
        """Normalize deliveries sharing a batch key together; raise if any one cannot be read."""
        ...


ADD, UPDATE, REMOVE = "add", "update", "remove"
# Why a member is removed: it left the segment, or it may no longer be marketed to at all.
LEFT, UNSUBSCRIBED, BLOCKED, DELETED = "left", "unsubscribed", "blocked", "deleted"


@dataclass(frozen=True, slots=True)
class Change:
    """One contact's difference between the segment and what the destination has."""

    action: str  # add | update | remove
    contact_id: int
    email: str | None  # for removals: the address delivered earlier
    previous_email: str | None = None  # updates: the address delivered earlier, if it changed
    first_name: str | None = None
    last_name: str | None = None
    remote_id: str | None = None  # the destination's id of the contact (Shopify customer, Klaviyo profile)
    reason: str | None = None  # removals: left | unsubscribed | blocked | deleted
    digest: str | None = None
    attempts: int = 0
    known: bool = False  # the sync has a state for the contact (to replace when recording)
    previous_remote_id: str | None = None  # tags: the customer that carried the tag, if it changed
    delivered_at: datetime | None = None  # when the destination last took the contact's data


@dataclass
class Delivery:
    """What a destination did with a batch of changes: per contact, done or failed and why.

    `refused` are permanent per-contact refusals (e.g. Mailchimp's compliance state): not retried
    until the contact's data changes. `config` holds values the sync should remember (a tag's id).
    """

    done: dict[int, str | None] = field(default_factory=dict)  # contact id -> destination's id
    failed: dict[int, str] = field(default_factory=dict)
    refused: dict[int, str] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    # The whole batch failed for a passing reason (the destination down): no contact's attempt counts.
    transient: bool = False

    def by_address(self, changes: Iterable[Change], problems: Mapping[str, str]) -> None:
        """Count each change done, or failed with the problem the vendor listed under its address.

        `problems` is keyed by lower-case address (vendors report errors by email, not by our ids).
        """
        for change in changes:
            problem = problems.get((change.email or "").lower())
            if problem is None:
                self.done[change.contact_id] = None
            else:
                self.failed[change.contact_id] = problem


class DestinationClient(Protocol):
    """A connection to the place a sync's results go, opened per run from a `Destination` row.

    `deliver` reports per-contact outcomes; it raises only for the whole batch: CredentialsRejected
    or AddressRefused (the sync stops), RetriableConnectorError (the batch is retried next run) or
    FatalConnectorError (the batch's contacts are recorded as failed).
    """

    name: str
    batch_size: int
    concurrency: int  # batches it may work on at once (each in its own thread)

    def deliver(self, changes: Sequence[Change]) -> Delivery: ...


@dataclass(frozen=True)
class Target:
    """What a run needs of its sync, read once (no session held while the destination works)."""

    id: int
    account_id: int
    segment_id: int
    destination_id: int
    mode: SyncMode
    config: dict[str, Any]

    @classmethod
    def of(cls, sync: Sync | Target) -> Target:
        if isinstance(sync, Target):
            return sync
        return cls(
            sync.id, sync.account_id, sync.segment_id, sync.destination_id, sync.mode, dict(sync.config)
        )
