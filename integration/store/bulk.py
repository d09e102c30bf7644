"""Dialect-neutral bulk statements over the store: upserts, derived tables of rows, chunked id lists."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import orjson
from sqlalchemy import (
    JSON,
    Select,
    String,
    Subquery,
    Table,
    Text,
    any_,
    bindparam,
    cast,
    column,
    func,
    literal,
    or_,
    select,
    true,
    type_coerce,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType, TypeEngine

T = TypeVar("T")
CHUNK = 500  # ids per IN (...) list: well inside SQLite's bound-parameter limit
CHUNK_ROWS = 5000  # rows per `insert_rows` statement: one JSON document each


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    """Yield `items` in slices of at most `size`."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def parts(session: Session, items: Sequence[T]) -> Iterator[Sequence[T]]:
    """`items` whole on PostgreSQL, where a list travels as one array parameter; in slices of
    `CHUNK` elsewhere (SQLite's bound-parameter limit)."""
    if session.get_bind().dialect.name == "postgresql":
        if items:
            yield items
        return
    yield from chunks(items)


def insert_for(session: Session, table: Table) -> Any:
    """Return an INSERT for `table` that supports ON CONFLICT on the session's database."""
    return insert_on(session.get_bind().dialect.name, table)


def insert_on(dialect: str, table: Table) -> Any:
    """Return an INSERT for `table` that supports ON CONFLICT on a database of this dialect."""
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def rows_table(
    session: Session, name: str, columns: Mapping[str, TypeEngine[Any]], rows: Sequence[Mapping[str, Any]]
) -> Subquery:
    """Return `rows` as a derived table `name`, to join in one set-based statement of any size.

    One statement per batch instead of one per row, and the same statement text whatever the
    batch's size, so it is compiled once. The rows travel as one JSON document (encoded in C, and
    parsed by the database: `json_to_recordset` on PostgreSQL, `json_each` on SQLite), each value
    first converted as its column type stores it on that database.

    Join it to a table by the table's primary key: SQLite does not know how many rows the JSON
    holds, and joined by another key it may scan the table once per row instead.
    """
    dialect = session.get_bind().dialect
    processors = {
        key: None if isinstance(t, JSON) else t.dialect_impl(dialect).bind_processor(dialect)
        for key, t in columns.items()
    }
    converted = [(key, proc) for key, proc in processors.items() if proc is not None]

    def shaped(r: Mapping[str, Any]) -> dict[str, Any]:
        # A copy in C; a key no column names travels unread.
        values = dict(r)
        for key, proc in converted:
            values[key] = None if (value := r[key]) is None else proc(value)
        return values

    # orjson writes times as `isoformat` does and anything else it does not know (Decimal) as str:
    # the same document as the standard library's, in an eighth of the time.
    payload = orjson.dumps([shaped(r) for r in rows], default=_json_value).decode()
    document = bindparam(f"{name}_rows", payload, type_=Text())
    if dialect.name == "postgresql":
        typed = (
            func.json_to_recordset(cast(document, postgresql.JSON))
            .table_valued(*(column(key, t) for key, t in columns.items()))
            .render_derived(name=f"{name}_rows", with_types=True)
        )
        return select(*typed.c).subquery(name)
    each_row = func.json_each(document).table_valued("value")
    return (
        select(
            *(
                type_coerce(func.json_extract(each_row.c.value, f"$.{key}"), t).label(key)
                for key, t in columns.items()
            )
        )
        .select_from(each_row)
        .subquery(name)
    )


def insert_rows(
    session: Session,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    name: str = "new",
    same: Mapping[str, Any] | None = None,
) -> None:
    """INSERT `rows` (dicts with the same keys) in one statement per CHUNK_ROWS: a SELECT from
    `rows_table`, whose text is the same whatever the number of rows, where a multi-row VALUES
    list has a placeholder per value that the driver parses anew on every execution.

    `same` holds the columns whose value is the same in every row: sent once as parameters of
    the statement, not written into each row of the document."""
    if not rows:
        return
    names = list(rows[0])
    columns = {key: table.c[key].type for key in names}
    constants = [literal(value, table.c[key].type) for key, value in (same or {}).items()]
    for start in range(0, len(rows), CHUNK_ROWS):
        source = rows_table(session, name, columns, rows[start : start + CHUNK_ROWS])
        session.execute(
            table.insert().from_select(
                [*names, *(same or {})], select(*(source.c[key] for key in names), *constants)
            )
        )


