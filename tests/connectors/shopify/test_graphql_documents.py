"""Every GraphQL document storepulse sends to Shopify is valid for the oldest Admin API version it supports.

The documents are collected as they are sent: install, every backfill stage, reconciliation,
customer reads, tag calls and bulk tag mutations run against a stand-in for Shopify that records
each request (and the documents and variables inside bulk operations). Documents the connector
defines but this run did not send, or builds in a function that this run did not reach, fail the test.
"""

from __future__ import annotations

import ast
import importlib
import json
import pkgutil
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import responses
from graphql import (
    ArgumentNode,
    FieldNode,
    GraphQLError,
    OperationDefinitionNode,
    StringValueNode,
    VariableNode,
    parse,
)
from sqlalchemy import select

import connectors.shopify
from connectors.shopify import setup
from connectors.shopify.backfill import STAGES
from connectors.shopify.connection import client_for
from connectors.shopify.tags import ShopifyTags
from integration.contract import ADD, REMOVE, Change
from integration.errors import ConfigError
from integration.settings import OLDEST_SHOPIFY_API_VERSION, Settings
from integration.store import session_scope
from integration.store.models import Backfill
from jobs.shopify import (
    continue_backfill_job,
    read_customers_job,
    reconcile_store_job,
    start_backfill_job,
)
from tests.support.admin_schema import SCHEMA_FILE, operation_of, problems
from tests.support.processes import storepulse
from tests.support.shopify import APP_URL, SHOP

GRAPHQL = f"https://{SHOP}/admin/api/2026-07/graphql.json"
UPLOAD = "https://shopify-staged-uploads.storage.googleapis.com/"
QUERY_RESULTS = "https://storage.googleapis.com/shopify-tiers-assets-prod-us-east1/query.jsonl"
MUTATION_RESULTS = "https://storage.googleapis.com/shopify-tiers-assets-prod-us-east1/mutation.jsonl"
# Where a bulk operation's own document travels: the argument of its mutation.
INNER_DOCUMENTS = {
    "bulkOperationRunQuery": ("query", "query"),
    "bulkOperationRunMutation": ("mutation", "mutation"),
}
PACKAGES = ("integration", "connectors", "jobs", "webhooks")
ROOT = Path(__file__).resolve().parents[3]
# Text of a GraphQL document (or a piece of one) in Python source.
GRAPHQL_LIKE = re.compile(r"\b(query|mutation)\b\s*\w*\s*[({]|userErrors|\$\w+\s*:")

EMPTY_PAGE = {"edges": [], "pageInfo": {"hasNextPage": False, "endCursor": None}}


def _money(amount: str) -> dict[str, Any]:
    return {"shopMoney": {"amount": amount, "currencyCode": "USD"}}


