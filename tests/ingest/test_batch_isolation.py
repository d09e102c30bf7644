"""One malformed item at any place of a batch never costs the batch's other items, in every source."""

from __future__ import annotations

import csv
import io
import json
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from connectors.csv.importer import import_csv
from connectors.registry import SOURCES
from integration.accounts import add_email_source
from integration.ingest import inbox
from integration.store import session_scope
from integration.store.models import Contact, EmailTool, InboxDelivery, InboxStatus, InteractionEvent
from tests.support.builders import NOW, make_store
from tests.support.sendgrid import DER_B64

FIXTURES = Path(__file__).parent.parent / "fixtures"
EXAMPLES = settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=6,
)
# Text PostgreSQL or UTF-8 cannot hold, and values out of any range.
UNSTORABLE = st.sampled_from(["a\x00b", "\ud800", "x" * 5000, "", " "])
HUGE = st.sampled_from([10**30, -(10**30), 2**63, -1, 10**11 - 1])


def _malformed(valid: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Anything in place of an item: another JSON value, or the item with one field spoiled or gone."""
    spoiled = st.builds(
        lambda key, value: {**valid, key: value},
        st.sampled_from(sorted(valid)),
        JSON | UNSTORABLE | HUGE,
    )
    extra = st.builds(lambda value: {**valid, "url": value, "first_name": value}, UNSTORABLE)
    missing = st.builds(
        lambda key: {k: v for k, v in valid.items() if k != key}, st.sampled_from(sorted(valid))
    )
    return JSON.filter(lambda v: not isinstance(v, dict)) | spoiled | extra | missing


def _sendgrid_event(i: int, run: str) -> dict[str, Any]:
    return {
        "email": f"r{i}@example.com",
        "timestamp": 1781000000 + i,
        "event": "open",
        "sg_event_id": f"{run}-{i}",
        "sg_message_id": f"m{i}",
    }


def _api_customer(i: int, run: str) -> dict[str, Any]:
    return {"id": f"{run}-{i}", "email": f"r{i}@example.com", "updated_at": NOW.isoformat()}


def _stored_emails(db_url: str, account_id: int) -> set[str]:
    with session_scope(db_url) as session:
        return set(session.scalars(select(Contact.email).where(Contact.account_id == account_id)))


def _batch(draw: Any, build: Any, run: str) -> tuple[list[Any], int]:
    items = [build(i, run) for i in range(draw(st.integers(2, 6)))]
    position = draw(st.integers(0, len(items)))
    items.insert(position, draw(_malformed(build(99, run))))
    return items, position


@EXAMPLES
@given(data=st.data())
def test_one_bad_sendgrid_event_never_costs_the_others(db_url: str, data: st.DataObject) -> None:
    run = uuid.uuid4().hex
    items, position = _batch(data.draw, _sendgrid_event, run)
    with session_scope(db_url) as session:
        account_id = make_store(session).account_id
        source, _ = add_email_source(session, account_id, EmailTool.SENDGRID, "sg", DER_B64)
        received = inbox.receive(
            session,
            source="sendgrid",
            topic="events",
            delivery_id=run,
            body=json.dumps(items).encode(),
            email_source_id=source.id,
            signature_verified=True,
        )
        inbox.process(session, [received.id], SOURCES)
    with session_scope(db_url) as session:
        delivery = session.get(InboxDelivery, received.id)
        assert delivery is not None
        assert delivery.status == InboxStatus.PROCESSED, delivery.last_error
        stored = set(
            session.scalars(
                select(InteractionEvent.source_event_id).where(InteractionEvent.account_id == account_id)
            )
        )
    valid = {item["sg_event_id"] for i, item in enumerate(items) if i != position}
    assert valid <= stored


@EXAMPLES
@given(data=st.data())
def test_one_bad_api_record_never_costs_the_others(db_url: str, data: st.DataObject) -> None:
    run = uuid.uuid4().hex
    items, position = _batch(data.draw, _api_customer, run)
    with session_scope(db_url) as session:
        store = make_store(session)
        store_id, account_id = store.id, store.account_id
        received = inbox.receive(
            session,
            source="api",
            topic="customers",
            delivery_id=run,
            body=json.dumps(items).encode(),
            store_id=store_id,
        )
        inbox.process(session, [received.id], SOURCES)
    with session_scope(db_url) as session:
        delivery = session.get(InboxDelivery, received.id)
        assert delivery is not None
        assert delivery.status == InboxStatus.PROCESSED, delivery.last_error
    valid = {item["email"] for i, item in enumerate(items) if i != position}
    assert valid <= _stored_emails(db_url, account_id)


def _csv(rows: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "email", "first_name"])
    for row in rows:
        writer.writerow([row.get("id", ""), row.get("email", ""), row.get("first_name", "")])
    return out.getvalue().encode("utf-8", errors="surrogatepass")


@EXAMPLES
@given(data=st.data())
def test_one_bad_csv_row_never_costs_the_others(db_url: str, data: st.DataObject) -> None:
    run = uuid.uuid4().hex

    def row(i: int, run: str) -> dict[str, Any]:
        return {"id": f"{run}-{i}", "email": f"r{i}@example.com", "first_name": f"R{i}"}

    rows, position = _batch(data.draw, row, run)
    rows = [r if isinstance(r, dict) else {"id": json.dumps(r)} for r in rows]
    with session_scope(db_url) as session:
        store = make_store(session)
        store_id, account_id = store.id, store.account_id
    import_csv(db_url, store_id, "customers", io.BytesIO(_csv(rows)), as_of=NOW)
    valid = {r["email"] for i, r in enumerate(rows) if i != position}
    assert valid <= _stored_emails(db_url, account_id)


def _shopify_customer(i: int, run: str) -> dict[str, Any]:
    sample: dict[str, Any] = json.loads((FIXTURES / "shopify" / "customers_create.json").read_bytes())
    return {**sample, "id": 1000 + i, "email": f"r{i}@example.com", "note": run}


@EXAMPLES
@given(data=st.data())
def test_one_bad_shopify_delivery_never_holds_back_its_run(db_url: str, data: st.DataObject) -> None:
    run = uuid.uuid4().hex
    payloads, position = _batch(data.draw, _shopify_customer, run)
    with session_scope(db_url) as session:
        store = make_store(session)
        store_id, account_id = store.id, store.account_id
        ids = [
            inbox.receive(
                session,
                source="shopify",
                topic="customers/create",
                delivery_id=f"{run}-{n}",
                body=json.dumps(payload).encode(),
                store_id=store_id,
                signature_verified=True,
            ).id
            for n, payload in enumerate(payloads)
        ]
        inbox.process(session, ids, SOURCES)
    with session_scope(db_url) as session:
        rows = session.execute(
            select(InboxDelivery.id, InboxDelivery.status).where(InboxDelivery.id.in_(ids))
        )
        statuses = {delivery_id: status for delivery_id, status in rows}
    assert all(statuses[d] == InboxStatus.PROCESSED for n, d in enumerate(ids) if n != position)
    valid = {p["email"] for n, p in enumerate(payloads) if n != position}
    assert valid <= _stored_emails(db_url, account_id)


def _mailchimp_form(i: int, run: str) -> dict[str, Any]:
    return {
        "type": "subscribe",
        "fired_at": "2026-06-01 09:30:00",
        "data[list_id]": run[:10],
        "data[email]": f"r{i}@example.com",
        "data[merges][FNAME]": f"R{i}",
    }


@EXAMPLES
@given(data=st.data())
def test_one_bad_mailchimp_delivery_never_holds_back_its_run(db_url: str, data: st.DataObject) -> None:
    run = uuid.uuid4().hex
    forms, position = _batch(data.draw, _mailchimp_form, run)
    with session_scope(db_url) as session:
        account_id = make_store(session).account_id
        source, _ = add_email_source(session, account_id, EmailTool.MAILCHIMP, "mc", None)
        ids = []
        for n, form in enumerate(forms):
            if isinstance(form, dict):
                body = urlencode({str(k): str(v) for k, v in form.items()}, errors="surrogatepass").encode()
            else:
                body = json.dumps(form).encode()
            ids.append(
                inbox.receive(
                    session,
                    source="mailchimp",
                    topic="subscribe",
                    delivery_id=f"{run}-{n}",
                    body=body,
                    email_source_id=source.id,
                ).id
            )
        inbox.process(session, ids, SOURCES)
    with session_scope(db_url) as session:
        rows = session.execute(
            select(InboxDelivery.id, InboxDelivery.status).where(InboxDelivery.id.in_(ids))
        )
        statuses = {delivery_id: status for delivery_id, status in rows}
    assert all(statuses[d] == InboxStatus.PROCESSED for n, d in enumerate(ids) if n != position)
    valid = {f["data[email]"] for n, f in enumerate(forms) if n != position}
    assert valid <= _stored_emails(db_url, account_id)
