"""Storing a verified delivery and handing it on, shared by the requests a web process serves at once.

Every receiver ends the same way: the delivery is stored in the inbox, committed, a drain of its
store is asked for, and then it answers. On PostgreSQL, requests arriving while another one is
storing wait for it and are stored together (group commit): one statement and one commit for all
of them, and one drain request per store instead of one per delivery. Whoever arrives while no one
is storing stores at once, so a lone delivery waits for no one; under load the groups form by
themselves, as large as the requests that came during the previous group's round trip. With one
thread per web process (gunicorn's sync worker) every group is a single delivery.

A group that fails on the database as a whole (an outage) fails each of its requests with that
error, which answers 503. A group refused for one of its rows (a store deleted meanwhile) is stored
again one delivery at a time, so only that row's request fails.
"""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import abort
from sqlalchemy.exc import DataError, IntegrityError

from integration.ingest import inbox
from integration.settings import Settings
from jobs.ingest import request_drain

logger = logging.getLogger(__name__)

MOST_DELIVERIES = 64  # in one statement
MOST_BODY_BYTES = 8 * 1024 * 1024  # of the bodies in one statement (a single larger one goes alone)
# A request waits this long for its group (Shopify gives up after 5 s): a database that stopped
# answering fails the requests with 503 instead of holding every thread of the web process.
WAIT_SECONDS = 20.0


def store_and_hand_on(
    settings: Settings,
    *,
    source: str,
    topic: str,
    delivery_id: str,
    body: bytes,
    store_id: int,
    event_id: str | None = None,
    triggered_at: datetime | None = None,
    headers: dict[str, str] | None = None,
    signature_verified: bool = False,
) -> inbox.Received:
    """Store a delivery (committed) and, when it is new, ask for a drain of its store; then return.

    Raises the database's error when it could not be stored (nothing was), and answers 503 when
    its group was not stored within WAIT_SECONDS (it may be stored later: a redelivery finds it).
    ValueError for an id the inbox cannot keep, before anything is stored."""
    if not settings.database_url.startswith("postgresql"):
        received = inbox.receive_committed(
            settings.database_url, source=source, topic=topic, delivery_id=delivery_id, body=body,
            store_id=store_id, event_id=event_id, triggered_at=triggered_at, headers=headers,
            signature_verified=signature_verified,
        )  # fmt: skip
        if received.new:
            request_drain(settings, source, store_id)
        return received
    row = inbox.delivery_row(
        source, topic, delivery_id, body, store_id, None, event_id, triggered_at, headers,
        signature_verified,
    )  # fmt: skip
    try:
        stored_id, new = _group(settings.database_url).submit(_Delivery(settings, row))
    except TimeoutError:
        abort(503, "the store did not answer in time")
    return inbox.note_received(row, stored_id, new=new)


@dataclass(eq=False)
class _Delivery:
    """A delivery waiting in a group, and what became of it."""

    settings: Settings
    row: dict[str, Any]
    done: threading.Event = field(default_factory=threading.Event)
    leads: bool = False  # handed the storing of the next group
    stored: tuple[int, bool] | None = None
    error: BaseException | None = None

    def outcome(self) -> tuple[int, bool]:
        """What became of it, in the thread of its own request: an error the group met is raised
        here as a copy of its own, so requests do not share one traceback."""
        error = self.error
        if error is None:
            assert self.stored is not None  # noqa: S101 - set with done, unless an error was
            return self.stored
        if not isinstance(error, Exception):  # the leading thread was interrupted (SystemExit)
            raise GroupInterrupted("storing the delivery was interrupted") from error
        try:
            own = copy.copy(error)
        except Exception:  # noqa: BLE001 - an error that cannot be copied is raised as it is
            raise error from None
        raise own.with_traceback(None) from error


class GroupInterrupted(RuntimeError):
    """The thread storing a delivery's group stopped before it was answered."""


