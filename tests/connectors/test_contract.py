"""The connector contract, checked over every registered source and destination.

Sources: a delivery received twice is stored and applied once, and the same content again changes
nothing; an older version of a record never overwrites a newer one; a malformed record is reported
with its position and reason while the valid ones are kept. Destinations: a 429 is waited out as
its Retry-After says, a 5xx leaves the batch to a later run, a 401 stops with an error telling to
reconnect, and a partial failure is reported per member. Each registry entry needs a case in
`contract_cases`; one registered without a case fails here until it gets one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import pytest
import responses
from sqlalchemy import func, select

from connectors.http import Http
from connectors.opening import Opening
from connectors.registry import DESTINATIONS, SOURCES
from integration.contract import Delivery, DestinationClient, Target
from integration.errors import CredentialsRejected, RetriableConnectorError
from integration.ingest import inbox
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import (
    Contact,
    DestinationKind,
    EmailSource,
    InboxDelivery,
    InboxStatus,
    InteractionEvent,
    StoreCustomer,
    SyncMode,
    Visitor,
    VisitorEvent,
)
from tests.connectors.contract_cases import (
    CHANGES,
    DESTINATION_CASES,
    FAILING,
    RETRY_AFTER_SECONDS,
    SOURCE_CASES,
    SourceCase,
)
from tests.support.builders import make_store
from tests.support.shopify import connect_shop
from tests.support.syncs import PUBLIC_ADDRESS


def with_case(registered: Any, cases: dict[Any, Any]) -> Any:
    """A registered connector's name; one registered without a case fails its tests."""
    if registered not in cases:
        pytest.fail(f"{registered!r} is has no case in tests/connectors/contract_cases.py")
    return registered


@pytest.fixture(params=sorted(SOURCES))
def source_name(request: pytest.FixtureRequest) -> str:
    name: str = with_case(request.param, SOURCE_CASES)
    return name


@dataclass
class Inbox:
    """Deliveries of one source into a fresh store, received and processed as the receivers do."""

    db_url: str
    source: str
    case: SourceCase
    store_id: int | None = None
    email_source_id: int | None = None

    def deliver(self, body: bytes, delivery_id: str | None = None) -> tuple[int, bool]:
        """Receive a delivery (its id derived from the body unless given) and process it."""
        with session_scope(self.db_url) as session:
            got = inbox.receive(
                session,
                source=self.source,
                topic=self.case.topic,
                delivery_id=delivery_id or hashlib.sha256(body).hexdigest(),
                body=body,
                store_id=self.store_id,
                email_source_id=self.email_source_id,
                signature_verified=True,
            )
        with session_scope(self.db_url) as session:
            inbox.process(session, [got.id], SOURCES)
        return got.id, got.new

    def delivery(self, delivery_id: int) -> InboxDelivery:
        with session_scope(self.db_url) as session:
            found = session.get(InboxDelivery, delivery_id)
            assert found is not None
            session.expunge(found)
            return found

    def rows(self) -> tuple[int, ...]:
        """How many contacts, links, interactions, and storefront visitors and their waiting events
        the store holds."""
        with session_scope(self.db_url) as session:
            return tuple(
                session.scalar(select(func.count()).select_from(table)) or 0
                for table in (Contact, StoreCustomer, InteractionEvent, Visitor, VisitorEvent)
            )

    def first_name(self) -> str | None:
        with session_scope(self.db_url) as session:
            return session.scalar(select(Contact.first_name).where(Contact.email == self.case.email))


@pytest.fixture
def source_inbox(db_url: str, source_name: str) -> Inbox:
    case = SOURCE_CASES[source_name]
    with session_scope(db_url) as session:
        store = make_store(session)
        tool = None
        if case.email_tool is not None:
            tool = EmailSource(account_id=store.account_id, kind=case.email_tool, name=case.email_tool.value)
            session.add(tool)
            session.flush()
        return Inbox(db_url, source_name, case, store.id, tool.id if tool is not None else None)


def test_a_duplicate_delivery_is_stored_and_applied_once(source_inbox: Inbox) -> None:
    body = source_inbox.case.record("Ann", "2026-06-01T10:00:00Z")
    first, new = source_inbox.deliver(body)
    assert new
    assert source_inbox.delivery(first).status == InboxStatus.PROCESSED
    rows = source_inbox.rows()
    again, new_again = source_inbox.deliver(body)
    assert (again, new_again) == (first, False)
    assert source_inbox.rows() == rows


def test_the_same_content_under_another_delivery_id_changes_nothing(source_inbox: Inbox) -> None:
    body = source_inbox.case.record("Ann", "2026-06-01T10:00:00Z")
    source_inbox.deliver(body)
    rows, name = source_inbox.rows(), source_inbox.first_name()
    # A replay under another delivery id (a vendor retrying with a new id, a re-sent export).
    renamed = (
        None if source_inbox.case.named_by_content else "replayed-" + hashlib.sha256(body).hexdigest()[:20]
    )
    replay, _ = source_inbox.deliver(body, delivery_id=renamed)
    if renamed is not None:
        assert (source_inbox.delivery(replay).result or {}).get("written", 0) == 0
    assert (source_inbox.rows(), source_inbox.first_name()) == (rows, name)


