"""The connector contract, checked over every registered source and destination.

Sources: a delivery received twice is stored and applied once, and the same content again changes
nothing; an older version of a record never overwrites a newer one; a malformed record is reported
with its position and reason while the valid ones are kept. Destinations: a 429 is waited out as
its Retry-After says, a 5xx leaves the batch to a later run, a 401 stops with an error telling to
reconnect, and a partial failure is reported per member. Each registry entry needs a case below;
one registered without a case fails here until it gets one.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import pytest
import responses
from sqlalchemy import func, select

from connectors.http import Http
from connectors.opening import Opening
from connectors.registry import DESTINATIONS, SOURCES
from connectors.shopify.tags import customer_gid
from integration.contract import ADD, Change, Delivery, DestinationClient, Target
from integration.errors import CredentialsRejected, RetriableConnectorError
from integration.ingest import inbox
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import (
    Contact,
    DestinationKind,
    EmailSource,
    EmailTool,
    InboxDelivery,
    InboxStatus,
    InteractionEvent,
    StoreCustomer,
    SyncMode,
)
from tests.factories import make_store
from tests.shopify_fixtures import SHOP, connect_shop, payload
from tests.sync_helpers import PUBLIC_ADDRESS

# Sources ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceCase:
    """How a source's deliveries look: bodies in the vendor's documented shape, and what they write.

    `record(first_name, updated_at)` is one record; `older` is True when the source's records carry
    versions (events do not: they are facts, de-duplicated by their ids). `malformed` is a delivery
    with one malformed record, after `valid` ones when a delivery holds several.
    """

    topic: str
    record: Callable[[str, str], bytes]
    malformed: bytes
    valid: int  # valid records in `malformed`
    email: str  # the address the record is about
    email_tool: EmailTool | None = None  # delivered through an email source, not a store
    older: bool = True
    # Its receiver names a delivery by the body's digest: the same content is the same delivery.
    named_by_content: bool = False


def _api_customer(name: str, updated_at: str) -> bytes:
    return json.dumps(
        [{"id": "7", "email": "ann@example.com", "first_name": name, "updated_at": updated_at}]
    ).encode()


def _shopify_customer(name: str, updated_at: str) -> bytes:
    return json.dumps({**payload("customers_create"), "first_name": name, "updated_at": updated_at}).encode()


def _sendgrid_event(name: str, updated_at: str) -> bytes:
    event = {
        "email": "open@example.com",
        "timestamp": 1781000000,
        "event": "open",
        "sg_event_id": "c2VuZGdyaWQtb3Blbi0x",
    }
    return json.dumps([event]).encode()


def _mailchimp_subscribe(name: str, updated_at: str) -> bytes:
    form = {
        "type": "subscribe",
        "fired_at": "2026-03-26 21:35:57",
        "data[id]": "8a25ff1d98",
        "data[list_id]": "a6b5da1054",
        "data[email]": "api@mailchimp.com",
        "data[merges][FNAME]": name,
    }
    return urlencode(form).encode()


SOURCE_CASES: dict[str, SourceCase] = {
    "api": SourceCase(
        "customers",
        _api_customer,
        json.dumps(
            [
                {"id": "8", "email": "bo@example.com", "updated_at": "2026-06-01T10:00:00Z"},
                {"id": "9", "email": 5},
            ]
        ).encode(),
        valid=1,
        email="ann@example.com",
    ),
    "shopify": SourceCase(
        "customers/update",
        _shopify_customer,
        json.dumps({**payload("customers_create"), "updated_at": "not a time"}).encode(),
        valid=0,
        email="bob@biller.com",
    ),
    "sendgrid": SourceCase(
        "events",
        _sendgrid_event,
        json.dumps(
            [
                {
                    "email": "ok@example.com",
                    "timestamp": 1781000000,
                    "event": "open",
                    "sg_event_id": "b2stMQ",
                },
                {
                    "email": "bad@example.com",
                    "timestamp": "yesterday",
                    "event": "open",
                    "sg_event_id": "YmFkLTE",
                },
            ]
        ).encode(),
        valid=1,
        email="open@example.com",
        email_tool=EmailTool.SENDGRID,
        older=False,
    ),
    "mailchimp": SourceCase(
        "subscribe",
        _mailchimp_subscribe,
        urlencode({"type": "subscribe", "fired_at": "not a time", "data[email]": "x@example.com"}).encode(),
        valid=0,
        email="api@mailchimp.com",
        email_tool=EmailTool.MAILCHIMP,
        older=False,
        named_by_content=True,
    ),
}


def with_case(registered: Any, cases: dict[Any, Any]) -> Any:
    """A registered connector's name; a connector registered without a case here fails its tests."""
    if registered not in cases:
        pytest.fail(f"{registered!r} is registered without a contract case in {__name__}")
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
        """How many contacts, links and interactions the store holds."""
        with session_scope(self.db_url) as session:
            return tuple(
                session.scalar(select(func.count()).select_from(table)) or 0
                for table in (Contact, StoreCustomer, InteractionEvent)
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

EMAILS = ["person0@example.com", "person1@example.com", "person2@example.com"]
FAILING = "person1@example.com"
CHANGES = [
    Change(ADD, i + 1, email, first_name=f"First{i}", remote_id=str(1001 + i))
    for i, email in enumerate(EMAILS)
]
RETRY_AFTER_SECONDS = 7


@dataclass(frozen=True)
class DestinationCase:
    """A destination kind's settings and its vendor's documented answers.

    `main` is the endpoint the members go to (method and URL pattern); `answer(failing)` mocks
    the vendor answering every call, with a per-member error for the address in `failing`.
    """

    config: dict[str, Any]
    credentials: dict[str, Any]
    main: tuple[str, str | re.Pattern[str]]
    answer: Callable[[responses.RequestsMock, str | None], None]
    sync_config: dict[str, Any] = field(default_factory=dict)


MAILCHIMP_KEY = "0123456789abcdef0123456789abcdef-us6"
MAILCHIMP = "https://us6.api.mailchimp.com/3.0/lists/a1b2c3"


def _mailchimp(mock: responses.RequestsMock, failing: str | None) -> None:
    def batch(request: Any) -> tuple[int, dict[str, str], str]:
        members = json.loads(request.body)["members"]
        errors = [
            {"email_address": m["email_address"], "error": "Invalid Resource", "error_code": "ERROR_GENERIC"}
            for m in members
            if m["email_address"] == failing
        ]
        created = [{"email_address": m["email_address"]} for m in members if m["email_address"] != failing]
        body = {"new_members": created, "updated_members": [], "errors": errors, "error_count": len(errors)}
        return 200, {}, json.dumps(body)

    def tag(request: Any) -> tuple[int, dict[str, str], str]:
        added = json.loads(request.body).get("members_to_add", [])
        body = {"members_added": [{"email_address": e} for e in added], "members_removed": [], "errors": []}
        return 200, {}, json.dumps({**body, "total_added": len(added), "total_removed": 0, "error_count": 0})

    mock.add_callback(responses.POST, MAILCHIMP, callback=batch)
    mock.add_callback(responses.POST, f"{MAILCHIMP}/segments/77", callback=tag)


KLAVIYO = "https://a.klaviyo.com/api/profile-bulk-import-jobs"


def _klaviyo(mock: responses.RequestsMock, failing: str | None) -> None:
    job = {"type": "profile-bulk-import-job", "id": "job1"}
    mock.post(KLAVIYO, status=202, json={"data": {**job, "attributes": {"status": "queued"}}})
    attributes = {"status": "complete", "failed_count": int(failing is not None)}
    mock.get(f"{KLAVIYO}/job1", json={"data": {**job, "attributes": attributes}})
    error = {
        "type": "import-error",
        "id": "e1",
        "attributes": {
            "code": "invalid",
            "title": "Invalid input",
            "detail": "invalid phone number",
            "original_payload": {"email": failing},
        },
    }
    mock.get(
        re.compile(rf"{re.escape(KLAVIYO)}/job1/import-errors.*"),
        json={"data": [error], "links": {"next": None}},
    )


HOOK = "https://hooks.example.com/storepulse"


def _webhook(mock: responses.RequestsMock, failing: str | None) -> None:
    errors = [{"contact_id": EMAILS.index(failing) + 1, "error": "refused"}] if failing else []
    mock.post(HOOK, json={"errors": errors})


GRAPHQL = f"https://{SHOP}/admin/api/2026-07/graphql.json"
COST = {
    "cost": {
        "requestedQueryCost": 10,
        "actualQueryCost": 10,
        "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": 1990, "restoreRate": 100.0},
    }
}


