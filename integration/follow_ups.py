"""Follow-ups: the work an ingested batch asks for once it is committed, as typed values.

What a batch changed decides them (see `Outcome.follow_ups`): any change of an account's data asks
for its statistics and its syncs, changed orders (or what buyers spent) for its RFM scores; a source
may ask for more (customers to read from their store, a backfill's next stage). The jobs queue each
kind from one table (`jobs.ingest.DISPATCH`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RefreshStats:
    """The account's statistics for the API are out of date."""

    account_id: int


@dataclass(frozen=True)
class SyncAccount:
    """The account's data changed, so its segments may have: its started syncs run."""

    account_id: int


@dataclass(frozen=True)
class RefreshRfm:
    """Orders or refunds of the account changed: its RFM scores are recomputed."""

    account_id: int


@dataclass(frozen=True)
class ReadCustomers:
    """Customers arrived without their consent and tags: read them from their store."""

    store_id: int
    customer_ids: tuple[str, ...]


@dataclass(frozen=True)
class ContinueBackfill:
    """A backfill stage's export finished: import it and start the next stage."""

    backfill_id: int


FollowUp = RefreshStats | SyncAccount | RefreshRfm | ReadCustomers | ContinueBackfill