class GroupCommit:
    """Deliveries submitted from many threads, stored in groups by whichever thread leads.

    The first to arrive when no group is being stored leads: it stores the deliveries waiting then
    (its own among them), answers them, and hands the lead to the first of those that came in the
    meantime. The others wait for their group's answer, at most `wait_seconds`: then they give up
    with TimeoutError (a group stuck on an unanswering database answers its requests 503, and
    those not yet taken into a group leave the queue)."""

    def __init__(self, store: Callable[[list[_Delivery]], None], wait_seconds: float) -> None:
        self._store = store
        self._wait_seconds = wait_seconds
        self._lock = threading.Lock()
        self._waiting: list[_Delivery] = []
        self._leading = False

    def submit(self, delivery: _Delivery) -> tuple[int, bool]:
        with self._lock:
            self._waiting.append(delivery)
            delivery.leads = not self._leading
            self._leading = True
        if not delivery.leads:
            try:
                answered = delivery.done.wait(self._wait_seconds)
            except BaseException:
                self._leave(delivery, interrupted=True)
                raise
            if not answered and not self._leave(delivery, interrupted=False):
                raise TimeoutError(f"the delivery's group was not stored within {self._wait_seconds} s")
        if delivery.leads:
            self._lead()
        return delivery.outcome()

    def _leave(self, delivery: _Delivery, *, interrupted: bool) -> bool:
        """A waiting delivery gives up: it leaves the queue. True when it stays after all: it was
        answered, or handed the lead, just now. Interrupted, it passes a lead it was handed on."""
        with self._lock:
            if not delivery.leads:
                if delivery in self._waiting:
                    self._waiting.remove(delivery)
                    return False
                return delivery.done.is_set()  # in a group: answered, or still being stored
            if not interrupted:
                return True  # handed the lead just now: it leads
            self._waiting.remove(delivery)  # the first waiting: the lead goes to the next
            following = self._hand_on()
        if following is not None:
            following.done.set()
        return False

    def _hand_on(self) -> _Delivery | None:
        """With the lock held: hand the lead to the first delivery waiting (returned; the caller
        wakes it once the lock is released), or let no one lead."""
        following = self._waiting[0] if self._waiting else None
        if following is None:
            self._leading = False
        else:
            following.leads = True
        return following

    def _lead(self) -> None:
        with self._lock:
            group = _take(self._waiting)
        try:
            if group:
                self._store(group)
        except BaseException as error:  # noqa: BLE001 - each request raises it in its own thread
            for delivery in group:
                if delivery.stored is None and delivery.error is None:
                    delivery.error = error
            if not isinstance(error, Exception):
                raise
        finally:
            with self._lock:
                following = self._hand_on()
            for delivery in group:
                delivery.done.set()
            if following is not None:
                following.done.set()


def _take(waiting: list[_Delivery]) -> list[_Delivery]:
    """Remove and return the next group: the first deliveries within the bounds, at least one."""
    if not waiting:
        return []
    size = len(waiting[0].row["body"])
    count = 1
    while count < min(len(waiting), MOST_DELIVERIES):
        size += len(waiting[count].row["body"])
        if size > MOST_BODY_BYTES:
            break
        count += 1
    group = waiting[:count]
    del waiting[:count]
    return group


def _store_group(database_url: str) -> Callable[[list[_Delivery]], None]:
    def store(group: list[_Delivery]) -> None:
        try:
            _store(database_url, group)
        finally:
            _request_drains(group)  # for those stored, whatever stopped the others

    return store


def _store(database_url: str, group: list[_Delivery]) -> None:
    try:
        stored: Sequence[tuple[int, bool]] = inbox.store_committed(database_url, [d.row for d in group])
    except (IntegrityError, DataError):
        if len(group) == 1:
            raise
        # One row refused (a store deleted meanwhile): each on its own, so only its request fails.
        for delivery in group:
            try:
                ((stored_id, new),) = inbox.store_committed(database_url, [delivery.row])
                delivery.stored = (stored_id, new)
            except (IntegrityError, DataError) as error:
                delivery.error = error
    else:
        for delivery, outcome in zip(group, stored, strict=True):
            delivery.stored = outcome


def _request_drains(group: list[_Delivery]) -> None:
    """Ask once per store for a drain of the group's new deliveries; a failure to ask fails the
    requests of that store's deliveries, as it would have failed each alone."""
    stores: dict[tuple[str | None, str, int], list[_Delivery]] = {}
    for delivery in group:
        if delivery.stored is not None and delivery.stored[1]:
            key = (delivery.settings.redis_url, delivery.row["source"], delivery.row["store_id"])
            stores.setdefault(key, []).append(delivery)
    for (_, source, store_id), deliveries in stores.items():
        try:
            request_drain(deliveries[0].settings, source, store_id)
        except Exception as error:  # noqa: BLE001 - Redis being down is handled inside
            for delivery in deliveries:
                delivery.error = error


_groups: dict[str, GroupCommit] = {}
_groups_lock = threading.Lock()


def _group(database_url: str) -> GroupCommit:
    """This process's group commit for the database."""
    with _groups_lock:
        group = _groups.get(database_url)
        if group is None:
            group = _groups[database_url] = GroupCommit(_store_group(database_url), WAIT_SECONDS)
        return group
