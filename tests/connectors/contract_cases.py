"""The cases of the connector contract tests: each registered connector's traffic in documented shapes.

A source's case gives its deliveries (a record, a malformed delivery); a destination's case gives
its settings and its vendor's answers. A connector added to `connectors.registry` gets its case here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import responses

from connectors.shopify.tags import customer_gid
from integration.contract import ADD, Change
from integration.store.models import DestinationKind, EmailTool
from tests.support.billbee import document as billbee_document
from tests.support.shopify import SHOP, payload
from tests.support.woocommerce import document as woocommerce_document

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


def _billbee_order(name: str, updated_at: str, number: int = 100000186018330) -> dict[str, Any]:
    # The buyer's first name is the contact's; the order's last change is its version.
    made = billbee_document("order", BillBeeOrderId=number, LastModifiedAt=updated_at)
    made["Buyer"] = {**made["Buyer"], "FirstName": name}
    return made


def _billbee_other_buyer() -> dict[str, Any]:
    made = _billbee_order("Bea", "2026-06-03T10:00:00Z", number=7)
    made["Customer"] = {**made["Customer"], "Id": 7, "Email": "bea@example.com"}
    return made


def _billbee_page(*orders: dict[str, Any]) -> bytes:
    # A page of orders as the Billbee poll keeps it in the inbox.
    return json.dumps({"Data": list(orders), "ReadAt": "2026-06-04T10:00:00+00:00"}).encode()


# Storefront events are taken within a day of their receipt: the case's events happen now.
STOREFRONT_AT = datetime.now(UTC).isoformat(timespec="seconds")


def _storefront_view(name: str, updated_at: str) -> bytes:
    event = {"id": "ev-1", "type": "product_view", "at": STOREFRONT_AT, "visitor": "v-1", "product_id": "42"}
    return json.dumps({"key": "pk_case", "source": "snippet", "events": [event]}).encode()


def _woocommerce_customer(name: str, updated_at: str) -> bytes:
    # WooCommerce writes its _gmt times in UTC without a zone
    gmt = updated_at.removesuffix("Z")
    return json.dumps(woocommerce_document("customer_25", first_name=name, date_modified_gmt=gmt)).encode()


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
    "storefront": SourceCase(
        "events",
        _storefront_view,
        json.dumps(
            {
                "key": "pk_case",
                "source": "snippet",
                "events": [
                    {
                        "id": "ev-2",
                        "type": "add_to_cart",
                        "at": STOREFRONT_AT,
                        "visitor": "v-2",
                        "product_id": "7",
                    },
                    {"id": "ev-3", "type": "add_to_cart", "at": "soon", "visitor": "v-2", "product_id": "7"},
                ],
            }
        ).encode(),
        valid=1,
        email="nobody@example.com",  # a visitor no customer or checkout names: its events wait
        older=False,
    ),
    "billbee": SourceCase(
        "orders",
        lambda name, updated_at: _billbee_page(_billbee_order(name, updated_at)),
        _billbee_page(_billbee_other_buyer(), {"BillBeeOrderId": "seven"}),
        valid=1,
        email="max@mustermann.tld",
    ),
    "woocommerce": SourceCase(
        "customer.updated",
        _woocommerce_customer,
        json.dumps(woocommerce_document("customer_25", date_modified_gmt="not a time")).encode(),
        valid=0,
        email="john.doe@example.com",
    ),
}


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