class RecordingShopify:
    """The Admin GraphQL API as storepulse uses it: records every request, answers by root field."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.uploads: list[bytes] = []
        self.operations = 0

    def answer(self, field: str, variables: dict[str, Any]) -> Any:
        operation = {"id": f"gid://shopify/BulkOperation/{self.operations}", "status": "CREATED"}
        finished = {"status": "COMPLETED", "errorCode": None, "objectCount": "0", "partialDataUrl": None}
        answers: dict[str, Any] = {
            "shop": {
                "name": "Snow Devil",
                "currencyCode": "USD",
                "ianaTimezone": "America/New_York",
                "myshopifyDomain": SHOP,
            },
            "webhookSubscriptions": EMPTY_PAGE,
            "webhookSubscriptionCreate": {
                "webhookSubscription": {
                    "id": "gid://shopify/WebhookSubscription/1",
                    "topic": variables.get("topic"),
                    "uri": (variables.get("subscription") or {}).get("uri"),
                },
                "userErrors": [],
            },
            "bulkOperationRunQuery": {"bulkOperation": operation, "userErrors": []},
            "bulkOperationRunMutation": {"bulkOperation": operation, "userErrors": []},
            "bulkOperation": {"id": variables.get("id"), "url": QUERY_RESULTS, **finished},
            "node": {"id": variables.get("id"), "url": MUTATION_RESULTS, **finished},
            "stagedUploadsCreate": {
                "stagedTargets": [
                    {
                        "url": UPLOAD,
                        "resourceUrl": None,
                        "parameters": [{"name": "key", "value": "tmp/21/bulk/vars.jsonl"}],
                    }
                ],
                "userErrors": [],
            },
            "orders": EMPTY_PAGE,
            "customers": EMPTY_PAGE,
            "nodes": [],
            "tagsAdd": {"userErrors": []},
            # The shop has the app's pixel already: create says TAKEN, and the one there is updated.
            "webPixelCreate": {
                "webPixel": None,
                "userErrors": [{"code": "TAKEN", "field": None, "message": "Pixel already exists"}],
            },
            "webPixel": {"id": "gid://shopify/WebPixel/7", "settings": "{}"},
            "webPixelUpdate": {
                "webPixel": {"id": "gid://shopify/WebPixel/7", "settings": "{}"},
                "userErrors": [],
            },
            "tagsRemove": {"userErrors": []},
        }
        assert field in answers, f"a document asks for {field}: answer it here so that it is validated"
        return answers[field]

    def graphql(self, request: Any) -> tuple[int, dict[str, str], str]:
        body = json.loads(request.body)
        query, variables = body["query"], body.get("variables") or {}
        self.sent.append((query, variables))
        data = {}
        for field in _root_fields(query):
            if field.name.value.startswith("bulkOperationRun"):
                self.operations += 1
            data[(field.alias or field.name).value] = self.answer(field.name.value, variables)
        return 200, {}, json.dumps({"data": data})

    def upload(self, request: Any) -> tuple[int, dict[str, str], str]:
        boundary = request.headers["Content-Type"].split("boundary=")[1].encode()
        [file] = [p for p in request.body.split(b"--" + boundary) if b'name="file"' in p]
        self.uploads.append(file.split(b"\r\n\r\n", 1)[1].removesuffix(b"\r\n"))
        return 201, {}, ""

    def mutation_results(self, request: Any) -> tuple[int, dict[str, str], str]:
        lines = self.uploads[-1].decode().splitlines()
        return 200, {}, "".join(json.dumps({"data": {}, "__lineNumber": n}) + "\n" for n in range(len(lines)))

    def install(self, mock: responses.RequestsMock) -> None:
        mock.add_callback(responses.POST, GRAPHQL, callback=self.graphql)
        mock.add_callback(responses.POST, UPLOAD, callback=self.upload)
        mock.get(QUERY_RESULTS, body="")
        mock.add_callback(responses.GET, MUTATION_RESULTS, callback=self.mutation_results)

    def documents(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """(where, document, variables) of everything sent, bulk operations' own documents included."""
        for query, variables in self.sent:
            yield "request", query, variables
            for field in _root_fields(query):
                if field.name.value not in INNER_DOCUMENTS:
                    continue
                argument, kind = INNER_DOCUMENTS[field.name.value]
                inner = _argument(field, argument, variables)
                if kind == "query":
                    yield "bulk query", inner, {}
                else:
                    # Each line of the uploaded file holds one run's variables.
                    for line in self.uploads[-1].decode().splitlines():
                        yield "bulk mutation", inner, json.loads(line)


def _root_fields(query: str) -> list[FieldNode]:
    [operation] = [d for d in parse(query).definitions if isinstance(d, OperationDefinitionNode)]
    return [s for s in operation.selection_set.selections if isinstance(s, FieldNode)]


def _argument(field: FieldNode, name: str, variables: dict[str, Any]) -> str:
    [node] = [a for a in field.arguments if isinstance(a, ArgumentNode) and a.name.value == name]
    if isinstance(node.value, VariableNode):
        return str(variables[node.value.name.value])
    assert isinstance(node.value, StringValueNode)
    return node.value.value


def _is_document(text: str) -> bool:
    try:
        document = parse(text)
    except GraphQLError:
        return False
    return any(isinstance(d, OperationDefinitionNode) for d in document.definitions)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _strings(item)


def _connector_modules() -> list[Any]:
    return [
        importlib.import_module(f"connectors.shopify.{info.name}")
        for info in pkgutil.iter_modules(connectors.shopify.__path__)
    ]


def defined_documents() -> dict[str, str]:
    """Every GraphQL document the Shopify connector defines at module level (also inside dicts), by place."""
    found = {}
    for module in _connector_modules():
        for name, value in vars(module).items():
            for text in _strings(value):
                if _is_document(text):
                    found[text] = f"{module.__name__}.{name}"
    return found


def built_fragments() -> dict[str, str]:
    """Literal pieces of GraphQL text inside the connector's functions (documents built at run time)."""
    found = {}
    for module in _connector_modules():
        tree = ast.parse(Path(module.__file__).read_text())
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            docstring = ast.get_docstring(function, clean=False)
            for node in ast.walk(function):
                parts: list[str] = []
                if isinstance(node, ast.JoinedStr):
                    parts = [
                        v.value
                        for v in node.values
                        if isinstance(v, ast.Constant) and isinstance(v.value, str)
                    ]
                elif (
                    isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value != docstring
                ):
                    parts = [node.value]
                # A placeholder for what is filled in at run time, which cannot itself look like GraphQL.
                if GRAPHQL_LIKE.search("_".join(parts)):
                    for part in parts:
                        if part.strip():
                            found[part] = f"{module.__name__}.{function.name}"
    return found


