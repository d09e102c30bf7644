"""Importing files: our columns, Shopify's exports, bad rows reported, re-imports idempotent."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from connectors.csv.importer import BATCH_RECORDS, import_csv
from integration.store import session_scope
from integration.store.models import (
    Contact,
    InteractionEvent,
    Order,
    OrderLineItem,
    StoreCustomer,
    SubscriptionStatus,
)
from tests.support.builders import make_store
from tests.support.statistics import analyze_counts, record_analyses

FIXTURES = Path(__file__).parent.parent.parent / "fixtures" / "shopify"
AS_OF = datetime(2026, 5, 1, tzinfo=UTC)


def _store(db_url: str, currency: str = "CZK") -> int:
    with session_scope(db_url) as session:
        return make_store(session, currency).id


def _import(db_url: str, store_id: int, kind: str, raw: bytes, **kwargs: object):  # type: ignore[no-untyped-def]
    return import_csv(db_url, store_id, kind, io.BytesIO(raw), as_of=AS_OF, **kwargs)


def test_a_shopify_customer_export_imports_consent_tags_and_reports_the_bad_row(db_url: str) -> None:
    store_id = _store(db_url)
    report = _import(db_url, store_id, "customers", (FIXTURES / "customers_export.csv").read_bytes())
    assert (report.layout, report.rows_read, report.written, report.failed) == ("shopify_customers", 3, 2, 1)
    # Row 3 spans two lines (a quoted address), so the last record is row 4.
    assert reported(report.errors) == [
        {"row": 4, "column": "Email", "reason": "no valid email and no known customer"}
    ]
    with session_scope(db_url) as session:
        contacts = {c.email: c for c in session.scalars(select(Contact))}
        jana = contacts["jana.novakova@example.cz"]
        assert (jana.first_name, jana.subscription_status, jana.tags) == (
            "Jana",
            SubscriptionStatus.SUBSCRIBED,
            ["newsletter", "vip"],
        )
        assert contacts["tomas.dvorak@example.cz"].subscription_status == SubscriptionStatus.UNKNOWN
        links = set(session.scalars(select(StoreCustomer.external_id)))
        assert links == {"7701234567001", "7701234567002"}  # the export's apostrophe is gone


def test_a_shopify_order_export_groups_line_items_by_name(db_url: str) -> None:
    store_id = _store(db_url)
    report = _import(db_url, store_id, "orders", (FIXTURES / "orders_export.csv").read_bytes())
    assert (report.layout, report.written, report.failed) == ("shopify_orders", 2, 1)
    assert reported(report.errors) == [
        {"row": 5, "column": "Lineitem quantity", "reason": "Not a valid integer."}
    ]
    with session_scope(db_url) as session:
        first = session.scalars(select(Order).where(Order.name == "#1001")).one()
        assert first.external_id == "5550001001"
        assert first.total_price == Decimal("1389.00")
        assert first.created_at == datetime(2026, 3, 31, 21, 30, 5, tzinfo=UTC)
        items = [(li.title, li.quantity, li.unit_price, li.sku) for li in first.line_items]
        assert items == [
            ("Lněná košile - M", 2, Decimal("495.00"), "SHIRT-M"),
            ("Vlněná šála", 1, Decimal("300.00"), "SCARF"),
        ]
        assert sum(q * p for _, q, p, _ in items) == first.subtotal_price
        voided = session.scalars(select(Order).where(Order.name == "#1002")).one()
        assert (voided.financial_status, voided.cancelled_at is not None) == ("voided", True)
        assert (
            session.scalar(
                select(Contact.last_interaction_at).where(Contact.email == "tomas.dvorak@example.cz")
            )
            is None
        )


def test_re_importing_the_same_file_changes_nothing(db_url: str) -> None:
    store_id = _store(db_url)
    raw = (FIXTURES / "orders_export.csv").read_bytes()
    _import(db_url, store_id, "orders", raw)
    again = _import(db_url, store_id, "orders", raw)
    assert (again.written, again.unchanged, again.duplicate) == (0, 0, 2)
    with session_scope(db_url) as session:
        assert session.scalar(select(func.count()).select_from(Order)) == 2
        assert session.scalar(select(func.count()).select_from(OrderLineItem)) == 3


def test_our_columns_in_windows_1250_with_semicolons(db_url: str) -> None:
    store_id = _store(db_url)
    raw = (
        "id;email;first_name;last_name;subscription_status;tags;updated_at\r\n"
        "1;zofie@example.cz;Žofie;Řeháková;subscribed;vip;2026-04-01T10:00:00+02:00\r\n"
        "2;bad@example.cz;Jiří;;maybe;;2026-04-01T10:00:00+02:00\r\n"
    ).encode("cp1250")
    report = _import(db_url, store_id, "customers", raw)
    assert reported(report.errors) == [
        {
            "row": 3,
            "column": "subscription_status",
            "reason": "Must be one of: subscribed, unknown, unsubscribed.",
        }
    ]
    with session_scope(db_url) as session:
        contact = session.scalars(select(Contact)).one()
        assert (contact.first_name, contact.last_name, contact.tags) == ("Žofie", "Řeháková", ["vip"])


def test_events_without_ids_are_not_doubled_by_a_re_import(db_url: str) -> None:
    store_id = _store(db_url)
    raw = (
        b"email,type,occurred_at,product_id\n"
        b"a@example.com,product_view,2026-04-01T10:00:00Z,p1\n"
        b"a@example.com,add_to_cart,2026-04-01T10:01:00Z,p1\n"
    )
    assert _import(db_url, store_id, "events", raw).written == 2
    assert _import(db_url, store_id, "events", raw).written == 0
    with session_scope(db_url) as session:
        assert session.scalar(select(func.count()).select_from(InteractionEvent)) == 2


def test_a_file_of_several_batches_imports_every_row(db_url: str) -> None:
    store_id = _store(db_url)
    count = BATCH_RECORDS * 2 + 17
    lines = ["id,email,updated_at"] + [f"{i},c{i}@example.com,2026-04-01T00:00:00Z" for i in range(count)]
    seen: list[int] = []
    report = _import(
        db_url, store_id, "customers", "\n".join(lines).encode(), progress=lambda r: seen.append(r.written)
    )
    assert (report.rows_read, report.written, report.failed) == (count, count, 0)
    assert seen == [BATCH_RECORDS, BATCH_RECORDS * 2, count]  # after each stored batch
    with session_scope(db_url) as session:
        assert session.scalar(select(func.count()).select_from(Contact)) == count


def test_checkouts_in_our_columns_become_abandoned_carts_that_token_less_orders_recover(db_url: str) -> None:
    from datetime import timedelta

    from integration.commerce.carts import mark_abandoned
    from integration.store.models import Checkout, CheckoutState

    store_id = _store(db_url)
    checkouts = (
        b"token,email,created_at,updated_at,currency,total_price,recovery_url,"
        b"line_item_title,line_item_quantity,line_item_price,line_item_product_id\n"
        b"k1,ann@example.com,2026-04-01T10:00:00Z,2026-04-01T10:05:00Z,CZK,500,https://shop.example.com/r/k1,Mug,2,150,mug\n"
        b"k1,,,,,,,Teapot,1,200,teapot\n"
        b"k2,,2026-04-01T11:00:00Z,2026-04-01T11:00:00Z,CZK,90,,Spoon,1,90,spoon\n"
    )
    report = _import(db_url, store_id, "checkouts", checkouts)
    assert (report.layout, report.rows_read, report.written, report.failed) == ("storepulse", 3, 2, 0)
    with session_scope(db_url) as session:
        assert mark_abandoned(session, now=datetime(2026, 4, 2, tzinfo=UTC)) == 1  # k2 has no email
    orders = (
        b"id,email,created_at,currency,total_price,line_item_title,line_item_quantity,line_item_price,"
        b"line_item_product_id\n"
        b"o1,ann@example.com,2026-04-03T09:00:00Z,CZK,200,Teapot,1,200,teapot\n"
    )
    _import(db_url, store_id, "orders", orders)
    with session_scope(db_url) as session:
        carts = {c.token: c for c in session.scalars(select(Checkout))}
        assert (carts["k1"].state, carts["k1"].recovery_rule) == (CheckoutState.RECOVERED, "product")
        assert carts["k1"].recovered_at == datetime(2026, 4, 3, 9, tzinfo=UTC)
        assert carts["k1"].abandoned_at == datetime(2026, 4, 1, 10, 15, tzinfo=UTC)
        assert sorted(i.title for i in carts["k1"].line_items) == ["Mug", "Teapot"]
        assert carts["k2"].state == CheckoutState.OPEN
        assert timedelta(0) < carts["k1"].recovered_at - carts["k1"].abandoned_at < timedelta(days=7)


def test_bad_rows_across_batches_are_reported_in_row_order_while_the_rest_import(db_url: str) -> None:
    store_id = _store(db_url)
    count = BATCH_RECORDS * 2 + 5
    bad = {3, BATCH_RECORDS + 10, count - 1}  # record indexes; their file rows are one more than index + 1
    emails = ["not-an-email" if i in bad else f"c{i}@example.com" for i in range(count)]
    lines = ["id,email,updated_at"] + [f"{i},{e},2026-04-01T00:00:00Z" for i, e in enumerate(emails)]
    report = _import(db_url, store_id, "customers", "\n".join(lines).encode())
    assert (report.written, report.failed) == (count - len(bad), len(bad))
    assert [(e["row"], e["column"]) for e in report.errors] == [(i + 2, "email") for i in sorted(bad)]
    with session_scope(db_url) as session:
        assert session.scalar(select(func.count()).select_from(Contact)) == count - len(bad)


def test_refused_and_skipped_rows_of_one_batch_are_told_by_their_own_rows(db_url: str) -> None:
    # The schema refuses some records of a batch and storing skips another: each report names the
    # row it came from, not the place of its record among those that passed.
    store_id = _store(db_url)
    customers = (
        b"id,email,subscription_status,updated_at\n"
        b"1,a@example.com,subscribed,2026-04-01T00:00:00Z\n"
        b"2,b@example.com,maybe,2026-04-01T00:00:00Z\n"
        b"3,not-an-email,subscribed,yesterday\n"
        b"4,d@example.com,unknown,2026-04-01T00:00:00Z\n"
        b"5,,unknown,2026-04-01T00:00:00Z\n"
        b"6,f@example.com,unknown,2026-04-01T00:00:00Z\n"
    )
    report = _import(db_url, store_id, "customers", customers)
    assert (report.written, report.failed) == (3, 4)
    assert [(e["row"], e["column"]) for e in report.errors] == [
        (3, "subscription_status"),
        (4, "email"),
        (4, "updated_at"),
        (6, "email"),
    ]
    assert report.errors[-1]["reason"] == "no valid email and no known customer"
    assert dict(report.errors[-1]["cells"])["id"] == "5"
    orders = (
        b"id,email,created_at,currency,total_price,line_item_title,line_item_quantity,line_item_price\n"
        b"o1,a@example.com,2026-04-03T09:00:00Z,CZK,200,Teapot,1,200\n"
        b"o2,b@example.com,2026-04-03T09:00:00Z,CZK,300,Mug,1,100\n"
        b"o2,,,,,Cup,2,a lot\n"
        b"o3,d@example.com,2026-04-03T09:00:00Z,CZK,90,Spoon,1,90\n"
    )
    report = _import(db_url, store_id, "orders", orders)
    assert (report.written, report.failed) == (2, 1)
    assert [(e["row"], e["column"]) for e in report.errors] == [(3, "line_item_price")]
    with session_scope(db_url) as session:
        assert set(session.scalars(select(Order.external_id))) == {"o1", "o3"}
    # Events a storer skips are told by their place among the stored ones.
    events = (
        b"customer_id,type,occurred_at\n"
        b"1,email_open,2026-04-02T09:00:00Z\n"
        b"1,glance,2026-04-02T09:00:00Z\n"
        b"nobody,email_click,2026-04-02T09:00:00Z\n"
        b"4,email_click,2026-04-02T09:00:00Z\n"
    )
    report = _import(db_url, store_id, "events", events)
    assert (report.written, report.failed) == (2, 2)
    assert [(e["row"], e["column"]) for e in report.errors] == [(3, "type"), (4, "email")]


def test_refunded_amounts_and_line_discounts_are_read_from_both_order_layouts(db_url: str) -> None:
    store_id = _store(db_url)
    # Shopify's order export, #1001 refunded in part (edited here: the fixture's order has no refund).
    export = (FIXTURES / "orders_export.csv").read_text(encoding="utf-8")
    refunded = export.replace("paid,2026-03-31 23:30:12", "partially_refunded,2026-03-31 23:30:12", 1)
    refunded = refunded.replace("Shopify Payments,0.00,Demo", "Shopify Payments,389.00,Demo", 1)
    assert refunded.count(",389.00,") == 1
    _import(db_url, store_id, "orders", refunded.encode())
    ours = (
        "id,email,created_at,updated_at,currency,total_price,total_discounts,total_refunded,"
        "line_item_title,line_item_quantity,line_item_price,line_item_discount\n"
        "B-1,eva@example.cz,2026-04-01T10:00:00+02:00,2026-04-01T10:00:00+02:00,CZK,900.00,100.00,250.00,"
        "Hrnek,2,300.00,60.00\n"
        "B-1,,,,,,,,Konvice,1,400.00,40.00\n"
    )
    _import(db_url, store_id, "orders", ours.encode())
    with session_scope(db_url) as session:
        orders = {o.name or o.external_id: o for o in session.scalars(select(Order))}
        assert orders["#1001"].total_refunded == Decimal("389.00")
        assert orders["#1001"].financial_status == "partially_refunded"
        assert orders["B-1"].total_refunded == Decimal("250.00")
        assert [li.total_discount for li in orders["B-1"].line_items] == [Decimal("60.00"), Decimal("40.00")]


def reported(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The errors without the bad rows' cells."""
    return [{k: v for k, v in e.items() if k != "cells"} for e in errors]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_large_import_keeps_the_planners_statistics_of_what_it_looks_up(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from connectors.csv import importer

    monkeypatch.setattr(importer, "BATCH_RECORDS", 5)
    monkeypatch.setattr(importer, "STATISTICS_FIRST", 10)
    store_id = _store(db_url)
    lines = [
        "id,email,created_at,currency,total_price,line_item_title,line_item_quantity,line_item_price"
    ] + [f"o{i},c{i % 7}@example.com,2026-04-03T09:00:00Z,CZK,10,Mug,1,10" for i in range(40)]

    analyses = record_analyses(monkeypatch)
    before = analyze_counts(db_url, ["orders"])
    report = _import(db_url, store_id, "orders", "\n".join(lines).encode())
    assert report.written == 40
    # Analyzed at 10 and 20 written orders (every batch names the same customers, so each is
    # stored before the next is handed over); not at 40, the last: nothing is looked up after it.
    # The line items are not looked up by key.
    assert analyses == [["orders"], ["orders"]]
    assert analyze_counts(db_url, ["orders"])["orders"] > before["orders"]  # the server did
