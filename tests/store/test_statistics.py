"""The planner's statistics kept up with a long bulk write: analyzed at marks that double."""

from __future__ import annotations

import logging
import threading

import pytest

from integration.store.statistics import KeptStatistics
from tests.support.statistics import analyze_counts, record_analyses

TABLES = ("orders", "contacts")


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_tables_are_analyzed_from_the_first_mark_on_and_each_time_the_count_doubles(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    analyses = record_analyses(monkeypatch)
    kept = KeptStatistics(db_url, TABLES, first=10)
    before = analyze_counts(db_url, TABLES)
    counts = []
    for written in (4, 9, 10, 15, 19, 20, 39, 41, 80, 90):
        kept.after(written)
        counts.append(len(analyses))
    # Marks at 10, then 2 × 10 = 20, then 2 × 20 = 40 (reached at 41), then 82 (reached at 90).
    assert counts == [0, 0, 1, 1, 1, 2, 2, 3, 3, 4]
    assert analyses == [list(TABLES)] * 4  # every table named, each time
    after = analyze_counts(db_url, TABLES)
    assert all(after[table] > before[table] for table in TABLES)  # the server did analyze them


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_writers_in_threads_count_together_and_one_of_them_analyzes_at_each_mark(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    analyses = record_analyses(monkeypatch)
    kept = KeptStatistics(db_url, ["orders"], first=10)
    start = threading.Barrier(4)

    def write() -> None:
        start.wait()
        for _ in range(5):
            kept.add(1)

    threads = [threading.Thread(target=write) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # 20 records in all, whatever the interleaving: the marks at 10 and 20 are each reached once.
    assert kept.written == 20
    assert analyses == [["orders"], ["orders"]]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_table_the_server_cannot_analyze_stops_the_keeper_not_the_write(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    kept = KeptStatistics(db_url, ["no_such_table"], first=1)
    with caplog.at_level(logging.INFO, logger="integration.store.statistics"):
        kept.after(1)  # no error raised
        kept.after(10)
    assert kept.tables == []
    reported = [record.getMessage() for record in caplog.records]
    assert reported == ["tables no_such_table could not be analyzed: UndefinedTable"]  # once


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_on_sqlite_nothing_is_analyzed(db_url: str, caplog: pytest.LogCaptureFixture) -> None:
    kept = KeptStatistics(db_url, TABLES, first=1)
    with caplog.at_level(logging.INFO, logger="integration.store.statistics"):
        kept.after(100)
        kept.analyze()
    assert kept.tables == []
    assert not caplog.records  # nothing was tried
