"""The importer's storer processes (forked from it on Linux): they leave with the importer, leave
its signals to it, and write to streams of their own."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import pytest

from connectors.csv import importer

pytestmark = pytest.mark.skipif(not importer.STORE_IN_PROCESSES, reason="storers are threads here")


# Set in the importing process before its storers are forked, so they share it.
_BOTH_RUNNING: Any = None


def _pid_once_both_run() -> int:
    _BOTH_RUNNING.wait(timeout=30)
    return os.getpid()


def _gone(pid: int) -> bool:
    """Ended: no such process, or one that has ended and waits to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


def _an_importer(report: Any) -> None:
    """An importing process: its two storers busy, their pids told, then it waits to be killed."""
    global _BOTH_RUNNING
    _BOTH_RUNNING = multiprocessing.get_context("fork").Barrier(2)
    with importer._storers(2) as storers:
        started = [storers.submit(_pid_once_both_run) for _ in range(2)]
        report.put(sorted({future.result() for future in started}))
        time.sleep(600)


def test_storers_leave_when_the_importer_is_killed() -> None:
    fork = multiprocessing.get_context("fork")
    report = fork.Queue()
    importing = fork.Process(target=_an_importer, args=(report,))
    importing.start()
    storers: list[int] = []
    try:
        storers = report.get(timeout=60)
        assert len(storers) == 2
        assert all(not _gone(pid) for pid in storers)
        os.kill(importing.pid, signal.SIGKILL)  # type: ignore[arg-type]
        importing.join(10)
        deadline = time.monotonic() + 10
        while not all(_gone(pid) for pid in storers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert all(_gone(pid) for pid in storers)
    finally:
        for pid in [importing.pid, *storers]:
            if pid is not None and not _gone(pid):
                os.kill(pid, signal.SIGKILL)


def _asked_to_stop_then(answer: str) -> str:
    os.kill(os.getpid(), signal.SIGTERM)  # as a worker's stop request reaches each of its processes
    os.kill(os.getpid(), signal.SIGINT)  # as Ctrl-C reaches each process of the terminal
    time.sleep(0.2)
    return answer


def test_a_storer_leaves_stop_requests_and_interrupts_to_the_importer() -> None:
    # A worker told to stop lets its job end; the handlers it runs are its own, not a storer's.
    with importer._storers(2) as storers:
        assert storers.submit(_asked_to_stop_then, "stored").result(timeout=20) == "stored"


# Set before the storers are forked, so they share it: the pid of the storer that took a task.
_TAKEN_BY: Any = None


def _sleep_telling(seconds: float) -> None:
    _TAKEN_BY.value = os.getpid()
    time.sleep(seconds)


def test_when_a_storer_dies_the_import_fails_and_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    # The storer waiting for work dies (holding the lock of the queue it reads): the pool asks the
    # other one to end, by SIGTERM from the importer, and that one does, instead of finishing its
    # batch and then waiting for that lock for good, with the importer waiting for it.
    monkeypatch.setattr(sys.modules[__name__], "_TAKEN_BY", multiprocessing.get_context("fork").Value("i", 0))
    outcome: dict[str, Any] = {}

    def use_the_storers() -> None:
        try:
            with importer._storers(2) as storers:
                busy = storers.submit(_sleep_telling, 2)
                deadline = time.monotonic() + 20
                while not _TAKEN_BY.value and time.monotonic() < deadline:
                    time.sleep(0.01)
                for child in multiprocessing.active_children():
                    if child.pid != _TAKEN_BY.value:
                        os.kill(child.pid, signal.SIGKILL)  # type: ignore[arg-type]
                busy.result(timeout=30)
        except Exception as exc:  # noqa: BLE001 - what ended it is the test's subject
            outcome["raised"] = exc

    using = threading.Thread(target=use_the_storers, daemon=True)
    using.start()
    using.join(30)
    for child in multiprocessing.active_children():
        os.kill(child.pid, signal.SIGKILL)  # type: ignore[arg-type]
    assert not using.is_alive()
    assert isinstance(outcome.get("raised"), BrokenProcessPool)


class _Proxy:
    """What a progress display puts in place of sys.stderr while it runs (rich's FileProxy)."""

    def __init__(self, file: Any) -> None:
        self.rich_proxied_file = file

    def write(self, text: str) -> int:
        return self.rich_proxied_file.write(text)  # type: ignore[no-any-return]

    def flush(self) -> None:
        self.rich_proxied_file.flush()


def _logs(line: str, inherited: list[int]) -> tuple[bool, bool]:
    """Log a line as a storer; say whether its stderr and its handler's stream are streams of its own."""
    handler = logging.getLogger("storer-test").handlers[0]
    logging.getLogger("storer-test").warning(line)
    stream = handler.stream  # type: ignore[attr-defined]
    return id(sys.stderr) not in inherited, stream is sys.stderr


def test_a_storer_writes_to_streams_of_its_own_over_the_importers_files(
    capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The stream objects the fork copies may be locked for good by a thread of the importer that
    # was writing just then (multiprocessing flushes them just before it forks, which narrows that
    # moment without closing it): a storer writes through new streams on the same files, its log
    # handlers too, even while a progress display has put a proxy in place of sys.stderr.
    log = logging.getLogger("storer-test")
    handler = logging.StreamHandler(sys.stderr)
    log.addHandler(handler)
    monkeypatch.setattr(sys, "stderr", _Proxy(sys.stderr))
    try:
        with importer._storers(2) as storers:
            inherited = [id(sys.stderr), id(handler.stream)]
            own, through_it = storers.submit(_logs, "a storer's line", inherited).result(timeout=20)
    finally:
        log.removeHandler(handler)
        monkeypatch.undo()
    assert own
    assert through_it
    assert "a storer's line" in capfd.readouterr().err
