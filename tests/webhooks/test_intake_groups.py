"""Deliveries of requests served at once, stored together: one statement, one drain request a store."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError

from integration.ingest import inbox
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import InboxDelivery
from integration.store.redis import connection
from tests.support.builders import make_store
from tests.support.workers import drain_jobs
from webhooks import intake
from webhooks.intake import GroupCommit, GroupInterrupted, _Delivery, _store_group, _take, store_and_hand_on

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)


def _waiting(settings: Settings, n: int, body: bytes = b"{}") -> _Delivery:
    return _Delivery(settings, {"n": n, "body": body})


def _in_threads(commit: GroupCommit, deliveries: list[_Delivery]) -> list[threading.Thread]:
    threads = []
    for delivery in deliveries:

        def submit(delivery: _Delivery = delivery) -> None:
            try:
                commit.submit(delivery)
            except Exception:  # noqa: BLE001, S110 - kept on the delivery, checked by the test
                pass

        threads.append(threading.Thread(target=submit, daemon=True))
        threads[-1].start()
    return threads


class _SlowFirst:
    """A store whose first group waits for `release` (a database slow to answer), then fails with
    `fails` when given; it stores every other group at once."""

    def __init__(self, fails: BaseException | None = None) -> None:
        self.groups: list[list[int]] = []
        self.storing = threading.Event()
        self.release = threading.Event()
        self.fails = fails

    def __call__(self, group: list[_Delivery]) -> None:
        self.groups.append([d.row["n"] for d in group])
        if len(self.groups) == 1:
            self.storing.set()
            assert self.release.wait(30)
            if self.fails is not None:
                raise self.fails
        for delivery in group:
            delivery.stored = (delivery.row["n"], True)


def _behind_the_first(
    store: _SlowFirst, commit: GroupCommit, first: _Delivery, later: list[_Delivery]
) -> None:
    """Submit `first` (it leads and its store waits), then `later` while it is being stored; release
    it once they all wait, and wait for every request's answer."""
    threads = _in_threads(commit, [first])
    assert store.storing.wait(30)
    threads += _in_threads(commit, later)
    deadline = time.monotonic() + 30
    while len(commit._waiting) < len(later) and time.monotonic() < deadline:
        time.sleep(0.01)
    store.release.set()
    for thread in threads:
        thread.join(30)
    assert not any(thread.is_alive() for thread in threads)


def test_requests_arriving_while_a_group_is_stored_are_stored_together_by_the_next_leader(
    settings: Settings,
) -> None:
    store = _SlowFirst()
    commit = GroupCommit(store, wait_seconds=30)
    first, later = _waiting(settings, 0), [_waiting(settings, n) for n in range(1, 6)]
    _behind_the_first(store, commit, first, later)

    assert store.groups[0] == [0]
    assert sorted(store.groups[1]) == [1, 2, 3, 4, 5]
    assert len(store.groups) == 2
    assert [d.outcome() for d in [first, *later]] == [(n, True) for n in range(6)]
    assert not commit._leading
    assert not commit._waiting
    # A lone delivery afterwards leads at once.
    assert commit.submit(_waiting(settings, 6)) == (6, True)
    assert store.groups[2] == [6]


def test_a_group_that_fails_fails_each_of_its_requests_and_the_next_group_is_still_stored(
    settings: Settings,
) -> None:
    outage = OperationalError("INSERT", {}, Exception("server closed the connection"))
    store = _SlowFirst(fails=outage)
    commit = GroupCommit(store, wait_seconds=30)
    first, later = _waiting(settings, 0), [_waiting(settings, n) for n in (1, 2)]
    _behind_the_first(store, commit, first, later)

    with pytest.raises(OperationalError) as raised:
        first.outcome()
    assert raised.value is not outage  # each request raises a copy of its own
    assert raised.value.__cause__ is outage
    assert str(raised.value) == str(outage)
    assert [d.outcome() for d in later] == [(1, True), (2, True)]
    assert not commit._leading


def test_a_request_waits_for_its_group_only_so_long_and_then_leaves_the_queue(settings: Settings) -> None:
    store = _SlowFirst()  # a database that does not answer, until released
    commit = GroupCommit(store, wait_seconds=0.3)
    first = _waiting(settings, 0)
    threads = _in_threads(commit, [first])
    assert store.storing.wait(30)
    with pytest.raises(TimeoutError):
        commit.submit(_waiting(settings, 1))
    assert commit._waiting == []  # it left: never stored, never handed the lead
    store.release.set()
    for thread in threads:
        thread.join(30)
    assert first.outcome() == (0, True)
    assert store.groups == [[0]]
    assert not commit._leading
    assert commit.submit(_waiting(settings, 2)) == (2, True)
    assert store.groups == [[0], [2]]


