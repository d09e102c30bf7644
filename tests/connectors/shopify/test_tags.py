"""Shopify customer tags: only storepulse's tag, only the difference, paced calls, one bulk mutation."""

from __future__ import annotations

import json
from typing import Any

import pytest
import responses
from sqlalchemy import func, select

from connectors.shopify.client import ShopifyClient
from connectors.shopify.tags import ShopifyTags
from integration import contract
from integration.audiences import sync
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import Contact, DestinationKind, SyncRun
from integration.store.redis import connection
from integration.store.types import utcnow
from jobs.queues import SYNC, queue
from tests.support.shopify import ACCESS_TOKEN, SHOP, Deliver
from tests.support.syncs import Audience, add_sync, audience, dry_run, set_contact

GRAPHQL = f"https://{SHOP}/admin/api/2026-07/graphql.json"
UPLOAD = "https://shopify-staged-uploads.storage.googleapis.com/"
RESULTS = "https://storage.googleapis.com/shopify-tiers-assets-prod-us-east1/bulk-results.jsonl"
TAG = "storepulse:everybody"


def cost(available: float = 1990, requested: float = 100) -> dict[str, Any]:
    return {
        "cost": {
            "requestedQueryCost": requested,
            "actualQueryCost": requested,
            "throttleStatus": {
                "maximumAvailable": 2000.0,
                "currentlyAvailable": available,
                "restoreRate": 100.0,
            },
        }
    }


