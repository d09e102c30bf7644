"""A receiver's delivery stored with one statement committed as it runs, outside any session."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError

from integration.ingest import inbox
from integration.operations.logs import REQUEST_ID_HEADER, request_context
from integration.store import session_scope
from integration.store.db import get_engine, run_committed
from integration.store.models import InboxDelivery, InboxStatus
from tests.support.builders import make_store

TRIGGERED = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
COLUMNS = (
    "source", "topic", "delivery_id", "body", "store_id", "email_source_id", "event_id", "triggered_at",
    "headers", "status", "attempts", "last_error", "result", "processed_at",
)  # fmt: skip


def _stored(url: str) -> list[dict[str, Any]]:
    with session_scope(url) as session:
        rows = session.scalars(select(InboxDelivery).order_by(InboxDelivery.id)).all()
        columns = (*COLUMNS, "received_at", "signature_verified_at")
        return [{c: getattr(row, c) for c in columns} for row in rows]


def _delivery(delivery_id: str, store_id: int, **more: Any) -> dict[str, Any]:
    return {
        "source": "shopify",
        "topic": "orders/create",
        "delivery_id": delivery_id,
        "body": b'{"id": 1, "note": "\\u00f3\\u0000"}\x00\xff',
        "store_id": store_id,
        "event_id": "e-" + delivery_id,
        "triggered_at": TRIGGERED,
        "headers": {"X-Shopify-API-Version": "2025-10", "X-Shopify-Name": 'Zażółć "gęślą"'},
        **more,
    }


def test_a_committed_delivery_is_the_row_a_session_stores_and_a_redelivery_finds_it(db_url: str) -> None:
    """The driver's statement writes what the model's insert writes, column for column."""
    with session_scope(db_url) as session:
        store_id = make_store(session).id
    with request_context("req-1"):
        first = inbox.receive_committed(db_url, **_delivery("w-1", store_id), signature_verified=True)
        again = inbox.receive_committed(db_url, **_delivery("w-1", store_id), signature_verified=True)
        with session_scope(db_url) as session:
            through_session = inbox.receive(session, **_delivery("w-2", store_id), signature_verified=True)
    unsigned = inbox.receive_committed(db_url, **{**_delivery("w-3", store_id), "triggered_at": None})
    assert (first.new, again.new, again.id) == (True, False, first.id)
    assert (through_session.new, unsigned.new) == (True, True)
    committed, by_session, plain = _stored(db_url)
    for row in (committed, by_session):
        assert row["received_at"].tzinfo is not None
        assert row["signature_verified_at"] == row["received_at"]
    assert (plain["signature_verified_at"], plain["triggered_at"]) == (None, None)
    assert plain["headers"] == _delivery("w-3", store_id)["headers"]  # no request, no request id
    assert committed["headers"][REQUEST_ID_HEADER] == "req-1"
    assert {c: committed[c] for c in COLUMNS} == {
        **{c: by_session[c] for c in COLUMNS},
        "delivery_id": "w-1",
        "event_id": "e-w-1",
    }
    assert (committed["status"], committed["attempts"]) == (InboxStatus.PENDING, 0)
    assert committed["triggered_at"] == TRIGGERED
    assert committed["body"] == _delivery("w-1", store_id)["body"]


def test_an_id_longer_than_the_inbox_keeps_is_refused_before_the_database(db_url: str) -> None:
    with session_scope(db_url) as session:
        store_id = make_store(session).id
    with pytest.raises(ValueError, match="delivery_id is longer than 255"):
        inbox.receive_committed(db_url, **_delivery("w" * 256, store_id))
    with pytest.raises(ValueError, match="event_id is longer than 255"):
        inbox.receive_committed(db_url, **{**_delivery("w-1", store_id), "event_id": "e" * 256})
    assert _stored(db_url) == []


def test_a_failed_statement_raises_the_stores_error_and_leaves_the_pool_as_it_was(postgres_url: str) -> None:
    """A delivery for no store fails on its key; the connection goes back to the pool in the state a
    session expects (its own transactions, not autocommit), and the next delivery is stored."""
    engine = get_engine(postgres_url)
    engine.dispose()  # one pooled connection from here on, handed out again and again
    with session_scope(postgres_url) as session:
        session.query(InboxDelivery).delete()
        store_id = make_store(session).id
    inbox.receive_committed(postgres_url, **_delivery("w-0", store_id))
    with pytest.raises(IntegrityError):
        inbox.receive_committed(postgres_url, **_delivery("w-1", store_id + 1000))
    assert engine.pool.checkedout() == 0
    with engine.connect() as connection:  # the same pooled connection: its transaction is its own
        connection.exec_driver_sql("DELETE FROM inbox")
        connection.rollback()
    assert inbox.receive_committed(postgres_url, **_delivery("w-2", store_id)).new
    assert [row["delivery_id"] for row in _stored(postgres_url)] == ["w-0", "w-2"]


def test_a_connection_the_statement_broke_is_not_given_back(postgres_url: str) -> None:
    """The server ends the backend while the statement runs: 503's error, and neither that
    connection nor the others pooled before it are handed out again."""
    engine = get_engine(postgres_url)
    engine.dispose()
    first, second = engine.raw_connection(), engine.raw_connection()  # two pooled connections
    pooled = {
        first.driver_connection.info.backend_pid,  # type: ignore[union-attr]
        second.driver_connection.info.backend_pid,  # type: ignore[union-attr]
    }
    first.close()
    second.close()
    with pytest.raises(OperationalError) as raised:
        run_committed(postgres_url, "SELECT pg_terminate_backend(pg_backend_pid())", {})
    assert raised.value.connection_invalidated
    after = {run_committed(postgres_url, "SELECT pg_backend_pid()", {}) for _ in range(3)}
    assert len(after) == 1
    assert not {row[0] for row in after if row} & pooled
    assert run_committed(postgres_url, "SELECT 1 + %(n)s", {"n": 1}) == (2,)


def test_a_time_without_a_zone_is_refused(db_url: str) -> None:
    with session_scope(db_url) as session:
        store_id = make_store(session).id
    naive = {**_delivery("w-1", store_id), "triggered_at": datetime(2026, 11, 23, 10, 0)}  # noqa: DTZ001
    with pytest.raises(ValueError, match="triggered_at has no time zone"):
        inbox.receive_committed(db_url, **naive)
    with session_scope(db_url) as session, pytest.raises(ValueError, match="no time zone"):
        inbox.receive(session, **naive)
    assert _stored(db_url) == []


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_deliveries_stored_together_are_new_once_each_and_a_redelivery_finds_the_row(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with session_scope(db_url) as session:
        store_id = make_store(session).id
    sent = [
        ("shopify", "w-1"),
        ("shopify", "w-2"),
        ("shopify", "w-1"),
        ("woocommerce", "w-1"),
        ("shopify", "w-3"),
    ]
    rows = [
        inbox.delivery_row(
            **{
                **_delivery(delivery_id, store_id),
                "source": source,
                "topic": f"topic/{i}",
                "body": b"body %d" % i,
            },
            email_source_id=None,
            signature_verified=True,
        )
        for i, (source, delivery_id) in enumerate(sent)
    ]
    first = inbox.store_committed(db_url, rows)
    later = inbox.delivery_row(**_delivery("w-4", store_id), email_source_id=None, signature_verified=True)
    # Redeliveries (found together: the same id in two sources, one twice) beside a new delivery.
    statements: list[str] = []
    execute = psycopg.Cursor.execute

    def recorded(cursor: psycopg.Cursor[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
        if "inbox" in str(query):  # not a liveness check of the pooled connection
            statements.append(str(query).split()[0].upper())
        return execute(cursor, query, *args, **kwargs)

    with monkeypatch.context() as patched:
        patched.setattr(psycopg.Cursor, "execute", recorded)
        again = inbox.store_committed(db_url, [rows[4], rows[0], rows[3], later, rows[0]])
    assert statements == ["INSERT", "SELECT"]  # the group's insert, then its redeliveries at once
    with session_scope(db_url) as session:
        found = session.execute(
            select(InboxDelivery.source, InboxDelivery.delivery_id, InboxDelivery.id, InboxDelivery.topic,
                   InboxDelivery.body, InboxDelivery.event_id)
        ).all()  # fmt: skip
    stored = {(source, delivery_id): rest for source, delivery_id, *rest in found}
    ids = {key: rest[0] for key, rest in stored.items()}
    assert first == [
        (ids["shopify", "w-1"], True),
        (ids["shopify", "w-2"], True),
        (ids["shopify", "w-1"], False),
        (ids["woocommerce", "w-1"], True),
        (ids["shopify", "w-3"], True),
    ]
    assert again == [
        (ids["shopify", "w-3"], False),
        (ids["shopify", "w-1"], False),
        (ids["woocommerce", "w-1"], False),
        (ids["shopify", "w-4"], True),
        (ids["shopify", "w-1"], False),
    ]
    # Each row holds its own delivery's values (the first of the two w-1 of Shopify).
    assert {key: tuple(rest[1:]) for key, rest in stored.items()} == {
        ("shopify", "w-1"): ("topic/0", b"body 0", "e-w-1"),
        ("shopify", "w-2"): ("topic/1", b"body 1", "e-w-2"),
        ("woocommerce", "w-1"): ("topic/3", b"body 3", "e-w-1"),
        ("shopify", "w-3"): ("topic/4", b"body 4", "e-w-3"),
        ("shopify", "w-4"): (later["topic"], later["body"], "e-w-4"),
    }
