"""The importer's storer processes (forked from it on Linux): they leave with the importer, leave
its signals to it, and write to streams of their own."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from connectors.csv import importer

pytestmark = pytest.mark.skipif(not importer.STORE_IN_PROCESSES, reason="storers are threads here")


def _pid_after(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


def _gone(pid: int) -> bool:
    """Ended: no such process, or one that has ended and waits to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


def _an_importer(report: multiprocessing.SimpleQueue) -> None:  # type: ignore[type-arg]
    """An importing process: its two storers busy, their pids told, then it waits to be killed."""
    with importer._storers(2) as storers:
        started = [storers.submit(_pid_after, 0.3) for _ in range(2)]
        report.put(sorted({future.result() for future in started}))
        time.sleep(600)


def test_storers_leave_when_the_importer_is_killed() -> None:
    fork = multiprocessing.get_context("fork")
    report = fork.SimpleQueue()
    importing = fork.Process(target=_an_importer, args=(report,))
    importing.start()
    try:
        storers = report.get()
        assert len(storers) == 2
        assert all(not _gone(pid) for pid in storers)
        os.kill(importing.pid, signal.SIGKILL)  # type: ignore[arg-type]
        importing.join(10)
        deadline = time.monotonic() + 10
        while not all(_gone(pid) for pid in storers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert all(_gone(pid) for pid in storers)
    finally:
        if importing.is_alive():
            importing.kill()


def _terminated_then(answer: str) -> str:
    os.kill(os.getpid(), signal.SIGTERM)
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(0.1)
    return answer


def test_a_storer_leaves_termination_and_interrupts_to_the_importer() -> None:
    # A worker told to stop (SIGTERM to every process of it) lets its job end; the handlers it
    # runs are its own, not a storer's.
    with importer._storers(2) as storers:
        assert storers.submit(_terminated_then, "stored").result(timeout=20) == "stored"


def _logs(line: str, inherited: int) -> tuple[bool, bool]:
    """Log a line as a storer; say whether its stderr is a stream of its own and the handler writes to it."""
    handler = logging.getLogger("storer-test").handlers[0]
    logging.getLogger("storer-test").warning(line)
    return id(sys.stderr) != inherited, handler.stream is sys.stderr  # type: ignore[attr-defined]


def test_a_storer_writes_to_streams_of_its_own_over_the_importers_files(
    capfd: pytest.CaptureFixture[str],
) -> None:
    # The stream objects the fork copies may be locked for good by a thread of the importer that
    # was writing just then (multiprocessing flushes them just before it forks, which narrows that
    # moment without closing it): a storer writes through new streams on the same files.
    log = logging.getLogger("storer-test")
    handler = logging.StreamHandler(sys.stderr)
    log.addHandler(handler)
    try:
        with importer._storers(2) as storers:
            own, through_it = storers.submit(_logs, "a storer's line", id(sys.stderr)).result(timeout=20)
    finally:
        log.removeHandler(handler)
    assert own
    assert through_it
    assert "a storer's line" in capfd.readouterr().err
