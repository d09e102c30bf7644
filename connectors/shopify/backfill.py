"""Reading a shop's existing data: bulk backfill after install, and reconciliation of recent changes.

The backfill runs one bulk query per stage (customers with consent and tags, orders with line items,
abandoned checkouts). When Shopify reports the operation finished (`bulk_operations/finish`, or a
poll), its JSONL result is streamed line by line and normalized in batches through the same path as
webhooks, in constant memory; then the next stage starts. Reconciliation re-reads orders and
customers updated since the last run, because Shopify does not guarantee webhook delivery.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import select, update

from connectors.shopify.client import ShopifyClient
from connectors.shopify.schemas import GRAPH_SCHEMAS
from connectors.shopify.source import backfill_records
from integration.contacts import engagement
from integration.errors import FatalConnectorError
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import Backfill, BackfillStatus, Store
from integration.store.types import utcnow

logger = logging.getLogger(__name__)

STAGES = ("customers", "orders", "checkouts")
BATCH = 500
RECONCILE_OVERLAP = timedelta(minutes=10)  # re-read a little before the last run: clocks and commits lag
RECONCILE_FIRST = timedelta(days=1)

_CUSTOMER_FIELDS = """
  id firstName lastName createdAt updatedAt tags
  defaultEmailAddress { emailAddress marketingState marketingUpdatedAt }
  defaultPhoneNumber { phoneNumber }
"""
_MONEY = "shopMoney { amount currencyCode }"
_LINE_ITEM_FIELDS = f"""
  id title quantity sku variantTitle
  originalUnitPriceSet {{ {_MONEY} }} totalDiscountSet {{ {_MONEY} }}
  discountAllocations {{ allocatedAmountSet {{ {_MONEY} }} }}
  product {{ id }} variant {{ id }}
"""
_ORDER_FIELDS = f"""
  id name email createdAt updatedAt processedAt cancelledAt
  displayFinancialStatus displayFulfillmentStatus currencyCode checkoutToken cartToken sourceName
  totalPriceSet {{ {_MONEY} }} subtotalPriceSet {{ {_MONEY} }} totalDiscountsSet {{ {_MONEY} }}
  totalTaxSet {{ {_MONEY} }} totalShippingPriceSet {{ {_MONEY} }}
  customer {{ id defaultEmailAddress {{ emailAddress }} }}
  refunds {{ id createdAt totalRefundedSet {{ {_MONEY} }} }}
"""
# Abandoned checkouts' line items (AbandonedCheckoutLineItem) have no totalDiscountSet, and the
# store keeps no discount per checkout line: only what the store keeps is read.
_CHECKOUT_LINE_ITEM_FIELDS = f"""
  id title quantity sku variantTitle originalUnitPriceSet {{ {_MONEY} }} product {{ id }} variant {{ id }}
"""
_CHECKOUT_FIELDS = f"""
  id abandonedCheckoutUrl createdAt updatedAt completedAt
  totalPriceSet {{ {_MONEY} }}
  customer {{ id defaultEmailAddress {{ emailAddress }} }}
"""

BULK_QUERIES = {
    "customers": f"{{ customers {{ edges {{ node {{ {_CUSTOMER_FIELDS} }} }} }} }}",
    "orders": (
        f"{{ orders {{ edges {{ node {{ {_ORDER_FIELDS} "
        f"lineItems {{ edges {{ node {{ {_LINE_ITEM_FIELDS} }} }} }} }} }} }} }}"
    ),
    "checkouts": (
        f"{{ abandonedCheckouts {{ edges {{ node {{ {_CHECKOUT_FIELDS} "
        f"lineItems {{ edges {{ node {{ {_CHECKOUT_LINE_ITEM_FIELDS} }} }} }} }} }} }} }}"
    ),
}

RUN_BULK_QUERY = """
mutation($query: String!) {
  bulkOperationRunQuery(query: $query, groupObjects: true) {
    bulkOperation { id status }
    userErrors { field message code }
  }
}
"""

BULK_STATUS = """
query($id: ID!) {
  bulkOperation(id: $id) { id status errorCode objectCount url partialDataUrl }
}
"""

RECENT = {
    "orders": f"""