def test_an_older_version_never_overwrites_a_newer_one(source_inbox: Inbox) -> None:
    if not source_inbox.case.older:
        pytest.skip(f"{source_inbox.source} delivers events, which carry no versions")
    source_inbox.deliver(source_inbox.case.record("Newer", "2026-06-02T10:00:00Z"))
    older, _ = source_inbox.deliver(source_inbox.case.record("Older", "2026-06-01T10:00:00Z"))
    assert source_inbox.delivery(older).status == InboxStatus.PROCESSED
    assert source_inbox.first_name() == "Newer"
    assert (source_inbox.delivery(older).result or {}).get("written") == 0


def test_a_malformed_record_is_reported_with_its_place_and_reason_and_the_valid_ones_kept(
    source_inbox: Inbox,
) -> None:
    good, _ = source_inbox.deliver(source_inbox.case.record("Ann", "2026-06-01T10:00:00Z"))
    rows = source_inbox.rows()
    bad, _ = source_inbox.deliver(source_inbox.case.malformed)
    delivery = source_inbox.delivery(bad)
    if source_inbox.case.valid:
        # Several records a delivery: the malformed one is listed by its index, the others stored.
        assert delivery.status == InboxStatus.PROCESSED
        skipped = (delivery.result or {})["skipped"]
        assert [s["index"] for s in skipped] == [source_inbox.case.valid]
        assert all(s.get("errors") or s.get("reason") for s in skipped)
        assert (delivery.result or {})["written"] >= 1
        assert source_inbox.rows() > rows
    else:
        # One record a delivery: that delivery fails with the reason, and its neighbours stand.
        assert delivery.status == InboxStatus.FAILED
        assert delivery.last_error
        assert source_inbox.rows() == rows
    assert source_inbox.delivery(good).status == InboxStatus.PROCESSED


# Destinations -------------------------------------------------------------------------------


@pytest.fixture(params=sorted(DESTINATIONS))
def kind(request: pytest.FixtureRequest) -> DestinationKind:
    found: DestinationKind = with_case(request.param, DESTINATION_CASES)
    return found


@dataclass
class Opened:
    client: DestinationClient
    slept: list[float]


@pytest.fixture
def opened(settings: Settings, kind: DestinationKind, dns: dict[str, list[str]]) -> Opened:
    """The kind's client as its registry entry opens it for a run (sleeps recorded, not slept)."""
    dns["hooks.example.com"] = [PUBLIC_ADDRESS]
    case = DESTINATION_CASES[kind]
    config = dict(case.config)
    if kind == DestinationKind.SHOPIFY:
        config["store_id"] = connect_shop(settings)
    slept: list[float] = []
    target = Target(
        1,
        1,
        1,
        1,
        SyncMode.TAGS if kind == DestinationKind.SHOPIFY else SyncMode.AUDIENCE,
        {"tag": "storepulse:everybody", **case.sync_config},
    )
    opening = Opening(
        settings,
        target,
        config,
        case.credentials,
        lambda vendor: Http(vendor, sleep=slept.append),
        sleep=slept.append,
    )
    return Opened(DESTINATIONS[kind].open_client(opening), slept)


def _deliver(opened: Opened) -> Delivery | Exception:
    try:
        return opened.client.deliver(CHANGES)
    except Exception as exc:  # noqa: BLE001 - the contract says which it must be
        return exc


def test_a_429_is_waited_out_as_retry_after_says_then_delivered(
    kind: DestinationKind, opened: Opened
) -> None:
    case = DESTINATION_CASES[kind]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        method, url = case.main
        mock.add(
            method, url, status=429, headers={"Retry-After": str(RETRY_AFTER_SECONDS)}, json={"errors": []}
        )
        case.answer(mock, None)
        outcome = _deliver(opened)
    assert isinstance(outcome, Delivery), outcome
    assert sorted(outcome.done) == [1, 2, 3]
    assert RETRY_AFTER_SECONDS in opened.slept


def test_a_5xx_leaves_the_batch_to_a_later_run(kind: DestinationKind, opened: Opened) -> None:
    case = DESTINATION_CASES[kind]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        method, url = case.main
        mock.add(method, url, status=503, json={"errors": []})
        outcome = _deliver(opened)
    if isinstance(outcome, Delivery):
        assert not outcome.done
        assert sorted(outcome.failed) == [1, 2, 3]
    else:
        assert isinstance(outcome, RetriableConnectorError), outcome


def test_a_401_stops_with_an_error_telling_to_reconnect(kind: DestinationKind, opened: Opened) -> None:
    case = DESTINATION_CASES[kind]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        method, url = case.main
        mock.add(method, url, status=401, json={"errors": [{"detail": "invalid key"}]})
        outcome = _deliver(opened)
    assert isinstance(outcome, CredentialsRejected), outcome
    assert "reconnect" in str(outcome).lower()


def test_a_partial_failure_is_reported_per_member(kind: DestinationKind, opened: Opened) -> None:
    case = DESTINATION_CASES[kind]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        case.answer(mock, FAILING)
        outcome = _deliver(opened)
    assert isinstance(outcome, Delivery), outcome
    assert sorted(outcome.done) == [1, 3]
    assert set(outcome.failed) | set(outcome.refused) == {2}
    assert (outcome.failed | outcome.refused)[2]