def _shopify(mock: responses.RequestsMock, failing: str | None) -> None:
    failing_gid = customer_gid(str(1001 + EMAILS.index(failing))) if failing else None

    def graphql(request: Any) -> tuple[int, dict[str, str], str]:
        variables = json.loads(request.body)["variables"]
        data = {}
        for name, gid in variables.items():
            if name.startswith("id"):
                errors = [{"field": ["tags"], "message": "Tags is invalid"}] if gid == failing_gid else []
                data[f"m{name[2:]}"] = {"userErrors": errors}
        return 200, {}, json.dumps({"data": data, "extensions": COST})

    mock.add_callback(responses.POST, GRAPHQL, callback=graphql)


DESTINATION_CASES: dict[DestinationKind, DestinationCase] = {
    DestinationKind.MAILCHIMP: DestinationCase(
        {"list_id": "a1b2c3"}, {"api_key": MAILCHIMP_KEY}, ("POST", MAILCHIMP), _mailchimp, {"tag_id": 77}
    ),
    DestinationKind.KLAVIYO: DestinationCase(
        {"list_id": "VRgFBd"}, {"api_key": "pk_test_0123456789"}, ("POST", KLAVIYO), _klaviyo
    ),
    DestinationKind.WEBHOOK: DestinationCase(
        {"url": HOOK}, {"secret": "whsec_0123456789abcdef"}, ("POST", HOOK), _webhook
    ),
    DestinationKind.SHOPIFY: DestinationCase({}, {}, ("POST", GRAPHQL), _shopify),
}


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