query($after: String, $query: String!) {{
  orders(first: 50, after: $after, query: $query, sortKey: UPDATED_AT) {{
    edges {{ node {{ {_ORDER_FIELDS}
      lineItems(first: 100) {{ edges {{ node {{ {_LINE_ITEM_FIELDS} }} }} }} }} }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}""",
    "customers": f"""
query($after: String, $query: String!) {{
  customers(first: 100, after: $after, query: $query, sortKey: UPDATED_AT) {{
    edges {{ node {{ {_CUSTOMER_FIELDS} }} }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}""",
}

CUSTOMERS_BY_ID = f"""
query($ids: [ID!]!) {{
  nodes(ids: $ids) {{ ... on Customer {{ {_CUSTOMER_FIELDS} }} }}
}}"""


def start(settings: Settings, client: ShopifyClient, store_id: int, stage: str = STAGES[0]) -> int:
    """Start one stage of a store's backfill as a bulk query; return the stage's id.

    The stage is recorded as pending first: if Shopify cannot be reached, the upkeep job starts it
    later. If Shopify refuses the query for good, the stage is failed (see `start_pending`).
    """
    with session_scope(settings.database_url) as session:
        backfill = Backfill(store_id=store_id, stage=stage, status="pending")
        session.add(backfill)
        session.flush()
        backfill_id = backfill.id
    start_pending(settings, client, backfill_id)
    return backfill_id


def start_pending(settings: Settings, client: ShopifyClient, backfill_id: int) -> bool:
    """Run the bulk query of a pending stage; False if another worker claimed it first.

    A refusal that a retry cannot cure (a query Shopify does not validate, a missing access scope,
    a rejected token) ends the stage as failed with Shopify's error, and the backfill stops there.
    Anything else (throttling, 5xx, the network) puts the stage back to pending and is raised, so
    the job's retry or the upkeep job starts it again.
    """
    if not _claim(settings, backfill_id, "pending", "starting"):
        return False
    with session_scope(settings.database_url) as session:
        stage = session.get(Backfill, backfill_id)
        assert stage is not None  # noqa: S101 - just claimed
        kind = stage.stage
    try:
        payload = client.mutation(RUN_BULK_QUERY, {"query": BULK_QUERIES[kind]}, "bulkOperationRunQuery")
    except FatalConnectorError as exc:
        logger.warning("backfill stage %s (%s) cannot start: %s", backfill_id, kind, exc)
        _set(settings, backfill_id, status="failed", error=str(exc)[:2000], finished_at=utcnow())
        return True
    except Exception:
        _set(settings, backfill_id, status="pending")  # the upkeep job tries again
        raise
    operation = payload.get("bulkOperation") or {}
    _set(settings, backfill_id, status="running", operation_id=operation.get("id"), started_at=utcnow())
    return True


def check(settings: Settings, client: ShopifyClient, backfill_id: int) -> str:
    """Look at a running stage; import its result when it has finished and start the next stage.

    Returns the stage's status afterwards. A stage another worker is importing is left to it.
    """
    with session_scope(settings.database_url) as session:
        backfill = session.get(Backfill, backfill_id)
        if backfill is None:
            raise FatalConnectorError(f"no backfill {backfill_id}")
        store_id, stage, operation_id, status = (
            backfill.store_id,
            backfill.stage,
            backfill.operation_id,
            backfill.status,
        )
    if status != "running" or not _claim(settings, backfill_id, "running", "importing"):
        return status
    try:
        operation = client.graphql(BULK_STATUS, {"id": operation_id}).get("bulkOperation") or {}
        state = str(operation.get("status", "")).upper()
        if state in ("CREATED", "RUNNING", "CANCELING"):
            _set(settings, backfill_id, status="running")
            return "running"
        url = operation.get("url") if state == "COMPLETED" else operation.get("partialDataUrl")
        records, invalid = import_lines(settings, store_id, stage, client.download(url)) if url else (0, 0)
    except Exception:
        _set(settings, backfill_id, status="running")  # the next poll imports it again (upserts)
        raise
    next_id = None
    with session_scope(settings.database_url) as session:
        backfill = session.get(Backfill, backfill_id)
        assert backfill is not None  # noqa: S101 - claimed above; backfills are not deleted
        backfill.records, backfill.invalid = records, invalid
        backfill.finished_at = utcnow()
        if state == "COMPLETED":
            backfill.status = BackfillStatus.COMPLETED
            if stage != STAGES[-1]:
                # Recorded with the completion, so the next stage cannot be lost between the two.
                following = Backfill(
                    store_id=store_id, stage=STAGES[STAGES.index(stage) + 1], status="pending"
                )
                session.add(following)
                session.flush()
                next_id = following.id
        else:
            backfill.status = BackfillStatus.FAILED
            backfill.error = f"bulk operation {state.lower() or 'unknown'}: {operation.get('errorCode')}"
        result = backfill.status
    if next_id is not None:
        start_pending(settings, client, next_id)
    return result


def _claim(settings: Settings, backfill_id: int, from_status: str, to_status: str) -> bool:
    with session_scope(settings.database_url) as session:
        result = session.execute(
            update(Backfill)
            .where(Backfill.id == backfill_id, Backfill.status == from_status)
            .values(status=to_status, claimed_at=utcnow())
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


def _set(settings: Settings, backfill_id: int, **values: Any) -> None:
    with session_scope(settings.database_url) as session:
        session.execute(update(Backfill).where(Backfill.id == backfill_id).values(**values))


def import_lines(settings: Settings, store_id: int, kind: str, lines: Iterable[bytes]) -> tuple[int, int]:
    """Normalize a bulk result (JSONL, children after their parent) in batches; return (records, invalid)."""
    return _import(settings, store_id, kind, _grouped(lines))


def _write(settings: Settings, store_id: int, kind: str, records: list[Any]) -> int:
    with session_scope(settings.database_url) as session:
        store = session.get(Store, store_id)
        if store is None:
            raise FatalConnectorError(f"store {store_id} no longer exists")
        outcome = backfill_records(session, store, kind, records)
        if outcome.contact_ids:
            engagement.classify(session, store.account_id, outcome.contact_ids)
    return len(records)


def _grouped(lines: Iterable[bytes]) -> Iterator[dict[str, Any]]:
    """Yield top-level nodes with their child lines (`__parentId`) gathered under `lineItems`."""
    current: dict[str, Any] | None = None
    for raw in lines:
        node = json.loads(raw)
        parent = node.pop("__parentId", None)
        if parent is None:
            if current is not None:
                yield current
            current = {**node, "lineItems": []} if "lineItems" not in node else node
        elif current is not None and current.get("id") == parent:
            current["lineItems"].append(node)
        else:
            logger.warning("bulk result line whose parent %s is not the line before it; skipped", parent)
    if current is not None:
        yield current


def reconcile(settings: Settings, client: ShopifyClient, store_id: int, now: datetime | None = None) -> int:
    """Re-read orders and customers updated since the last reconciliation; return how many were read."""
    now = now or utcnow()
    with session_scope(settings.database_url) as session:
        store = session.get(Store, store_id)
        if store is None:
            raise FatalConnectorError(f"no store {store_id}")
        since = (store.reconciled_at or now - RECONCILE_FIRST) - RECONCILE_OVERLAP
    search = f"updated_at:>'{since.strftime('%Y-%m-%dT%H:%M:%SZ')}'"
    read = 0
    for kind, query in RECENT.items():
        root = "orders" if kind == "orders" else "customers"
        nodes = client.paginate(query, {"query": search}, (root,))
        # Customers as read now: their consent and tags apply even where the profile is unchanged.
        read += import_records(settings, store_id, "customer_details" if kind == "customers" else kind, nodes)
    with session_scope(settings.database_url) as session:
        store = session.get(Store, store_id)
        if store is not None:
            store.reconciled_at = now
    return read


def import_records(settings: Settings, store_id: int, kind: str, nodes: Iterable[dict[str, Any]]) -> int:
    """Normalize GraphQL nodes of one kind in batches; invalid ones are logged and skipped."""
    return _import(settings, store_id, kind, nodes)[0]


def _import(settings: Settings, store_id: int, kind: str, nodes: Iterable[dict[str, Any]]) -> tuple[int, int]:
    """Load nodes with the kind's schema and write them BATCH at a time; return (written, invalid)."""
    schema = GRAPH_SCHEMAS[kind]
    written, invalid, batch = 0, 0, []
    for node in nodes:
        try:
            batch.append(schema.load(node))
        except ValidationError as exc:
            invalid += 1
            logger.info("store %s: invalid %s record: %s", store_id, kind, exc.messages)
        if len(batch) >= BATCH:
            written += _write(settings, store_id, kind, batch)
            batch = []
    if batch:
        written += _write(settings, store_id, kind, batch)
    return written, invalid


def read_customers(settings: Settings, client: ShopifyClient, store_id: int, customer_ids: list[str]) -> int:
    """Read customers' consent and tags (absent from webhook payloads since API 2025-01)."""
    nodes: list[dict[str, Any]] = []
    for start_at in range(0, len(customer_ids), 100):
        ids = [f"gid://shopify/Customer/{c}" for c in customer_ids[start_at : start_at + 100]]
        nodes.extend(n for n in client.graphql(CUSTOMERS_BY_ID, {"ids": ids}).get("nodes") or [] if n)
    return import_records(settings, store_id, "customer_details", nodes)


def due(settings: Settings, older_than: timedelta, stuck_after: timedelta) -> dict[str, list[int]]:
    """Stages the upkeep job should move on: running ones to poll (their finish webhook may be lost),
    pending ones to start; stages left starting or importing by a worker that died are put back first.
    Only bulk reads (Shopify's) are looked at: a stage read page by page has no `page` None.
    """
    now = utcnow()
    with session_scope(settings.database_url) as session:
        for claimed, back in (("starting", "pending"), ("importing", "running")):
            session.execute(
                update(Backfill)
                .where(
                    Backfill.status == claimed,
                    Backfill.page.is_(None),  # a stage read by pages is another platform's
                    Backfill.claimed_at < now - stuck_after,
                )
                .values(status=back)
            )
        rows = session.execute(
            select(Backfill.id, Backfill.status).where(
                Backfill.status.in_(("running", "pending")),
                Backfill.page.is_(None),
                Backfill.started_at < now - older_than,
            )
        ).all()
    return {
        "running": [i for i, status in rows if status == "running"],
        "pending": [i for i, status in rows if status == "pending"],
    }