def test_an_interrupted_leader_answers_its_group_and_passes_the_lead_on(settings: Settings) -> None:
    def store(group: list[_Delivery]) -> None:
        raise SystemExit(1)  # the web worker is told to leave while the group is stored

    commit = GroupCommit(store, wait_seconds=30)
    leader, member = _waiting(settings, 0), _waiting(settings, 1)
    commit._waiting, commit._leading, leader.leads = [leader, member], True, True
    with pytest.raises(SystemExit):
        commit._lead()
    assert member.done.is_set()
    with pytest.raises(GroupInterrupted):
        member.outcome()
    assert not commit._leading

    # A waiting delivery handed the lead as its own thread is interrupted passes the lead on.
    handed, next_one = _waiting(settings, 2), _waiting(settings, 3)
    commit._waiting, commit._leading, handed.leads = [handed, next_one], True, True
    assert commit._leave(handed, interrupted=True) is False
    assert commit._waiting == [next_one]
    assert next_one.leads
    assert next_one.done.is_set()


def test_a_group_is_bounded_by_count_and_by_the_size_of_its_bodies(settings: Settings) -> None:
    many = [_waiting(settings, n) for n in range(intake.MOST_DELIVERIES + 3)]
    assert [d.row["n"] for d in _take(many)] == list(range(intake.MOST_DELIVERIES))
    assert len(many) == 3
    half = b"x" * (intake.MOST_BODY_BYTES // 2)
    bodies = [
        _waiting(settings, n, body) for n, body in enumerate([half, half, b"y", half + half + b"z", b"w"])
    ]
    assert [d.row["n"] for d in _take(bodies)] == [0, 1]  # a third would pass the bound
    assert [d.row["n"] for d in _take(bodies)] == [2]
    assert [d.row["n"] for d in _take(bodies)] == [3]  # larger than the bound: alone
    assert [d.row["n"] for d in _take(bodies)] == [4]


def _row(store_id: int, delivery_id: str, source: str = "shopify") -> dict[str, Any]:
    body = f'{{"id": "{delivery_id}"}}'.encode()
    return inbox.delivery_row(
        source, "orders/create", delivery_id, body, store_id, None, None, None, None, True
    )


def test_a_row_the_store_refuses_fails_only_its_own_request(settings: Settings) -> None:
    with session_scope(settings.database_url) as session:
        store_id = make_store(session).id
    good, gone, again = (
        _Delivery(settings, _row(store_id, "w-1")),
        _Delivery(settings, _row(store_id + 1000, "w-2")),  # its store deleted since it was looked up
        _Delivery(settings, _row(store_id, "w-3")),
    )
    _store_group(settings.database_url)([good, gone, again])

    with pytest.raises(IntegrityError):
        gone.outcome()
    with session_scope(settings.database_url) as session:
        stored = dict(session.execute(select(InboxDelivery.delivery_id, InboxDelivery.id)).all())
    assert good.outcome() == (stored["w-1"], True)
    assert again.outcome() == (stored["w-3"], True)
    assert sorted(stored) == ["w-1", "w-3"]
    assert [job.args for job in drain_jobs(settings)] == [["shopify", store_id]]

    # Stored again (a redelivery): nothing new, no drain asked for.
    connection(settings).flushdb()
    redelivered = _Delivery(settings, _row(store_id, "w-1"))
    _store_group(settings.database_url)([redelivered])
    assert redelivered.outcome() == (stored["w-1"], False)
    assert drain_jobs(settings) == []


def test_deliveries_posted_at_once_are_each_stored_once_and_each_store_drained(settings: Settings) -> None:
    with session_scope(settings.database_url) as session:
        stores = [make_store(session).id for _ in range(3)]
    # 40 requests from 40 threads at once: 30 deliveries over 3 stores, 10 of them sent twice.
    sent = [(stores[i % 3], f"d-{i}") for i in range(30)]
    sent += sent[:10]
    barrier = threading.Barrier(len(sent))
    answers: list[Any] = [None] * len(sent)

    def post(i: int, store_id: int, delivery_id: str) -> None:
        barrier.wait(30)
        try:
            answers[i] = store_and_hand_on(
                settings, source="shopify", topic="orders/create", delivery_id=delivery_id,
                body=delivery_id.encode(), store_id=store_id, signature_verified=True,
            )  # fmt: skip
        except Exception as error:  # noqa: BLE001 - the test shows it
            answers[i] = error

    threads = [threading.Thread(target=post, args=(i, *s)) for i, s in enumerate(sent)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert all(isinstance(a, inbox.Received) for a in answers), answers
    with session_scope(settings.database_url) as session:
        rows = session.execute(select(InboxDelivery.delivery_id, InboxDelivery.id, InboxDelivery.body)).all()
    stored = {delivery_id: (row_id, body) for delivery_id, row_id, body in rows}
    assert len(rows) == 30
    assert all(stored[d][1] == d.encode() for _, d in sent)
    news = Counter(d for (_, d), a in zip(sent, answers, strict=True) if a.new)
    assert news == Counter(d for _, d in sent[:30])  # each new exactly once
    assert all(a.id == stored[d][0] for (_, d), a in zip(sent, answers, strict=True))
    drained = sorted(job.args[1] for job in drain_jobs(settings))
    assert drained == sorted(stores)  # one drain waits for each store, however many asked
