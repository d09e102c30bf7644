"""Ingestion: turn source records into the store, set-based per batch, idempotent and order-safe.

Each function takes a session, the store the records came from and a batch of records, and returns
an `Outcome` naming the contacts whose classification may have changed.
"""

from integration.contract import Outcome
from integration.ingest.campaigns import ingest_campaigns, ingest_sends
from integration.ingest.commerce import ingest_checkouts, ingest_orders
from integration.ingest.customers import ingest_customers
from integration.ingest.events import ingest_events
from integration.ingest.recompute import recompute_last_interactions
from integration.ingest.refunds import ingest_refunds
from integration.ingest.removals import delete_checkouts, delete_customers, delete_orders

__all__ = [
    "Outcome",
    "delete_checkouts",
    "delete_customers",
    "delete_orders",
    "ingest_campaigns",
    "ingest_checkouts",
    "ingest_customers",
    "ingest_events",
    "ingest_orders",
    "ingest_refunds",
    "ingest_sends",
    "recompute_last_interactions",
]
