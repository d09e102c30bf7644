"""Import a CSV file into a store: stream it, check each record, store the valid ones in batches.

Memory stays flat whatever the file's size: rows are read lazily and stored a batch at a time, each
batch in its own transaction (a crash loses at most the batch in flight; re-importing the same file
changes nothing that was stored). While batches are being checked and stored, the next one is
read, so the two overlap. On PostgreSQL two batches are stored at
once, each in its own transaction, unless they name the same record, customer or address: what
concerns one customer is stored in the file's order, as by a single storer. At most three batches
are held at once. Bad rows are reported by row number, column and reason while the good ones import.

On Linux the two storers are processes forked from the importing one, so reading and storing each
have an interpreter of their own: as threads they took turns on one (reading and checking a row,
and preparing its statements, cost as much CPU as the database's work on it). The reader reads
rows and builds each record in the API's JSON shape; a storer checks a batch of them against the
API's schema and stores those that pass, so the checking is spread over the storers and what
crosses between processes is plain values (text, lists of text, flags). The rows stay with the
reader, which reports on them: a storer tells which of its records it refused or skipped, by their
place in the batch. What a forked storer must not share with the importer (connections, locked
streams, signal handlers) and how it leaves with it: `_storer_starts`.

The buyers whose orders a batch wrote are noted rather than recomputed batch after batch: their
totals and leaderboard rows, their last interaction and their engagement group are brought up to
date when the import ends, each noted buyer once, however many batches held its orders (meanwhile
the scheduler's fold brings them up to date every ten minutes, and folds what an import that
stopped half-way left).
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from marshmallow import ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from connectors.api.quick_load import quick_load
from connectors.api.schemas import SCHEMAS
from connectors.api.source import INGEST
from connectors.csv.formats import KINDS, Item, items
from connectors.csv.reader import ByteStream, read_rows
from integration.commerce import totals
from integration.contacts import engagement
from integration.contract import Outcome
from integration.ingest import ingest_customers, ingest_orders
from integration.ingest.isolation import StoredMeanwhile, ingest_isolated
from integration.ingest.resolver import safe_email
from integration.store import session_scope
from integration.store.db import dispose_engines
from integration.store.models import Checkout, Order, Store, table_of
from integration.store.statistics import KeptStatistics
from integration.store.types import utcnow

logger = logging.getLogger(__name__)

# Batches stored at once on PostgreSQL, each in its own transaction: while one waits for the
# database, the other's statements run. SQLite lets one writer in at a time.
STORERS = 2
# Storers in processes of their own on Linux (see the module's docstring); elsewhere, where forking
# a process that runs threads is less dependable, threads of the importing process.
STORE_IN_PROCESSES = sys.platform == "linux"
# A batch that meets another in a deadlock (rows two batches lock in turn) is stored again.
STORE_ATTEMPTS = 5
RETRIED_STATES = {"40P01", "40001"}  # deadlock detected, serialization failure

BATCH_RECORDS = 1000
# How an import stores the kinds it stores otherwise than the API (the last argument: the whole
# batch, not a record retried alone after it failed). A whole batch of customers is classified
# next with nothing written in between, so new contacts can be inserted in their group; orders
# leave what follows from them for their buyers (totals, last interaction, group) to the fold when
# the import ends.
IMPORTED: dict[str, Callable[[Session, Store, Sequence[Any], bool], Outcome]] = {
    "customers": lambda session, store, part, whole: ingest_customers(
        session, store, part, classified_next=whole
    ),
    "orders": lambda session, store, part, whole: ingest_orders(session, store, part, buyers_later=True),
}
# Kinds whose plain records are read without the schema's machinery (the same record, as their
# property tests hold); the others are loaded by their schema.
QUICK_KINDS = {"customers", "orders"}
# While an import fills a table, the planner's statistics still describe the table as it was
# (autovacuum analyzes it a minute later at best): a lookup of a batch's orders among the store's
# then takes a store of many orders for a store of few, and reads all of them with the index of the
# store's orders by time, batch after batch. On PostgreSQL the tables whose rows a kind's batches
# look up that way are analyzed from STATISTICS_FIRST written records on, each time the import has
# written as many again, while batches are still to come. (Customers are looked up key by key,
# whatever the statistics say.)
STATISTICS_FIRST = 5_000
LOOKED_UP: dict[str, tuple[type[Any], ...]] = {"orders": (Order,), "checkouts": (Checkout,)}
MAX_REPORTED = 1000
# A bad row's cells are kept with its report, each cut to this many characters.
MAX_CELL_CHARS = 200


@dataclass
class Stored:
    """What a storer did with a batch: the outcome of storing the records that passed the schema,
    each skipped record named by its index in the batch, and the records the schema refused."""

    outcome: Outcome
    # (index in the batch, field path or "", reason) for each refused field of a record
    refused: list[tuple[int, str, str]] = field(default_factory=list)


@dataclass
class Report:
    """What an import did so far."""

    layout: str = ""
    encoding: str = ""
    rows_read: int = 0
    bytes_read: int = 0
    written: int = 0
    unchanged: int = 0
    duplicate: int = 0
    failed: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def refuse(self, row: int, column: str, reason: str, cells: dict[str, str] | None = None) -> None:
        self.failed += 1
        if len(self.errors) < MAX_REPORTED:
            error: dict[str, Any] = {"row": row, "column": column, "reason": reason}
            if cells:
                # Pairs, not a mapping: the file's column order survives a JSON column that sorts keys.
                error["cells"] = [[name, value[:MAX_CELL_CHARS]] for name, value in cells.items()]
            self.errors.append(error)


def import_csv(
    database_url: str,
    store_id: int,
    kind: str,
    stream: ByteStream,
    *,
    encoding: str | None = None,
    as_of: datetime | None = None,
    progress: Callable[[Report], None] | None = None,
) -> Report:
    """Import `stream` (a CSV file of `kind` records) into the store; return the report."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")
    header, rows, counter = read_rows(stream, encoding)
    report = Report()
    report.layout, records = items(kind, header, _counting(rows, report), as_of or utcnow())
    batch: list[Item] = []
    storers = STORERS if make_url(database_url).get_backend_name() == "postgresql" else 1
    in_flight: deque[tuple[list[Item], frozenset[str] | None, Future[Stored]]] = deque()
    statistics = KeptStatistics(
        database_url, [table_of(model).name for model in LOOKED_UP.get(kind, ())], first=STATISTICS_FIRST
    )
    with _storers(storers) as writer:

        def hand_over(full: list[Item]) -> None:
            keys = _keys(kind, full) if storers > 1 and full else None
            # A batch naming a record, customer or address that a batch being stored names waits
            # for it: what concerns one customer is stored in the file's order, as by one storer.
            while in_flight and (
                not full or len(in_flight) >= storers or any(_meet(keys, k) for _, k, _ in in_flight)
            ):
                stored, _, outcome = in_flight.popleft()
                _account(report, stored, outcome)
                if full:  # batches still to come, which look up what this one wrote
                    statistics.after(report.written)
                report.bytes_read = counter.consumed
                if progress and (full or in_flight):  # the last one is told once the import ends
                    progress(report)
            if full:
                # The storer gets the records alone: the rows they came from stay here, for the report.
                storing = writer.submit(_store, database_url, store_id, kind, [item.record for item in full])
                in_flight.append((full, keys, storing))

        for item in records:
            batch.append(item)
            if len(batch) >= BATCH_RECORDS:
                hand_over(batch)
                batch = []
        hand_over(batch)
        hand_over([])
    report.bytes_read = counter.consumed
    if kind == "orders":
        if progress:
            progress(report)  # every batch is stored: the counts are told before the fold
        _fold(database_url, store_id)
    report.errors.sort(key=lambda error: error["row"])
    if progress:
        progress(report)
    return report