def among(session: Session, column: Any, values: Sequence[Any]) -> Any:
    """`column IN (values)` as one array parameter on PostgreSQL (`= ANY`), so the statement's
    text does not grow with the list; an expanding IN elsewhere."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(_array_of(column, values))
    return column.in_(values)


def _array_of(column: Any, values: Sequence[Any]) -> Any:
    """`values` as one PostgreSQL array parameter of `column`'s type."""
    # Text without its length: a cast to varchar(n)[] would cut a longer value to a prefix that a
    # stored row may equal.
    item = String() if isinstance(column.type, String) else column.type
    literal_form = array_literal(values)
    if literal_form is not None:
        # An untyped parameter cast to the array's type is that array, parsed once as it is bound
        # (a constant of the plan, as a typed list is); a text one would be converted as the
        # statement runs.
        return cast(bindparam(None, literal_form, type_=NullType()), postgresql.ARRAY(item))
    return bindparam(None, list(values), type_=postgresql.ARRAY(item))


def keyed(
    session: Session, columns: Sequence[Any], key: Any, values: Sequence[Any], *where: Any, lock: bool = False
) -> Select[Any]:
    """SELECT `columns` of the rows whose `key` is one of `values`, among the rows `where` holds
    (at most one row a value: `key` is unique within `where`, as a store's external ids are).

    On PostgreSQL each value is looked up on its own, `LIMIT 1` in a lateral subquery over the
    values: one probe of the unique index a value, whatever the table's statistics say. Written as
    `key = ANY(values)`, the plan depends on them on PostgreSQL 15 (18 plans it well): with none
    yet (a table filled since its last ANALYZE, as a first import fills it), or ones from before a
    store's rows came (a new store on a host of many), the planner takes a store's rows for a few
    hundred and reads all of them to find the batch's, every batch (30 ms for 500 ids among 200,000
    rows, against 1 ms probed). With `lock`, each row found is locked `FOR UPDATE` as it is read,
    in the order of `values`. A value given twice may find its row twice (on PostgreSQL).

    Only for a table whose unique index is the only one that leads with `where`'s columns (a
    store's customer links, its removal markers): where another one does too (orders, by store and
    creation time), a planner that takes the table for empty (never analyzed) may probe that one
    instead, and read every row of the store once per value.

    Elsewhere it is a plain `IN` (keep `values` within `CHUNK` there).
    """
    if session.get_bind().dialect.name != "postgresql":
        query = select(*columns).where(*where, key.in_(values))
        return query.with_for_update() if lock else query
    wanted = func.unnest(_array_of(key, values)).table_valued("value").render_derived(name="wanted")
    probe = select(*columns).where(*where, key == wanted.c.value).limit(1)
    found = (probe.with_for_update() if lock else probe).lateral("found")
    return select(*found.c).select_from(wanted).join(found, true())


def array_literal(values: Sequence[Any]) -> str | None:
    """PostgreSQL's text form of an array of whole numbers or of strings (`{1,2}`, `{"a","b\\"c"}`),
    else None.

    The driver adapts a list element by element in Python (about 0.6 ms a thousand); this text,
    cast to the array's type by the database, costs a tenth of that. A quoted element escapes
    only backslash and double quote.
    """
    if all(type(v) is int for v in values):
        return "{" + ",".join(map(str, values)) + "}"
    if all(type(v) is str for v in values):
        return "{" + ",".join(['"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values]) + "}"
    return None


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)  # Decimal, and whatever else prints as its SQL literal


def fresh_filter(existing_stamp: Any, new_stamp: Any) -> Any:
    """SQL condition: the stored row is absent-stamped or older than the incoming one."""
    return or_(existing_stamp.is_(None), existing_stamp < new_stamp)
