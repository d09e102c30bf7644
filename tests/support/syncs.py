"""Builders and fixtures for sync tests: an account with contacts, a segment, a destination and a sync."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from connectors.http import Http
from connectors.registry import opener
from integration import ingest
from integration.audiences import destinations, segments, sync
from integration.contacts.engagement import classify
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import (
    BlockedReason,
    Contact,
    DestinationKind,
    Store,
    SubscriptionStatus,
    SyncMode,
)
from integration.store.types import utcnow
from tests.support.builders import customer, make_store

# An address on the public internet for names of test hooks (tests answer the resolver themselves).
PUBLIC_ADDRESS = "93.184.216.34"


@dataclass
class Audience:
    account_id: int
    store_id: int
    segment_id: int
    contact_ids: dict[str, int] = field(default_factory=dict)  # by email


def audience(
    settings: Settings,
    count: int,
    *,
    unsubscribed: int = 0,
    blocked: int = 0,
    store_kwargs: dict[str, Any] | None = None,
    store_id: int | None = None,
) -> Audience:
    """`count` subscribed contacts (`person{i}@example.com`), plus unsubscribed and blocked ones, and
    a segment of everybody who ever subscribed or not (the consent rules decide who is sent).
    """
    now = utcnow()
    with session_scope(settings.database_url) as session:
        store = session.get(Store, store_id) if store_id else make_store(session, **(store_kwargs or {}))
        assert store is not None
        records = [
            customer(
                str(1000 + i),
                f"person{i}@example.com",
                now - timedelta(days=1),
                first_name=f"First{i}",
                last_name="Person",
                subscription_status=SubscriptionStatus.SUBSCRIBED,
            )
            for i in range(count)
        ]
        records += [
            customer(
                str(5000 + i),
                f"gone{i}@example.com",
                now - timedelta(days=1),
                subscription_status=SubscriptionStatus.UNSUBSCRIBED,
            )
            for i in range(unsubscribed)
        ]
        records += [
            customer(
                str(8000 + i),
                f"bounced{i}@example.com",
                now - timedelta(days=1),
                subscription_status=SubscriptionStatus.SUBSCRIBED,
            )
            for i in range(blocked)
        ]
        ingest.ingest_customers(session, store, records)
        if blocked:
            session.execute(
                update(Contact)
                .where(Contact.email.like("bounced%"))
                .values(blocked_reason=BlockedReason.HARD_BOUNCE, blocked_at=now)
            )
        classify(session, store.account_id)
        segment = segments.save(
            session,
            store.account_id,
            name="Everybody",
            raw_filter={"subscription": ["subscribed", "unknown", "unsubscribed"]},
        )
        ids = dict(
            session.query(Contact.email, Contact.id).filter(Contact.account_id == store.account_id).all()
        )
        return Audience(store.account_id, store.id, segment.id, ids)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "audience(count, unsubscribed=0, blocked=0): the contacts of `audience_shop` (default: 5 subscribed)",
    )


@pytest.fixture
def audience_shop(settings: Settings, request: pytest.FixtureRequest) -> Audience:
    """A store with an audience and a segment of everybody, sized by the test's `audience` mark."""
    mark = request.node.get_closest_marker("audience")
    args, kwargs = (mark.args, mark.kwargs) if mark else ((5,), {})
    return audience(settings, *args, **kwargs)


def add_sync(
    settings: Settings,
    shop: Audience,
    kind: DestinationKind,
    config: dict[str, Any],
    credentials: dict[str, Any],
) -> int:
    """A started sync of the audience's segment to a new destination of `kind`; return its id."""
    with session_scope(settings.database_url) as session:
        made = destinations.create_destination(
            session,
            shop.account_id,
            settings.encryption_keys,
            kind=kind,
            name=kind.value,
            config=config,
            credentials=credentials,
        )
        mode = SyncMode.TAGS if kind == DestinationKind.SHOPIFY else SyncMode.AUDIENCE
        return destinations.create_sync(
            session,
            shop.account_id,
            segment_id=shop.segment_id,
            destination_id=made.id,
            mode=mode,
            tag_prefix=settings.tag_prefix,
            start=True,
        ).id


def runner(settings: Settings, slept: list[float]) -> Callable[[int], dict[str, Any]]:
    """Run a sync now (sleeps recorded, not slept); return the run's record."""

    def make_http(vendor: str) -> Http:
        return Http(vendor, sleep=slept.append)

    def run(sync_id: int) -> dict[str, Any]:
        run_id = sync.run(settings.database_url, sync_id, opener(settings, http=make_http))
        assert run_id is not None
        with session_scope(settings.database_url) as session:
            return destinations.runs(session, sync_id, limit=1)[0]

    return run


def dry_run(settings: Settings, sync_id: int) -> dict[str, Any]:
    from integration.store.models import Sync

    with session_scope(settings.database_url) as session:
        found = session.get(Sync, sync_id)
        assert found is not None
        return sync.preview(session, found)


def set_contact(settings: Settings, contact_id: int, **values: Any) -> None:
    with session_scope(settings.database_url) as session:
        session.execute(update(Contact).where(Contact.id == contact_id).values(**values))