def _storers(storers: int) -> Executor:
    """Where the batches are stored: `storers` processes forked from this one (see `_storer_starts`),
    or threads of this process."""
    if storers > 1 and STORE_IN_PROCESSES:
        return ProcessPoolExecutor(
            max_workers=storers,
            mp_context=multiprocessing.get_context("fork"),
            initializer=_storer_starts,
        )
    return ThreadPoolExecutor(max_workers=storers, thread_name_prefix="csv-store")


def _storer_starts() -> None:
    """What a storer process, forked from the importing one, sets right before its first batch.

    - It opens database connections of its own; the inherited ones stay the importer's.
    - It writes to standard streams of its own: the copies the fork made may be locked for good,
      by a thread of the importer (a progress display, a worker's heartbeat) writing at that moment.
    - Interrupts and termination requests sent to every process of a worker or a terminal (a
      worker told to stop lets its job end; Ctrl-C stops reading and lets the batches being stored
      finish) are the importer's to act on, not the storer's: it would otherwise run the handlers it
      inherited, a worker's shutdown among them. A termination request from the importer itself
      (its pool ends the storers that are left when one of them died) ends it at once.
    - It leaves as soon as the importer is gone, even killed: a storer waiting for work would wait
      for good, and hold copies of the importer's sockets, keeping its sessions open on the server.
    """
    dispose_engines(close=False)
    _own_standard_streams()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    importer = multiprocessing.parent_process()
    if importer is None or importer.pid is None:
        return
    # Blocked here, before any thread starts, so that every thread of the storer inherits the mask
    # and the request waits for the thread below.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    threading.Thread(target=_end_when_told, args=(importer.pid,), name="termination", daemon=True).start()
    threading.Thread(
        target=_leave_with, args=(importer.sentinel, importer.pid), name="importer-gone", daemon=True
    ).start()


