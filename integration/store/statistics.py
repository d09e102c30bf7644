"""The planner's statistics of the tables a long bulk write fills, kept up with it as it writes.

PostgreSQL's planner reads a table's size and its values' spread from the statistics of its last
ANALYZE. A table an import or a fold is filling was analyzed before its rows came (or never):
autovacuum analyzes it a minute later at best, and not at all while autovacuum is off. Until then
a statement that looks rows up by one column among those another narrows (a batch of contacts by
id, among the account's) is planned for the few rows the statistics tell of, and reads all of the
account's rows for every batch: the work grows with the square of the rows written.

`KeptStatistics` analyzes the tables from a first count of written records on, and each time as
many again have been written, so a write of n records analyzes them about log2(n / first) + 1
times (nine for 1,000,000 records from 5,000 on). Elsewhere (SQLite) it does nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from integration.store.db import run_committed_rows

logger = logging.getLogger(__name__)


class KeptStatistics:
    """Analyze `tables` once the records written reach `first` (below it, what a stale plan costs is
    small), then twice the count of the last time, and so on. Safe to share between threads writing
    at once: one of them analyzes at each mark, and the analyses take turns (one started while
    another runs would skip the tables the other holds)."""

    def __init__(self, database_url: str, tables: Sequence[str], *, first: int) -> None:
        self.database_url = database_url
        postgresql = make_url(database_url).get_backend_name() == "postgresql"
        self.tables = list(tables) if postgresql else []
        self.due = first
        self.written = 0
        self._lock = threading.Lock()
        self._analyzing = threading.Lock()

    def after(self, written: int) -> None:
        """Analyze the tables if `written` records in all reach the next mark."""
        with self._lock:
            self.written = max(self.written, written)
            due = self._reached()
        if due:
            self.analyze()

    def add(self, more: int) -> None:
        """`more` records were written, by whichever writer: analyze if they reach the next mark."""
        with self._lock:
            self.written += more
            due = self._reached()
        if due:
            self.analyze()

    def _reached(self) -> bool:
        """Whether the count reached the mark (which then moves on); under the lock."""
        if not self.tables or self.written < self.due:
            return False
        self.due = 2 * self.written
        return True

    def analyze(self) -> None:
        """Analyze the tables now.

        A table another process holds for maintenance (a VACUUM, an index being built) is skipped,
        not waited for; so is one the database user may not analyze (PostgreSQL warns). A server
        that refuses it outright (a standby) is not asked again by this keeper.
        """
        with self._analyzing:
            tables = self.tables
            if not tables:
                return
            try:
                run_committed_rows(self.database_url, f"ANALYZE (SKIP_LOCKED) {', '.join(tables)}", {})
            except DBAPIError as exc:  # the write goes on without
                logger.info("tables %s could not be analyzed: %s", ", ".join(tables), type(exc.orig).__name__)
                self.tables = []
