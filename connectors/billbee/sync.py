"""A Billbee account connected to a store: its credentials, the first import and the polling.

Billbee sends nothing storepulse can trust (its webhooks' signing is undocumented), so its data is
polled. The first import reads every customer (`GET /api/v1/customers`), then every order
(`GET /api/v1/orders`), 250 a page; after that, every few minutes, a pass reads the orders
modified since the last pass began (`modifiedAtMin`, with a few minutes of overlap). Every stage
is read page by page and resumably (`connectors.paging`): a pass interrupted mid-way goes on from
its page, losing and repeating nothing. An order's buyer (Billbee's customer) is written with it.
Each page read is kept in the inbox in the transaction that moves its stage on, and drained like
every platform's deliveries (`connectors.billbee.source`): inbox, batch ingest, classification.
One "updates" stage per store is reused pass after pass, so the history of passes does not grow.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors import paging
from connectors.billbee import schemas
from connectors.billbee.client import BillbeeClient
from connectors.paging import Page, Paged
from integration import accounts
from integration.crypto import decrypt_json, encrypt_json
from integration.errors import ConfigError, CredentialsRejected, FatalConnectorError
from integration.ingest import inbox
from integration.settings import Settings
from integration.store import locks, session_scope
from integration.store.models import Backfill, BackfillStatus, Platform, Store, StoreState
from integration.store.redis import connection
from integration.store.types import utcnow

STAGES = ("customers", "orders")
UPDATES = "updates"
OVERLAP = timedelta(minutes=5)  # a pass re-reads a little before the last one began


AccountTaken = accounts.StoreTaken  # the Billbee login is connected to another storepulse account


def shop_key(login: str) -> str:
    """What a Billbee store is known by (`stores.shop_domain`): one store per Billbee user."""
    return f"billbee:{login.strip().casefold()}"


def client(settings: Settings, login: str, password: str) -> BillbeeClient:
    """A client for a Billbee user with the operator's developer key; ConfigError without one."""
    if not settings.billbee_api_key:
        raise ConfigError("BILLBEE_API_KEY", "the operator's Billbee developer key is needed for Billbee")
    return BillbeeClient(
        settings.billbee_api_url, settings.billbee_api_key, login, password, redis=connection(settings)
    )


def check(billbee: BillbeeClient) -> None:
    """One call that needs the key and the user (raises CredentialsRejected if Billbee refuses)."""
    billbee.page("orders", 1)


def connect(
    session: Session,
    settings: Settings,
    account_id: int,
    login: str,
    password: str,
    *,
    name: str,
    currency: str,
    time_zone: str,
) -> tuple[Store, bool]:
    """Connect the Billbee user to the account (credentials encrypted); the store and whether it is
    new. The account that holds it connects it again with new credentials; another is refused."""
    key = shop_key(login)
    store = accounts.held_store(session, account_id, Platform.BILLBEE, key)
    return accounts.connect_store(
        session,
        account_id,
        store,
        platform=Platform.BILLBEE,
        shop_domain=key,
        credentials=encrypt_json(settings.encryption_keys, {"login": login.strip(), "password": password}),
        name=name,
        currency=currency,
        time_zone=time_zone,
    )


def connected(settings: Settings, store_id: int) -> BillbeeClient:
    """The client of a connected Billbee store; FatalConnectorError when it is not one."""
    with session_scope(settings.database_url) as session:
        store = session.get(Store, store_id)
        if store is None or store.platform != Platform.BILLBEE:
            raise FatalConnectorError(f"store {store_id} is not a Billbee store")
        if store.state != StoreState.CONNECTED or store.credentials is None:
            raise CredentialsRejected(f"store {store_id} is not connected; connect it again in Setup")
        kept: dict[str, Any] = decrypt_json(settings.encryption_keys, store.credentials)
    return client(settings, str(kept["login"]), str(kept["password"]))


def store_page(session: Session, store: Store, kind: str, records: list[Any], page: Page) -> None:
    """Keep a page read from Billbee in the inbox (the same content twice is one delivery), in the
    transaction that moves the stage on; `connectors.billbee.source` normalizes it."""
    del records  # validated by the stage (counted and named there); the page is kept as read
    body = json.dumps({"Data": page.items, "ReadAt": utcnow().isoformat()}, separators=(",", ":"))
    digest = hashlib.sha256(json.dumps(page.items, sort_keys=True).encode()).hexdigest()
    inbox.receive(
        session,
        source="billbee",
        topic=kind if kind == "customers" else "orders",
        delivery_id=f"{store.id}:{digest}",
        body=body.encode(),
        store_id=store.id,
    )


def _completed(session: Session, stage: Backfill) -> None:
    """A finished read of orders moves the store's mark: the next pass reads what changed since."""
    if stage.stage in ("orders", UPDATES):
        store = session.get(Store, stage.store_id)
        if store is not None:
            store.reconciled_at = stage.started_at - OVERLAP


def paged(billbee: BillbeeClient) -> Paged:
    """How Billbee's stages are read and written."""

    def fetch(kind: str, number: int, since: str | None) -> Page:
        if kind == "customers":
            return billbee.page("customers", number)
        return billbee.page("orders", number, {"modifiedAtMin": since} if since else {})

    return Paged(
        fetch=fetch,
        schema=lambda kind: schemas.CUSTOMER if kind == "customers" else schemas.ORDER,
        write=store_page,
        stages=STAGES,
        completed=_completed,
    )


def start(settings: Settings, store_id: int) -> int:
    """Record the first import of the store (its customers first); the stage's id."""
    return paging.start(settings, store_id, STAGES[0])


def next_pass(settings: Settings, store_id: int, every: timedelta) -> int | None:
    """Begin the next pass over modified orders if one is due (the first import is done, no pass
    runs, and the last one finished `every` ago or more); its stage id, else None."""
    now = utcnow()
    with session_scope(settings.database_url) as session:
        store = session.get(Store, store_id, with_for_update=locks.FOR_CHANGE)
        if store is None or store.reconciled_at is None:
            return None  # the first import's orders are not read yet
        stage = session.scalar(
            select(Backfill).where(Backfill.store_id == store_id, Backfill.stage == UPDATES)
        )
        if stage is None:
            stage = Backfill(store_id=store_id, stage=UPDATES)
            session.add(stage)
        elif stage.status != BackfillStatus.COMPLETED and stage.status != BackfillStatus.FAILED:
            return None  # a pass runs, or waits for its job
        elif stage.finished_at is not None and stage.finished_at > now - every:
            return None
        stage.status, stage.page, stage.pages = BackfillStatus.PENDING, 1, None
        stage.operation_id = store.reconciled_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        stage.records = stage.invalid = 0
        stage.error, stage.started_at, stage.claimed_at, stage.finished_at = None, now, None, None
        session.flush()
        return stage.id
