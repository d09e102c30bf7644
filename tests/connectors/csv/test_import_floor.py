"""The orders benchmark's floor writes the rows an orders import leaves: the same rows in every table
the import leaves rows in, no others."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from bench.csv_import import run_rows_written, write_orders
from connectors.csv.importer import import_csv
from integration.store import session_scope
from integration.store.db import get_engine
from integration.store.models import Base, Order, table_of
from tests.support.builders import make_store

# Each table's rows as the floor must repeat them: by what names them (a contact by its email, an
# order by its id), without the ids and the times of writing, which differ by nature.
ROWS = {
    "contacts": "SELECT c.email, c.subscription_status, c.engagement_status, c.engagement_reason,"
    " c.last_interaction_at, c.last_interaction_type, c.first_seen_at, c.tags::text FROM contacts c"
    " WHERE c.account_id = :account",
    "store_customers": "SELECT l.external_id, c.email FROM store_customers l"
    " JOIN contacts c ON c.id = l.contact_id WHERE l.store_id = :store",
    "orders": "SELECT o.external_id, o.number, c.email, o.email, o.created_at, o.currency, o.total_price,"
    " o.total_refunded FROM orders o JOIN contacts c ON c.id = o.contact_id WHERE o.store_id = :store",
    "order_line_items": "SELECT o.external_id, i.title, i.quantity, i.unit_price, i.product_id"
    " FROM order_line_items i JOIN orders o ON o.id = i.order_id WHERE o.store_id = :store",
    "contact_totals": "SELECT c.email, t.currency, t.orders, t.revenue_orders, t.revenue,"
    " t.first_order_at, t.last_order_at FROM contact_totals t JOIN contacts c ON c.id = t.contact_id"
    " WHERE t.account_id = :account",
    "buyers": "SELECT c.email, b.orders, b.last_order_at, b.currency, b.revenue, b.revenue_orders"
    " FROM buyers b JOIN contacts c ON c.id = b.contact_id WHERE b.account_id = :account",
    "contact_period_spend": "SELECT s.store_id = 0, s.period, s.currency, c.email, s.purchases,"
    " s.revenue_orders, s.revenue, s.average, s.last_order_at FROM contact_period_spend s"
    " JOIN contacts c ON c.id = s.contact_id WHERE s.account_id = :account",
    "engagement_transitions": "SELECT c.email, e.from_status, e.to_status, e.at, e.reason"
    " FROM engagement_transitions e JOIN contacts c ON c.id = e.contact_id WHERE e.account_id = :account",
    "period_currencies": "SELECT p.store_id = 0, p.period, p.currency, p.contacts FROM period_currencies p"
    " WHERE p.account_id = :account",
}
# Tables whose rows are work queued for later, not what an import leaves: the notes of buyers to
# fold (taken by the fold) and of contacts whose statistics to recount (written by triggers for each
# statement that changes a contact: the import inserts each one and then sets its group, the floor
# inserts it as it ends).
QUEUES = {"buyer_notes", "stats_dirty"}


def _counts(url: str, account_id: int, store_id: int) -> dict[str, int]:
    """Rows of the account (or of its store) in every table that holds either."""
    counts = {}
    with get_engine(url).connect() as conn:
        for table in Base.metadata.sorted_tables:
            if table.name in QUEUES or table.name in ("accounts", "stores"):
                continue
            if "account_id" in table.c:
                where = table.c.account_id == account_id
            elif "store_id" in table.c:
                where = table.c.store_id == store_id
            elif "order_id" in table.c:
                orders = table_of(Order)
                where = table.c.order_id.in_(select(orders.c.id).where(orders.c.store_id == store_id))
            else:
                continue
            counts[table.name] = conn.scalar(select(func.count()).select_from(table).where(where)) or 0
    return {name: count for name, count in counts.items() if count}


def _rows(url: str, account_id: int, store_id: int) -> dict[str, list[tuple[Any, ...]]]:
    with get_engine(url).connect() as conn:
        return {
            table: sorted(
                (tuple(row) for row in conn.execute(text(query), {"account": account_id, "store": store_id})),
                key=repr,
            )
            for table, query in ROWS.items()
        }


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_the_floor_writes_the_rows_the_import_left(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    write_orders(path, 40)  # 8 buyers, 5 orders each, two lines an order
    with session_scope(db_url) as session:
        imported, floor = make_store(session), make_store(session)
        ids = {"imported": (imported.account_id, imported.id), "floor": (floor.account_id, floor.id)}
    with path.open("rb") as stream:
        report = import_csv(db_url, ids["imported"][1], "orders", stream)
    assert (report.written, report.failed) == (40, 0)

    run_rows_written(db_url, path, *ids["floor"], imported=ids["imported"])

    # Every table the import left rows in, the floor wrote as many to.
    imported_counts = _counts(db_url, *ids["imported"])
    assert _counts(db_url, *ids["floor"]) == imported_counts
    assert set(imported_counts) == set(ROWS)
    left, written = _rows(db_url, *ids["imported"]), _rows(db_url, *ids["floor"])
    counts = {table: len(rows) for table, rows in left.items()}
    # The year's rows of each buyer, for the store and for the account; the quarters' rows depend
    # on today's date (the periods a time frame can still name).
    assert counts.pop("contact_period_spend") >= 16
    assert counts.pop("period_currencies") >= 2
    assert counts == {
        "contacts": 8,
        "store_customers": 8,
        "orders": 40,
        "order_line_items": 80,
        "contact_totals": 8,
        "buyers": 8,
        "engagement_transitions": 8,
    }
    assert written == left
