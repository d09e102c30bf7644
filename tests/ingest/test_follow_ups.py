"""The work asked for after a batch is ingested, by kind of batch: what is queued once it is committed."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, get_args

import pytest
from rq import Queue
from rq.serializers import JSONSerializer
from sqlalchemy.orm import Session

from connectors.registry import SOURCES
from integration.audiences import destinations
from integration.follow_ups import (
    ContinueBackfill,
    FollowUp,
    ReadCustomers,
    RefreshRfm,
    RefreshStats,
    SyncAccount,
)
from integration.ingest import Outcome, inbox
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import Backfill, Store
from integration.store.redis import connection
from jobs.ingest import DISPATCH, run_follow_ups
from tests.support.builders import make_store
from tests.support.shopify import payload

SYNC_ID = 4242  # the account's one started sync, as the sync registry answers it
# The job each follow-up queues, by the name this table gives it.
WORK = {
    "refresh_stats_job": "stats",
    "run_sync_job": "syncs",
    "compute_rfm_job": "rfm",
    "read_customers_job": "read_customers",
    "continue_backfill_job": "continue_backfill",
}

ORDER = payload("orders_create")
CUSTOMER = payload("customers_create")
CHECKOUT = payload("checkouts_create")
API_CUSTOMER = {"id": "1", "email": "ann@example.com", "updated_at": "2026-06-01T10:00:00+02:00"}
API_ORDER = {
    "id": "o1",
    "email": "ann@example.com",
    "created_at": "2026-06-01T10:00:00+02:00",
    "updated_at": "2026-06-01T10:00:00+02:00",
    "currency": "EUR",
    "total_price": "29.90",
    "line_items": [{"title": "Linen shirt", "quantity": 1, "price": "29.90"}],
}


def _order(number: int) -> dict[str, Any]:
    made = copy.deepcopy(ORDER)
    made["id"] = ORDER["id"] + number
    return made


def _refund() -> dict[str, Any]:
    made = payload("refund")["refund"]
    made["order_id"] = ORDER["id"]
    return dict(made)


@dataclass
class Batch:
    """Deliveries stored before the batch (`before`, processed and their work dropped) and the batch."""

    source: str
    deliveries: list[tuple[str, Any]]
    before: list[tuple[str, Any]] = field(default_factory=list)
    setup: Callable[[Session, Store], None] | None = None


def _running_backfill(session: Session, store: Store) -> None:
    operation = payload("bulk_operations_finish")["admin_graphql_api_id"]
    session.add(Backfill(store_id=store.id, stage="orders", status="running", operation_id=operation))


CASES: dict[str, tuple[Batch, list[str]]] = {
    "api customers, new": (Batch("api", [("customers", [API_CUSTOMER])]), ["stats", "syncs"]),
    "api customers, replayed": (
        Batch("api", [("customers", [API_CUSTOMER])], before=[("customers", [API_CUSTOMER])]),
        [],
    ),
    "api orders, new": (Batch("api", [("orders", [API_ORDER])]), ["rfm", "stats", "syncs"]),
    "api orders, replayed": (
        Batch("api", [("orders", [API_ORDER])], before=[("orders", [API_ORDER])]),
        [],
    ),
    "api orders, all invalid": (Batch("api", [("orders", [{"id": "o2"}])]), []),
    "shopify order, alone": (Batch("shopify", [("orders/create", ORDER)]), ["rfm", "stats", "syncs"]),
    "shopify orders, together": (
        Batch("shopify", [("orders/create", _order(1)), ("orders/updated", _order(2))]),
        ["rfm", "stats", "syncs"],
    ),
    "shopify orders together, replayed": (
        Batch(
            "shopify",
            [("orders/create", _order(1)), ("orders/updated", _order(2))],
            before=[("orders/create", _order(1)), ("orders/updated", _order(2))],
        ),
        [],  # nothing changed: no RFM recomputation (asked for regardless until follow-ups were typed)
    ),
    "shopify order, replayed alone": (
        Batch("shopify", [("orders/create", ORDER)], before=[("orders/create", ORDER)]),
        [],
    ),
    "shopify order deleted": (
        Batch("shopify", [("orders/delete", {"id": ORDER["id"]})], before=[("orders/create", ORDER)]),
        ["rfm", "stats", "syncs"],
    ),
    "shopify unknown order deleted": (
        Batch("shopify", [("orders/delete", {"id": ORDER["id"]})]),
        [],
    ),
    "shopify refund of a stored order": (
        Batch("shopify", [("refunds/create", _refund())], before=[("orders/create", ORDER)]),
        ["rfm", "stats", "syncs"],
    ),
    "shopify refund of an unknown order": (
        Batch("shopify", [("refunds/create", _refund())]),
        ["stats", "syncs"],
    ),
    "shopify customer, consent unread": (
        Batch("shopify", [("customers/create", CUSTOMER)]),
        ["read_customers", "stats", "syncs"],
    ),
    "shopify checkout": (Batch("shopify", [("checkouts/create", CHECKOUT)]), ["stats", "syncs"]),
    "shopify bulk operation finished": (
        Batch(
            "shopify",
            [("bulk_operations/finish", payload("bulk_operations_finish"))],
            setup=_running_backfill,
        ),
        ["continue_backfill", "stats", "syncs"],
    ),
    "shopify unknown topic": (Batch("shopify", [("products/create", {"id": 1})]), []),
}


def _queued(settings: Settings) -> list[str]:
    found = []
    for queue in Queue.all(connection=connection(settings), serializer=JSONSerializer):
        found += [WORK.get(job.func_name.rsplit(".", 1)[-1], job.func_name) for job in queue.jobs]
    return sorted(found)


def _clear(settings: Settings) -> None:
    connection(settings).flushdb()


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_the_work_after_a_batch_follows_what_it_changed(
    case: str, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch, expected = CASES[case]
    monkeypatch.setattr(destinations, "enabled_sync_ids", lambda session, account_id=None: [SYNC_ID])
    number = iter(range(1, 100))

    def receive(session: Session, store: Store, deliveries: list[tuple[str, Any]]) -> list[int]:
        return [
            inbox.receive(
                session,
                source=batch.source,
                topic=topic,
                delivery_id=f"d{next(number)}",
                body=json.dumps(body).encode(),
                store_id=store.id,
            ).id
            for topic, body in deliveries
        ]

    with session_scope(settings.database_url) as session:
        store = make_store(session)
        if batch.setup is not None:
            batch.setup(session, store)
        earlier = receive(session, store, batch.before)
        inbox.process(session, earlier, SOURCES)
        ids = receive(session, store, batch.deliveries)
    follow_ups: list[Any] = []
    with session_scope(settings.database_url) as session:
        counts = inbox.process(session, ids, SOURCES, follow_ups=follow_ups)
    assert counts["retry"] == 0
    _clear(settings)
    run_follow_ups(settings, follow_ups)
    assert _queued(settings) == expected


ACCOUNT = 7
DECISIONS: dict[str, tuple[Outcome, list[FollowUp]]] = {
    "nothing changed": (Outcome(account_id=ACCOUNT, duplicate=3), []),
    "records written": (
        Outcome(account_id=ACCOUNT, written=1),
        [RefreshStats(ACCOUNT), SyncAccount(ACCOUNT)],
    ),
    "contacts touched only": (
        Outcome(account_id=ACCOUNT, contact_ids={1}),
        [RefreshStats(ACCOUNT), SyncAccount(ACCOUNT)],
    ),
    "orders changed": (
        Outcome(account_id=ACCOUNT, written=1, orders_changed=True),
        [RefreshRfm(ACCOUNT), RefreshStats(ACCOUNT), SyncAccount(ACCOUNT)],
    ),
    "asked by the source, then what changed": (
        Outcome(account_id=ACCOUNT, written=1, asked=[ReadCustomers(3, ("c1",))]),
        [ReadCustomers(3, ("c1",)), RefreshStats(ACCOUNT), SyncAccount(ACCOUNT)],
    ),
    "no account: only what the source asked": (
        Outcome(written=1, orders_changed=True, asked=[ContinueBackfill(9)]),
        [ContinueBackfill(9)],
    ),
}


@pytest.mark.parametrize("case", DECISIONS, ids=list(DECISIONS))
def test_what_a_batch_changed_decides_its_follow_ups(case: str) -> None:
    outcome, expected = DECISIONS[case]
    assert outcome.follow_ups() == expected


def test_every_follow_up_has_a_job() -> None:
    assert set(DISPATCH) == set(get_args(FollowUp))
