"""Column layouts a CSV file may have, each turning rows into records in the API's JSON shape.

- Ours: the API's field names as columns (orders and checkouts: one row per line item,
  `line_item_*` columns, consecutive rows grouped by the order's `id` or the checkout's `token`).
- Shopify's customer export: `Customer ID`, `First Name`, `Last Name`, `Email`,
  `Accepts Email Marketing`, `Phone`, `Tags`, … (the ID may carry a leading apostrophe).
- Shopify's order export: one row per line item, consecutive rows grouped by the order's `Name`;
  order fields (`Financial Status`, `Total`, `Created at`, …) on the first row of each order.

A file carries no "updated at" of its own; its records are taken as of the import (`as_of`), so a
later export of the same data replaces what an earlier one said.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connectors.csv.reader import CsvError, Row

KINDS = ("customers", "orders", "checkouts", "events")


@dataclass
class Item:
    """A record built from one or more rows: its first row number and which column feeds each field
    (a line item's field, `line_items.<n>.<field>`, by `line_columns`). The column mappings are the
    layout's own, shared by every record of a file: read them, never change them."""

    row: int
    record: dict[str, Any]
    columns: dict[str, str]
    # The cells of its (first) row as the file gave them, for the report of a bad row.
    cells: dict[str, str] = dataclasses.field(default_factory=dict)
    line_columns: dict[str, str] = dataclasses.field(default_factory=dict)

    def column(self, path: str) -> str:
        """The file's column behind a field path (`email`, `line_items.1.price`), else the path."""
        if path in self.columns:
            return self.columns[path]
        parts = path.split(".")
        if len(parts) == 3 and parts[0] == "line_items" and parts[1].isdigit():
            return self.line_columns.get(parts[2], path)
        return path


# The columns storepulse's own layout needs for each kind.
REQUIRED = {
    "customers": {"id"},
    "orders": {"id", "line_item_title"},
    "checkouts": {"token", "line_item_title"},
    "events": {"type", "occurred_at"},
}


def layout_of(kind: str, header: list[str]) -> tuple[str, list[str]]:
    """Recognize the layout of a file of `kind` by its header; return it and the columns it misses."""
    if kind == "customers" and ("Accepts Email Marketing" in header or "Customer ID" in header):
        return "shopify_customers", []
    if kind == "orders" and "Lineitem name" in header:
        return "shopify_orders", []
    return "storepulse", sorted(REQUIRED[kind] - set(header))


def known_columns(kind: str, layout: str) -> set[str]:
    """The columns a layout reads; any other column of the file is left aside."""
    if layout == "shopify_customers":
        return {*SHOPIFY_CUSTOMER.values(), "Accepts Email Marketing", "Tags"}
    if layout == "shopify_orders":
        return {*SHOPIFY_ORDER.values(), *SHOPIFY_LINE_ITEM.values()}
    return {
        "customers": {*CUSTOMER_COLUMNS, "tags"},
        "events": {*EVENT_COLUMNS, "machine_open"},
        "orders": {*ORDER_COLUMNS, *LINE_ITEM_COLUMNS.values()},
        "checkouts": {*CHECKOUT_COLUMNS, *LINE_ITEM_COLUMNS.values()},
    }[kind]


def items(kind: str, header: list[str], rows: Iterator[Row], as_of: datetime) -> tuple[str, Iterator[Item]]:
    """Recognize the file's layout; return its name and the records it holds."""
    stamp = as_of.isoformat()
    layout, missing = layout_of(kind, header)
    if layout == "shopify_customers":
        return layout, (_shopify_customer(r, stamp) for r in rows)
    if layout == "shopify_orders":
        return layout, _shopify_orders(rows, stamp)
    if missing:
        raise CsvError(f"missing column(s) {', '.join(missing)} for {kind}")
    if kind == "orders":
        return "storepulse", _our_orders(rows, stamp)
    if kind == "checkouts":
        return "storepulse", _our_checkouts(rows, stamp)
    build = _our_customer if kind == "customers" else _our_event
    return "storepulse", (build(r, stamp) for r in rows)


def _cells(row: Row, names: dict[str, str]) -> dict[str, Any]:
    """The fields of `names` (field → column) the row has a value for."""
    cells = row.cells
    return {field: cells[column] for field, column in names.items() if cells.get(column)}


def _convert(
    row: Row, record: dict[str, Any], field: str, column: str, convert: Callable[[str], Any]
) -> None:
    """Fill `field` from the cell `column` through `convert` when the row has a value there."""
    if row.cells.get(column):
        record[field] = convert(row.cells[column])


CUSTOMER_COLUMNS = [
    "id",
    "email",
    "first_name",
    "last_name",
    "phone",
    "subscription_status",
    "subscription_changed_at",
    "created_at",
    "updated_at",
]


_OUR_CUSTOMER = {c: c for c in CUSTOMER_COLUMNS}
_OUR_CUSTOMER_COLUMNS = {**_OUR_CUSTOMER, "tags": "tags"}


def _our_customer(row: Row, stamp: str) -> Item:
    record = _cells(row, _OUR_CUSTOMER)
    _convert(row, record, "tags", "tags", _tags)
    record.setdefault("updated_at", stamp)
    return Item(row.number, record, _OUR_CUSTOMER_COLUMNS, row.cells)


EVENT_COLUMNS = [
    "event_id",
    "customer_id",
    "email",
    "type",
    "bounce_type",
    "occurred_at",
    "campaign_id",
    "product_id",
]


_OUR_EVENT = {c: c for c in EVENT_COLUMNS}
_OUR_EVENT_COLUMNS = {**_OUR_EVENT, "machine_open": "machine_open"}


def _our_event(row: Row, stamp: str) -> Item:
    record = _cells(row, _OUR_EVENT)
    _convert(row, record, "machine_open", "machine_open", lambda v: v.lower() in ("1", "true", "yes"))
    if "event_id" not in record:
        # Without an id, the row's own content names the event, so a re-import adds nothing.
        digest = hashlib.sha256(
            "\x1f".join(f"{k}={v}" for k, v in sorted(record.items())).encode()
        ).hexdigest()
        record["event_id"] = f"csv-{digest[:40]}"
    return Item(row.number, record, _OUR_EVENT_COLUMNS, row.cells)


ORDER_COLUMNS = [
    "id",
    "number",
    "name",
    "customer_id",
    "email",
    "created_at",
    "updated_at",
    "processed_at",
    "cancelled_at",
    "financial_status",
    "fulfillment_status",
    "currency",
    "total_price",
    "subtotal_price",
    "total_discounts",
    "total_shipping",
    "total_tax",
    "checkout_token",
    "cart_token",
    "source_name",
    "total_refunded",
]
LINE_ITEM_COLUMNS = {
    "title": "line_item_title",
    "quantity": "line_item_quantity",
    "price": "line_item_price",
    "sku": "line_item_sku",
    "product_id": "line_item_product_id",
    "variant_id": "line_item_variant_id",
    "variant_title": "line_item_variant_title",
    "total_discount": "line_item_discount",
}


_OUR_ORDER = {c: c for c in ORDER_COLUMNS}


def _our_orders(rows: Iterator[Row], stamp: str) -> Iterator[Item]:
    return _grouped(rows, "id", lambda r: (_cells(r, _OUR_ORDER), _OUR_ORDER), LINE_ITEM_COLUMNS, stamp)


CHECKOUT_COLUMNS = [
    "token",
    "cart_token",
    "customer_id",
    "email",
    "created_at",
    "updated_at",
    "completed_at",
    "currency",
    "total_price",
    "recovery_url",
]


_OUR_CHECKOUT = {c: c for c in CHECKOUT_COLUMNS}


def _our_checkouts(rows: Iterator[Row], stamp: str) -> Iterator[Item]:
    return _grouped(
        rows, "token", lambda r: (_cells(r, _OUR_CHECKOUT), _OUR_CHECKOUT), LINE_ITEM_COLUMNS, stamp
    )


SHOPIFY_CUSTOMER = {
    "id": "Customer ID",
    "email": "Email",
    "first_name": "First Name",
    "last_name": "Last Name",
    "phone": "Phone",
}


_SHOPIFY_CUSTOMER_COLUMNS = {
    **SHOPIFY_CUSTOMER,
    "subscription_status": "Accepts Email Marketing",
    "tags": "Tags",
}


def _shopify_customer(row: Row, stamp: str) -> Item:
    record = _cells(row, SHOPIFY_CUSTOMER)
    if "id" in record:
        record["id"] = record["id"].lstrip("'")  # the export quotes the id against spreadsheets
    else:
        record["id"] = f"email:{row.cells.get('Email', '').lower()}"  # older exports have no id column
    _convert(row, record, "subscription_status", "Accepts Email Marketing", _consent)
    _convert(row, record, "tags", "Tags", _tags)
    record["updated_at"] = stamp
    return Item(row.number, record, _SHOPIFY_CUSTOMER_COLUMNS, row.cells)


def _consent(value: str) -> str:
    """Shopify's "Accepts Email Marketing" as a subscription status."""
    return "subscribed" if value.lower() in ("yes", "true") else "unknown"


SHOPIFY_ORDER = {
    "id": "Id",
    "name": "Name",
    "email": "Email",
    "financial_status": "Financial Status",
    "fulfillment_status": "Fulfillment Status",
    "currency": "Currency",
    "subtotal_price": "Subtotal",
    "total_shipping": "Shipping",
    "total_tax": "Taxes",
    "total_price": "Total",
    "total_discounts": "Discount Amount",
    "total_refunded": "Refunded Amount",
    "created_at": "Created at",
    "processed_at": "Paid at",
    "cancelled_at": "Cancelled at",
    "source_name": "Source",
}
SHOPIFY_LINE_ITEM = {
    "title": "Lineitem name",
    "quantity": "Lineitem quantity",
    "price": "Lineitem price",
    "sku": "Lineitem sku",
    "total_discount": "Lineitem discount",
}
SHOPIFY_TIMES = ("created_at", "processed_at", "cancelled_at")


def _shopify_order_fields(row: Row) -> tuple[dict[str, Any], dict[str, str]]:
    record = _cells(row, SHOPIFY_ORDER)
    record["id"] = record.get("id") or record.get("name", "")
    for field in SHOPIFY_TIMES:  # "2025-10-07 09:50:26 +0200" → ISO 8601
        if field in record:
            record[field] = _shopify_time(record[field])
    return record, SHOPIFY_ORDER


def _shopify_orders(rows: Iterator[Row], stamp: str) -> Iterator[Item]:
    return _grouped(rows, "Name", _shopify_order_fields, SHOPIFY_LINE_ITEM, stamp)


def _grouped(
    rows: Iterator[Row], key: str, order_fields: Any, item_columns: dict[str, str], stamp: str
) -> Iterator[Item]:
    """Group consecutive rows with the same `key` cell into one order with its line items."""
    current: Item | None = None
    current_key: str | None = None
    lines: list[dict[str, Any]] = []
    for row in rows:
        cells = row.cells
        row_key = cells.get(key, "")
        if current is None or row_key != current_key:
            if current is not None:
                yield current
            record, columns = order_fields(row)
            record.setdefault("updated_at", stamp)
            record["line_items"] = lines = []
            current, current_key = Item(row.number, record, columns, cells, item_columns), row_key
        line = {field: cells[column] for field, column in item_columns.items() if cells.get(column)}
        if line:
            lines.append(line)
    if current is not None:
        yield current


def _tags(cell: str) -> list[str]:
    return sorted({t.strip() for t in cell.split(",") if t.strip()})


def _shopify_time(value: str) -> str:
    try:
        return datetime.strptime(value, "%Y-%m-%d %H:%M:%S %z").isoformat()
    except ValueError:
        return value  # left for the schema to report