def _end_when_told(importer_pid: int) -> None:
    """End the storer when the importing process asks (SIGTERM from it); others' requests wait."""
    while True:
        if signal.sigwaitinfo({signal.SIGTERM}).si_pid == importer_pid:
            os._exit(1)


def _leave_with(sentinel: int, importer_pid: int) -> None:
    """Leave once the importing process has ended: its sentinel becomes readable, or (should another
    process forked from it hold the sentinel's other end) this process has another parent. The
    batch in flight, if any, is rolled back by the server as its connection closes."""
    while not multiprocessing.connection.wait([sentinel], timeout=1) and os.getppid() == importer_pid:
        pass
    os._exit(1)


def _own_standard_streams() -> None:
    """Replace the inherited `sys.stdout` and `sys.stderr`, and the streams of log handlers writing
    to the same files (found by file descriptor: a progress display may have put proxies in their
    place), with new streams on duplicates of those files."""
    fresh: dict[int, Any] = {}
    for name in ("stdout", "stderr"):
        inherited = getattr(sys, name)
        if inherited is None:
            continue
        fd = _descriptor(inherited)
        if fd is None:
            continue
        copy = os.dup(fd)
        try:
            stream = os.fdopen(
                copy,
                "w",
                buffering=1,
                encoding=getattr(inherited, "encoding", None),
                errors=getattr(inherited, "errors", None),
            )
        except (OSError, ValueError, LookupError, TypeError):
            os.close(copy)
            continue
        setattr(sys, name, stream)
        fresh[fd] = stream
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    for log in loggers:
        for handler in getattr(log, "handlers", ()):
            if isinstance(handler, logging.StreamHandler):
                fd = _descriptor(handler.stream)
                if fd in fresh:
                    # Not setStream: it flushes the inherited stream first.
                    handler.stream = fresh[fd]


def _descriptor(stream: Any) -> int | None:
    """The file descriptor a stream writes to (through a progress display's proxy), if any."""
    stream = getattr(stream, "rich_proxied_file", stream)
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return None
    return fd if isinstance(fd, int) else None


def _counting(rows: Iterator[Any], report: Report) -> Iterator[Any]:
    for row in rows:
        report.rows_read += 1
        yield row


def _store(database_url: str, store_id: int, kind: str, batch: list[dict[str, Any]]) -> Stored:
    """Check a batch's records (in the API's JSON shape) against the API's schema and store those
    that pass in a transaction of its own, again if it met another batch in a deadlock or another
    writer stored one of its records first meanwhile."""
    records, places, refused = _load(kind, batch)
    if not records:
        return Stored(Outcome(), refused)
    outcome = _store_checked(database_url, store_id, kind, records)
    skipped = []
    for entry in outcome.skipped:
        # Told by its place among the stored records, or by its id: here by its place in the batch.
        index = entry.get("index")
        if isinstance(index, int):
            place: int | None = places[index]
        else:
            place = next(
                (
                    p
                    for p, r in zip(places, records, strict=True)
                    if getattr(r, "external_id", None) == entry.get("id")
                ),
                None,
            )
        skipped.append({**entry, "index": place})
    outcome.skipped = skipped
    return Stored(outcome, refused)


def _load(kind: str, batch: list[dict[str, Any]]) -> tuple[list[Any], list[int], list[tuple[int, str, str]]]:
    """The records of a batch that the API's schema loads, their places in the batch, and for each
    refused one its place, field paths and reasons."""
    schema = SCHEMAS[kind]
    quickly = kind in QUICK_KINDS
    records: list[Any] = []
    places: list[int] = []
    refused: list[tuple[int, str, str]] = []
    for place, record in enumerate(batch):
        try:
            # Records in their plain shape are read without the schema's machinery (the same record).
            loaded = quick_load(schema, record) if quickly else None
            records.append(loaded or schema.load(record))
            places.append(place)
        except ValidationError as exc:
            for path, reasons in _flatten(exc.normalized_messages()):  # type: ignore[no-untyped-call]
                refused.append((place, path, "; ".join(reasons)))
        except Exception as exc:  # noqa: BLE001 - one unreadable row never costs the others
            refused.append((place, "", f"unreadable row ({type(exc).__name__})"))
    return records, places, refused


