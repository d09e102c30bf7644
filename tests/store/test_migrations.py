"""The schema: migrations build it on both databases, agree with the models, and re-run as no-ops."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, inspect, select, text, update
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

from connectors.registry import SOURCES
from integration.contract import CampaignRecord, SendRecord
from integration.ingest import inbox, ingest_campaigns, ingest_orders, ingest_sends
from integration.store import session_scope
from integration.store.db import (
    alembic_config,
    current_revision,
    get_engine,
    head_revision,
    include_object,
    upgrade,
)
from integration.store.models import (
    Base,
    Buyer,
    Campaign,
    CampaignChannel,
    CampaignSend,
    Contact,
    DataExport,
    InboxDelivery,
    InteractionEvent,
    Order,
    SendStatus,
    Store,
)
from tests.support.builders import NOW, make_store, order


def test_upgrade_builds_every_table_and_a_second_run_changes_nothing(db_url: str) -> None:
    assert current_revision(db_url) == head_revision()
    tables = set(inspect(get_engine(db_url)).get_table_names())
    assert {t.name for t in Base.metadata.sorted_tables} <= tables
    assert upgrade(db_url) == (head_revision(), head_revision())


def test_models_and_migrations_agree(db_url: str) -> None:
    with get_engine(db_url).connect() as conn:
        differences = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True, "include_object": include_object}),
            Base.metadata,
        )
    assert differences == []


def test_upgrade_of_an_empty_database_reports_the_step(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    assert upgrade(url) == (None, head_revision())


def test_times_are_stored_as_utc_and_come_back_aware(db_url: str) -> None:
    prague_evening = datetime(2026, 3, 31, 23, 30, tzinfo=timezone(timedelta(hours=2)))
    with session_scope(db_url) as session:
        store = make_store(session)
        ingest_orders(session, store, [order("1", created=prague_evening, email="a@example.com")])
    with session_scope(db_url) as session:
        stored = session.scalar(select(Order.created_at))
    assert stored == prague_evening
    assert stored.utcoffset() == timedelta(0)
    assert stored.hour == 21  # 23:30 at +02:00 is 21:30 UTC


def test_a_naive_time_is_refused(db_url: str) -> None:
    naive = order("1", created=datetime(2026, 1, 1), email="a@example.com")  # noqa: DTZ001
    with session_scope(db_url) as session:
        store = make_store(session)
        # Raised where the time is first converted: by SQLAlchemy for a bound value, or by the batch's rows.
        with pytest.raises((StatementError, ValueError), match="naive datetime"):
            ingest_orders(session, store, [naive])


def test_money_keeps_its_exact_decimal_value(db_url: str) -> None:
    with session_scope(db_url) as session:
        store = make_store(session, currency="KWD")
        ingest_orders(
            session, store, [order("1", email="a@example.com", currency="KWD", total_price="1234567.125")]
        )
    with session_scope(db_url) as session:
        stored = session.scalar(select(Order.total_price))
    assert stored == Decimal("1234567.125")


def _events_delivery(session: Session, store: Store, delivery_id: str, events: list[dict[str, str]]) -> int:
    received = inbox.receive(
        session,
        source="api",
        topic="events",
        delivery_id=delivery_id,
        body=json.dumps(events).encode(),
        store_id=store.id,
    )
    inbox.process(session, [received.id], SOURCES)
    return received.id


def test_the_upgrade_marks_sends_with_the_events_stored_before_them(own_database: str) -> None:
    url = own_database
    opened, clicked = NOW + timedelta(hours=1), NOW + timedelta(hours=2)

    def ev(event_id: str, kind: str, who: str, at: datetime) -> dict[str, str]:
        return {"event_id": event_id, "type": kind, "email": f"{who}@example.com",
                "campaign_id": "spring", "occurred_at": at.isoformat()}  # fmt: skip

    with session_scope(url) as session:
        store = make_store(session)
        # Before the campaign exists: Ann's delivery keeps its body, Bob's was purged since.
        _events_delivery(
            session,
            store,
            "d1",
            [ev("e1", "email_open", "ann", opened), ev("e2", "email_click", "ann", clicked)],
        )
        purged = _events_delivery(session, store, "d2", [ev("e3", "email_open", "bob", opened)])
        session.execute(update(InboxDelivery).where(InboxDelivery.id == purged).values(body=b""))
        ingest_campaigns(
            session, store, [CampaignRecord(external_id="spring", channel=CampaignChannel.EMAIL, name="S")]
        )
        # After it: Cy's open was linked to the campaign when it was stored.
        _events_delivery(session, store, "d3", [ev("e4", "email_open", "cy", opened)])
        ingest_sends(
            session,
            store,
            [SendRecord(campaign_id="spring", status=SendStatus.SENT, email=f"{who}@example.com", sent_at=NOW)
             for who in ("ann", "bob", "cy")],
        )  # fmt: skip
        # What the previous version left: no marks, and no link for events older than their campaign.
        session.execute(update(CampaignSend).values(opened_at=None, clicked_at=None))
        session.execute(
            update(InteractionEvent)
            .where(InteractionEvent.source_event_id.in_(["e1", "e2", "e3"]))
            .values(campaign_id=None)
        )
    _downgrade(url, "0014")
    upgrade(url)

    with session_scope(url) as session:
        marks = {
            email.split("@")[0]: (opened_at, clicked_at)
            for email, opened_at, clicked_at in session.execute(
                select(Contact.email, CampaignSend.opened_at, CampaignSend.clicked_at).join(
                    Contact, Contact.id == CampaignSend.contact_id
                )
            )
        }
        assert marks == {"ann": (opened, clicked), "bob": (None, None), "cy": (opened, None)}
        spring = session.scalars(select(Campaign.id)).one()
        refs = {
            event_id: (ref, campaign_id)
            for event_id, ref, campaign_id in session.execute(
                select(
                    InteractionEvent.source_event_id,
                    InteractionEvent.campaign_ref,
                    InteractionEvent.campaign_id,
                )
            )
        }
        assert refs == {
            "e1": ("spring", spring),
            "e2": ("spring", spring),
            "e3": (None, None),
            "e4": ("spring", spring),
        }


def _downgrade(url: str, revision: str) -> None:
    config = alembic_config(url)
    with get_engine(url).begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def test_the_upgrade_keeps_the_first_export_of_a_data_request_made_twice(own_database: str) -> None:
    url = own_database
    with session_scope(url) as session:  # the store as this version makes it, before going back
        store = make_store(session)
        account_id, store_id = store.account_id, store.id
    _downgrade(url, "0016")
    with session_scope(url) as session:
        for request_id in ("9999", "9999", "10000", None, None):
            session.add(
                DataExport(account_id=account_id, store_id=store_id, request_id=request_id, document={})
            )
    upgrade(url)
    with session_scope(url) as session:
        kept = session.execute(select(DataExport.id, DataExport.request_id).order_by(DataExport.id)).all()
        assert [r for _, r in kept] == ["9999", "10000", None, None]
        assert kept[0][0] == 1


def test_the_upgrade_counts_each_buyers_revenue_orders_over_its_currencies(own_database: str) -> None:
    """0027 fills `buyers.revenue_orders` from the per-currency totals: what a refresh would keep."""
    url = own_database
    with session_scope(url) as session:
        store = make_store(session)
        ingest_orders(
            session,
            store,
            [
                order("o1", email="ann@example.com"),
                order("o2", email="ann@example.com", currency="USD"),
                order("o3", email="ann@example.com", financial_status="refunded"),
                order("o4", email="bob@example.com", financial_status="refunded"),
            ],
        )
        kept = dict(session.execute(select(Contact.email, Buyer.revenue_orders).join(Buyer)).all())
    assert kept == {"ann@example.com": 2, "bob@example.com": 0}
    _downgrade(url, "0026")
    with get_engine(url).connect() as connection:
        assert "revenue_orders" not in {c["name"] for c in inspect(connection).get_columns("buyers")}
    upgrade(url)
    with session_scope(url) as session:
        assert dict(session.execute(select(Contact.email, Buyer.revenue_orders).join(Buyer)).all()) == kept


def test_the_upgrade_gives_each_existing_store_its_own_public_key(own_database: str) -> None:
    """0029: stores made before it get a key each; their other columns and rows stand."""
    url = own_database
    with session_scope(url) as session:
        first = make_store(session)
        make_store(session, "USD", account_id=first.account_id)
        ingest_orders(session, first, [order("o1", email="ann@example.com")])
    _downgrade(url, "0028")
    with get_engine(url).connect() as connection:
        assert "public_key" not in {c["name"] for c in inspect(connection).get_columns("stores")}
    upgrade(url)
    with session_scope(url) as session:
        keys = session.scalars(select(Store.public_key)).all()
        assert session.scalar(select(func.count()).select_from(Order)) == 1  # nothing cascaded away
        assert session.scalars(select(Store.allowed_origins)).all() == [None, None]
    assert len(keys) == len(set(keys)) == 2
    assert all(k.startswith("pk_") and len(k) == 27 for k in keys)


def _compression(url: str) -> dict[str, str]:
    """How each column 0035 names compresses its values ('' for the server's default)."""
    with get_engine(url).connect() as connection:
        return dict(
            connection.execute(
                text(
                    "SELECT attrelid::regclass::text || '.' || attname, attcompression::text"
                    " FROM pg_attribute WHERE (attrelid::regclass::text, attname) IN"
                    " (('inbox', 'body'), ('import_parts', 'data'), ('export_parts', 'data'))"
                )
            ).all()
        )


def _stored_with(url: str, store_id: int, delivery_id: str, body: bytes) -> str:
    """Store a delivery as the webhooks do; how its body was compressed."""
    row = inbox.delivery_row(
        "shopify", "orders/create", delivery_id, body, store_id, None, None, None, None, True
    )
    ((stored_id, _),) = inbox.store_committed(url, [row])
    with get_engine(url).connect() as connection:
        return str(
            connection.execute(
                text("SELECT pg_column_compression(body) FROM inbox WHERE id = :id"), {"id": stored_id}
            ).scalar()
        )


@pytest.mark.parametrize("own_database", ["postgresql"], indirect=True)  # a PostgreSQL setting
def test_bodies_are_compressed_with_lz4_where_the_server_has_it(own_database: str) -> None:
    """0035: on a server built with lz4, new delivery bodies and file blocks are compressed with it;
    bodies stored before keep pglz and read as they were; going back restores the default. On a
    server without lz4 nothing changes."""
    url = own_database
    with get_engine(url).connect() as connection:
        methods = connection.execute(
            text("SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'")
        ).scalar()
    has_lz4 = "lz4" in (methods or [])
    with session_scope(url) as session:
        store_id = make_store(session).id
    # A Shopify order's body: a few kB of JSON, compressed by whichever method the column names.
    body = json.dumps({"id": 1, "line_items": [{"title": f"Mug {i}", "quantity": i} for i in range(120)]})
    _downgrade(url, "0034")
    assert set(_compression(url).values()) == {""}
    assert _stored_with(url, store_id, "before", body.encode()) == "pglz"
    upgrade(url)
    assert _compression(url) == dict.fromkeys(
        ("inbox.body", "import_parts.data", "export_parts.data"), "l" if has_lz4 else ""
    )
    assert _stored_with(url, store_id, "after", body.encode()) == ("lz4" if has_lz4 else "pglz")
    with session_scope(url) as session:
        bodies = session.execute(select(InboxDelivery.delivery_id, InboxDelivery.body)).all()
    assert sorted(bodies) == [("after", body.encode()), ("before", body.encode())]
    _downgrade(url, "0034")
    assert set(_compression(url).values()) == {""}