def test_the_schema_checked_is_that_of_the_oldest_supported_version() -> None:
    assert SCHEMA_FILE.name == f"admin_{OLDEST_SHOPIFY_API_VERSION}.json.gz"
    # The reason that version is the oldest: the orders backfill reads these fields.
    assert problems("{ orders(first: 1) { nodes { checkoutToken cartToken } } }") == []
    # And the checks do refuse what Shopify refuses.
    line_discount = "lineItems(first: 1) { nodes { totalDiscountSet { shopMoney { amount } } } }"
    assert problems(f"{{ abandonedCheckouts(first: 1) {{ nodes {{ {line_discount} }} }} }}") == [
        "Cannot query field 'totalDiscountSet' on type 'AbandonedCheckoutLineItem'."
    ]
    assert problems("query($id: ID!) { node(id: $id) { id } }", {"id": None}) != []


def test_every_graphql_document_storepulse_sends_is_valid_for_the_oldest_supported_version(
    shopify_settings: Settings, shop: int
) -> None:
    shopify = RecordingShopify()
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        shopify.install(mock)
        client = client_for(shopify_settings, shop)
        setup.shop_details(client)
        setup.register_webhooks(client, f"{APP_URL}/webhooks/shopify")
        assert setup.activate_pixel(client, f"{APP_URL}/collect", "pk_test") == "gid://shopify/WebPixel/7"

        assert start_backfill_job(shop) is not None
        for stage in STAGES:  # each stage's finish starts the next one
            with session_scope(shopify_settings.database_url) as session:
                stage_id = session.scalars(select(Backfill.id).where(Backfill.stage == stage)).one()
            assert continue_backfill_job(stage_id) == "completed"
        reconcile_store_job(shop)
        read_customers_job(shop, ["706405506930370084"])

        tags = ShopifyTags(client_for(shopify_settings, shop), "storepulse:vip", bulk_threshold=4)
        small = [Change(ADD, 1, None, remote_id="1"), Change(REMOVE, 2, None, remote_id="2")]
        many = [
            Change(ADD, 3, None, remote_id="3"),
            Change(ADD, 4, None, remote_id="4", previous_remote_id="40"),
            Change(REMOVE, 5, None, remote_id="5"),
            Change(REMOVE, 6, None, remote_id="6"),
        ]
        assert set(tags.deliver(small).done) == {1, 2}
        assert set(tags.deliver(many).done) == {3, 4, 5, 6}

    refused = {
        f"{where}: {document.strip()[:160]}": found
        for where, document, variables in shopify.documents()
        if (found := problems(document, variables))
    }
    assert refused == {}
    kinds = {
        where: {operation_of(d) for w, d, _ in shopify.documents() if w == where}
        for where in ("bulk query", "bulk mutation")
    }
    assert kinds == {"bulk query": {"query"}, "bulk mutation": {"mutation"}}

    sent = {document for _, document, _ in shopify.documents()}
    unsent = {place for document, place in defined_documents().items() if document not in sent}
    assert unsent == set(), "documents defined but not sent by this test: make it send them"
    unbuilt = {
        f"{place}: {fragment!r}"
        for fragment, place in built_fragments().items()
        if not any(fragment in document for document in sent)
    }
    assert unbuilt == set(), "documents built at run time that this test did not send: make it send them"


def test_only_the_shopify_connector_talks_to_shopify_graphql() -> None:
    """Documents sent from elsewhere would escape the collection above."""
    callers = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if path.is_relative_to(ROOT / "connectors" / "shopify"):
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("graphql", "mutation", "paginate")
                ):
                    callers.add(str(path.relative_to(ROOT)))
                if (
                    isinstance(node, ast.Constant)
                    and isinstance(node.value, str)
                    and "graphql.json" in node.value
                ):
                    callers.add(str(path.relative_to(ROOT)))
    assert callers == set()


@pytest.mark.parametrize("version", ["2025-10", "2026-04"])
def test_an_api_version_older_than_the_oldest_supported_is_refused_at_start_with_one_line(
    tmp_path: Path, version: str
) -> None:
    result = storepulse(
        "db",
        "upgrade",
        env={
            "PATH": "/usr/bin:/bin",
            "SHOPIFY_API_VERSION": version,
            "STOREPULSE_INSTANCE_PATH": str(tmp_path),
        },
    )
    assert result.returncode == 2
    assert result.stderr == (
        "storepulse: configuration error: SHOPIFY_API_VERSION: must be 2026-07 or newer "
        "(older versions lack the order fields storepulse reads: checkoutToken, cartToken)\n"
    )


@pytest.mark.parametrize("version", ["2026-07", "2026-10", "unstable"])
def test_the_oldest_supported_api_version_and_newer_ones_are_accepted(tmp_path: Path, version: str) -> None:
    env = {"STOREPULSE_INSTANCE_PATH": str(tmp_path), "SHOPIFY_API_VERSION": version}
    assert Settings.from_env(env).shopify_api_version == version
    with pytest.raises(ConfigError, match="^SHOPIFY_API_VERSION: must be YYYY-MM"):
        Settings.from_env({**env, "SHOPIFY_API_VERSION": "2026-7"})