def _store_checked(database_url: str, store_id: int, kind: str, records: list[Any]) -> Outcome:
    attempt = 1
    while True:
        try:
            return _store_once(database_url, store_id, kind, records)
        except OperationalError as exc:
            if attempt == STORE_ATTEMPTS or getattr(exc.orig, "sqlstate", None) not in RETRIED_STATES:
                raise
            logger.info("a batch met another in a deadlock, storing it again (attempt %s)", attempt + 1)
        except StoredMeanwhile:
            if attempt == STORE_ATTEMPTS:
                raise
            logger.info(
                "another writer stored a record of a batch first, storing it again (attempt %s)", attempt + 1
            )
        attempt += 1


def _store_once(database_url: str, store_id: int, kind: str, records: list[Any]) -> Outcome:
    with session_scope(database_url) as session:
        store = session.get(Store, store_id)
        if store is None:
            raise LookupError(f"no store {store_id}")

        def as_the_api(session: Session, store: Store, part: Sequence[Any], whole: bool) -> Outcome:
            return INGEST[kind](session, store, part)

        imported = IMPORTED.get(kind, as_the_api)
        outcome = ingest_isolated(
            session, lambda part: imported(session, store, part, len(part) == len(records)), records
        )
        if outcome.contact_ids:
            engagement.classify(session, store.account_id, outcome.contact_ids)
    return outcome


def _fold(database_url: str, store_id: int) -> None:
    """Recompute the buyers the import's batches noted.

    The orders are stored by then: a fold that fails (a deadlock with a webhook recomputing the
    same buyer, a lost connection) leaves its notes for the scheduler's fold, and the import's
    report stands.
    """
    try:
        with session_scope(database_url) as session:
            store = session.get(Store, store_id)
            account_id = store.account_id if store is not None else None
        if account_id is not None:
            totals.fold_all_notes(database_url, account_id, shares=totals.IMPORT_FOLD_SHARES)
    except Exception as exc:  # noqa: BLE001 - the notes stay; folded later
        logger.warning("folding the noted buyers failed, left for later: %s", type(exc).__name__)


def _keys(kind: str, batch: list[Item]) -> frozenset[str] | None:
    """What a batch names: its records, customers and addresses, normalized as ingest normalizes
    them (None: it may touch anything). Read from the records as the file gave them: the schema
    takes an id as the text it is, and an address is normalized here as ingest normalizes it; a
    value of no record the schema passes names nothing that is stored."""
    if kind not in ("customers", "orders"):
        return None
    keys: set[str] = set()
    for item in batch:
        record = item.record
        # A record without an id names nothing: the schema refuses it.
        if kind == "orders":
            if (order := record.get("id")) is not None:
                keys.add(f"order:{order}")
            if customer := record.get("customer_id"):
                keys.add(f"customer:{customer}")
        elif (customer := record.get("id")) is not None:
            keys.add(f"customer:{customer}")
        if (email := record.get("email")) and (address := safe_email(email)):
            keys.add(f"email:{address}")
    return frozenset(keys)


def _meet(one: frozenset[str] | None, other: frozenset[str] | None) -> bool:
    return one is None or other is None or not one.isdisjoint(other)


def _account(report: Report, batch: list[Item], stored: Future[Stored]) -> None:
    """Add a stored batch's outcome to the report (raising what storing it raised)."""
    result = stored.result()
    outcome = result.outcome
    report.written += outcome.written
    report.unchanged += outcome.unchanged
    report.duplicate += outcome.duplicate
    for place, path, reason in result.refused:
        item = batch[place]
        report.refuse(item.row, item.column(path), reason, item.cells)
    for skipped in outcome.skipped:
        index = skipped.get("index")
        found = batch[index] if isinstance(index, int) else None
        field = skipped.get("field", "")
        report.refuse(
            found.row if found else 0,
            found.column(field) if found else field,
            skipped.get("reason", ""),
            found.cells if found else None,
        )


def _flatten(messages: Any, prefix: str = "") -> Iterator[tuple[str, list[str]]]:
    if isinstance(messages, dict):
        for key, value in messages.items():
            yield from _flatten(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        yield prefix, messages
    else:
        yield prefix, [str(messages)]