class FakeShopify:
    """The Admin GraphQL endpoint as documented: tag mutations, staged upload, bulk mutation."""

    def __init__(self, missing: set[str] | None = None, throttle_first: bool = False) -> None:
        self.tagged: dict[str, set[str]] = {}
        self.missing = missing or set()  # customer ids Shopify no longer has
        self.throttle_first = throttle_first
        self.uploads: list[bytes] = []
        self.bulk: list[dict[str, Any]] = []
        self.polls = 0
        self.calls = 0

    def graphql(self, request: Any) -> tuple[int, dict[str, str], str]:
        body = json.loads(request.body)
        query, variables = body["query"], body["variables"]
        self.calls += 1
        if self.throttle_first and self.calls == 1:
            throttled = {"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}]}
            return 200, {}, json.dumps({**throttled, "extensions": cost(available=5, requested=100)})
        if "stagedUploadsCreate" in query:
            assert variables["input"][0]["resource"] == "BULK_MUTATION_VARIABLES"
            target = {
                "url": UPLOAD,
                "resourceUrl": None,
                "parameters": [
                    {"name": "key", "value": "tmp/1/bulk/vars.jsonl"},
                    {"name": "policy", "value": "p"},
                ],
            }
            data = {"stagedUploadsCreate": {"stagedTargets": [target], "userErrors": []}}
        elif "bulkOperationRunMutation" in query:
            assert variables["path"] == "tmp/1/bulk/vars.jsonl"
            self.bulk.append(
                {"mutation": variables["mutation"], "lines": self.uploads[-1].decode().splitlines()}
            )
            operation = {"id": f"gid://shopify/BulkOperation/{len(self.bulk)}", "status": "CREATED"}
            data = {"bulkOperationRunMutation": {"bulkOperation": operation, "userErrors": []}}
        elif "BulkOperation" in query:
            self.polls += 1
            done = self.polls % 2 == 0
            node = {"id": variables["id"], "status": "COMPLETED" if done else "RUNNING", "errorCode": None}
            node |= {"objectCount": "0", "url": RESULTS if done else None, "partialDataUrl": None}
            data = {"node": node}
        else:
            data = {}
            kind = "add" if "tagsAdd" in query else "remove"
            for name, value in variables.items():
                if name.startswith("id"):
                    data["m" + name[2:]] = {"userErrors": self.apply(kind, value, variables["tags"])}
        return 200, {}, json.dumps({"data": data, "extensions": cost()})

    def apply(self, kind: str, gid: str, tags: list[str]) -> list[dict[str, Any]]:
        customer = gid.rsplit("/", 1)[-1]
        if customer in self.missing:
            return [{"field": ["id"], "message": "Customer does not exist"}]
        current = self.tagged.setdefault(customer, set())
        if kind == "add":
            current.update(tags)
        else:
            current.difference_update(tags)
        return []

    def upload(self, request: Any) -> tuple[int, dict[str, str], str]:
        boundary = request.headers["Content-Type"].split("boundary=")[1].encode()
        parts = [p for p in request.body.split(b"--" + boundary) if b"name=" in p]
        names = [p.split(b'name="')[1].split(b'"')[0].decode() for p in parts]
        assert names == ["key", "policy", "file"]  # the target's parameters first, then the file
        self.uploads.append(parts[-1].split(b"\r\n\r\n", 1)[1].removesuffix(b"\r\n"))
        return 201, {}, ""

    def results(self, request: Any) -> tuple[int, dict[str, str], str]:
        operation = self.bulk[-1]
        kind = "add" if "tagsAdd" in operation["mutation"] else "remove"
        field = "tagsAdd" if kind == "add" else "tagsRemove"
        lines = []
        for number, line in enumerate(operation["lines"]):
            variables = json.loads(line)
            errors = self.apply(kind, variables["id"], variables["tags"])
            lines.append(json.dumps({"data": {field: {"userErrors": errors}}, "__lineNumber": number}))
        return 200, {}, "\n".join(lines) + "\n"

    def install(self) -> None:
        responses.add_callback(responses.POST, GRAPHQL, callback=self.graphql)
        responses.add_callback(responses.POST, UPLOAD, callback=self.upload)
        responses.add_callback(responses.GET, RESULTS, callback=self.results)


@pytest.fixture
def customers(shopify_settings: Settings, shop: int) -> Audience:
    return audience(shopify_settings, 120, unsubscribed=2, store_id=shop)


@pytest.fixture
def tags_sync_id(shopify_settings: Settings, shop: int, customers: Audience) -> int:
    return add_sync(shopify_settings, customers, DestinationKind.SHOPIFY, {"store_id": shop}, {})


def run(settings: Settings, tags_sync_id: int, slept: list[float], bulk_threshold: int) -> dict[str, Any]:
    def tags(target: contract.Target) -> ShopifyTags:
        client = ShopifyClient(SHOP, ACCESS_TOKEN, "2026-07", sleep=slept.append)
        return ShopifyTags(client, target.config["tag"], bulk_threshold=bulk_threshold, sleep=slept.append)

    run_id = sync.run(settings.database_url, tags_sync_id, tags)
    assert run_id is not None
    from integration.audiences.destinations import runs

    with session_scope(settings.database_url) as session:
        return runs(session, tags_sync_id, limit=1)[0]


@responses.activate
def test_small_differences_go_out_as_paced_tag_calls_and_only_the_storepulse_tag(
    shopify_settings: Settings, customers: Audience, tags_sync_id: int, slept: list[float]
) -> None:
    shopify = FakeShopify(throttle_first=True)
    shopify.install()
    first = run(shopify_settings, tags_sync_id, slept, bulk_threshold=1000)
    # Tags are no marketing audience: every customer in the segment carries it, unsubscribed or not.
    assert (first["status"], first["adds"], first["failed"]) == ("succeeded", 122, 0)
    assert {t for tags in shopify.tagged.values() for t in tags} == {TAG}
    assert len(shopify.tagged) == 122
    assert slept  # the THROTTLED answer was waited out
    assert shopify.bulk == []
    mutations = [json.loads(c.request.body)["query"] for c in responses.calls]
    assert all("customerUpdate" not in q for q in mutations)  # never replaces the merchant's tags

    shopify.calls, shopify.throttle_first = 0, False
    deleted = customers.contact_ids["person1@example.com"]
    set_contact(shopify_settings, deleted, deleted_at=utcnow())
    assert dry_run(shopify_settings, tags_sync_id)["removes"] == 1
    second = run(shopify_settings, tags_sync_id, slept, bulk_threshold=1000)
    assert (second["adds"], second["removes"]) == (0, 1)
    assert shopify.calls == 1
    assert shopify.tagged["1001"] == set()


@responses.activate
def test_many_changes_go_out_as_one_bulk_mutation_with_per_line_errors(
    shopify_settings: Settings, customers: Audience, tags_sync_id: int, slept: list[float]
) -> None:
    shopify = FakeShopify(missing={"1005"})
    shopify.install()
    first = run(shopify_settings, tags_sync_id, slept, bulk_threshold=50)
    [operation] = shopify.bulk
    assert "tagsAdd(id: $id, tags: $tags)" in operation["mutation"]
    assert len(operation["lines"]) == 122
    assert json.loads(operation["lines"][0]) == {"id": "gid://shopify/Customer/1000", "tags": [TAG]}
    # The customer Shopify no longer has is refused for good, not retried every run.
    assert (first["status"], first["adds"], first["failed"]) == ("partial", 121, 1)
    assert first["errors"][0]["error"] == "Customer does not exist"
    assert dry_run(shopify_settings, tags_sync_id)["adds"] == 0
    assert shopify.polls == 2  # polled until COMPLETED


@responses.activate
def test_storepulse_tags_coming_back_from_shopify_change_nothing_and_queue_no_sync(
    shopify_settings: Settings,
    shop: int,
    customers: Audience,
    tags_sync_id: int,
    deliver: Deliver,
    run_worker: Any,
) -> None:
    FakeShopify().install()
    redis = connection(shopify_settings)
    queue(shopify_settings, SYNC).empty()
    redis.delete(f"storepulse:sync-run:{tags_sync_id}")
    echo = {
        "customerId": "gid://shopify/Customer/1000",
        "tags": [TAG],
        "occurredAt": "2026-07-09T10:06:00-04:00",
    }
    assert deliver("customer.tags_added", echo).status_code == 200
    run_worker()
    with session_scope(shopify_settings.database_url) as session:
        contact = session.scalars(select(Contact).where(Contact.email == "person0@example.com")).one()
        assert contact.tags == []
        assert session.scalar(select(func.count()).select_from(SyncRun)) == 0  # no sync ran
    assert queue(shopify_settings, SYNC).count == 0
    assert redis.get(f"storepulse:sync-run:{tags_sync_id}") is None

    mixed = {**echo, "tags": [TAG, "vip"]}
    deliver("customer.tags_added", mixed)
    run_worker()
    with session_scope(shopify_settings.database_url) as session:
        contact = session.scalars(select(Contact).where(Contact.email == "person0@example.com")).one()
        assert contact.tags == ["vip"]  # the merchant's tag, not ours
        # A real change of data does ask for the account's syncs (and the worker ran one).
        assert session.scalar(select(func.count()).select_from(SyncRun)) == 1


class ShopifyWithAnUnplacedError(FakeShopify):
    """A bulk mutation whose result file reports one line's failure without its `__lineNumber`."""

    ERROR = {
        "errors": [
            {
                "message": "Internal error. Looks like something went wrong on our end.",
                "extensions": {"code": "INTERNAL_SERVER_ERROR"},
            }
        ]
    }

    def results(self, request: Any) -> tuple[int, dict[str, str], str]:
        status, headers, body = super().results(request)
        lines = body.splitlines()
        lines[7] = json.dumps(self.ERROR)  # the eighth variables line's result, named by no line number
        return status, headers, "\n".join(lines) + "\n"


@responses.activate
def test_a_bulk_result_line_without_a_line_number_is_an_error_of_the_operation_not_a_crash(
    shopify_settings: Settings, customers: Audience, tags_sync_id: int, slept: list[float]
) -> None:
    shopify = ShopifyWithAnUnplacedError()
    shopify.install()
    first = run(shopify_settings, tags_sync_id, slept, bulk_threshold=50)
    [operation] = shopify.bulk
    assert len(operation["lines"]) == 122
    # Every line reported on is judged; the one the error could not be placed on fails with it.
    assert (first["status"], first["adds"], first["failed"]) == ("partial", 121, 1)
    [error] = first["errors"]
    assert error["error"] == (
        "the bulk operation reported: Internal error. Looks like something went wrong on our end."
    )
    assert error["contact_id"] == customers.contact_ids["person7@example.com"]
    # It is owed again: the next run sends it (as a single call, below the bulk threshold).
    second = run(shopify_settings, tags_sync_id, slept, bulk_threshold=50)
    assert (second["status"], second["adds"], second["failed"]) == ("succeeded", 1, 0)
    assert len(shopify.tagged) == 122
