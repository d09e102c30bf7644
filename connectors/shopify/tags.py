"""Customer tags in Shopify: storepulse adds and removes its own tag, never the merchant's.

Small differences go out as `tagsAdd` / `tagsRemove` mutations, several per request (aliases),
paced by the cost bucket Shopify reports (see ShopifyClient). From BULK_THRESHOLD changes on, one
bulk mutation per kind replaces thousands of calls: the variables are uploaded as JSONL
(`stagedUploadsCreate` + a multipart POST), `bulkOperationRunMutation` runs them, and the result
file reports each line (`__lineNumber`) with its userErrors. A result line that names no input
line (Shopify's error lines may not) is an error of the operation: the changes no line reports on
fail with it. Only tags under the configured prefix are ever written; the webhooks Shopify sends
back for them are ignored by the source.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import requests
from marshmallow import Schema, fields

from connectors.opening import Opening
from connectors.shopify.client import ShopifyClient
from connectors.shopify.connection import client_for
from integration.contract import REMOVE, Change, Delivery
from integration.errors import FatalConnectorError, RetriableConnectorError

logger = logging.getLogger(__name__)

BULK_THRESHOLD = 1000  # changes from which one bulk mutation beats single calls
ALIASES_PER_CALL = 10  # mutations per request (a mutation costs about 10 points)
POLL_SECONDS = 1.0  # between status reads of a bulk operation (about 1 point each)
MAX_BULK_WAIT_SECONDS = 5400.0  # for all bulk operations of one batch: within the sync job's timeout
UPLOAD_TIMEOUT_SECONDS = (3.05, 120.0)
GONE = ("does not exist", "not found", "couldn't find")

FIELD = {"add": "tagsAdd", "remove": "tagsRemove"}
MUTATION = {
    kind: f"mutation call($id: ID!, $tags: [String!]!) {{ {name}(id: $id, tags: $tags) "
    "{ userErrors { field message } } }"
    for kind, name in FIELD.items()
}

STAGED_UPLOAD = """
mutation stage($input: [StagedUploadInput!]!) {
  stagedUploadsCreate(input: $input) {
    stagedTargets { url resourceUrl parameters { name value } }
    userErrors { field message }
  }
}
"""
RUN_BULK = """
mutation run($mutation: String!, $path: String!) {
  bulkOperationRunMutation(mutation: $mutation, stagedUploadPath: $path) {
    bulkOperation { id status }
    userErrors { field message }
  }
}
"""
BULK_STATUS = """
query status($id: ID!) {
  node(id: $id) { ... on BulkOperation { id status errorCode objectCount url partialDataUrl } }
}
"""


def _result_line(raw: bytes) -> dict[str, Any]:
    """One line of a bulk mutation's result file; a line that is no JSON object is an error of its own."""
    try:
        line = json.loads(raw)
    except ValueError:
        return {"errors": [{"message": f"unreadable result line: {raw[:100]!r}"}]}
    return line if isinstance(line, dict) else {"errors": [{"message": "a result line that is no object"}]}


def _message(error: Any) -> str:
    return str(error.get("message") if isinstance(error, dict) else error)


def customer_gid(external_id: str) -> str:
    return f"gid://shopify/Customer/{external_id}"


class ShopifyTags:
    """Deliver a sync's changes as one storepulse tag on the store's customers."""

    name = "shopify"
    batch_size = 200_000  # one bulk operation for up to this many changes
    concurrency = 1

    def __init__(
        self,
        client: ShopifyClient,
        tag: str,
        *,
        bulk_threshold: int = BULK_THRESHOLD,
        upload: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.tag = tag
        self.bulk_threshold = bulk_threshold
        self.upload = upload or requests.Session()
        self.sleep = sleep
        self.waited = 0.0

    def deliver(self, changes: Sequence[Change]) -> Delivery:
        delivery = Delivery()
        kinds = {
            "add": [c for c in changes if c.action != REMOVE and c.remote_id],
            "remove": [c for c in changes if c.action == REMOVE and c.remote_id],
        }
        # A contact now linked to another customer: the former one loses the tag (best effort).
        former = [
            Change(REMOVE, -c.contact_id, None, remote_id=c.previous_remote_id)
            for c in kinds["add"]
            if c.previous_remote_id
        ]
        kinds["remove"] = [*kinds["remove"], *former]
        for change in changes:
            if not change.remote_id:
                delivery.failed[change.contact_id] = "no Shopify customer id"
        bulk = len(changes) >= self.bulk_threshold
        self.waited = 0.0  # one wait budget for the bulk operations of this batch
        for kind, group in kinds.items():
            if group:
                (self._bulk if bulk else self._calls)(kind, group, delivery)
        for change in former:
            delivery.done.pop(change.contact_id, None)
            delivery.failed.pop(change.contact_id, None)
            delivery.refused.pop(change.contact_id, None)
        return delivery

    def _judge(self, kind: str, change: Change, errors: list[dict[str, Any]], delivery: Delivery) -> None:
        if not errors:
            delivery.done[change.contact_id] = change.remote_id
            return
        message = "; ".join(str(e.get("message")) for e in errors)[:500]
        if any(g in message.lower() for g in GONE):
            if kind == "remove":
                delivery.done[change.contact_id] = change.remote_id  # the customer is gone, and the tag
            else:
                delivery.refused[change.contact_id] = message
        else:
            delivery.failed[change.contact_id] = message

    # Single calls ---------------------------------------------------------------------------

    def _calls(self, kind: str, changes: Sequence[Change], delivery: Delivery) -> None:
        for start in range(0, len(changes), ALIASES_PER_CALL):
            part = changes[start : start + ALIASES_PER_CALL]
            params = ", ".join(f"$id{i}: ID!" for i in range(len(part)))
            body = " ".join(
                f"m{i}: {FIELD[kind]}(id: $id{i}, tags: $tags) {{ userErrors {{ field message }} }}"
                for i in range(len(part))
            )
            variables: dict[str, Any] = {"tags": [self.tag]}
            variables |= {f"id{i}": customer_gid(c.remote_id or "") for i, c in enumerate(part)}
            try:
                data = self.client.graphql(
                    f"mutation tags($tags: [String!]!, {params}) {{ {body} }}", variables
                )
            except RetriableConnectorError as exc:
                for change in changes[start:]:
                    delivery.failed[change.contact_id] = str(exc)
                return  # the bucket stays empty: the rest waits for the next run
            for i, change in enumerate(part):
                self._judge(kind, change, (data.get(f"m{i}") or {}).get("userErrors") or [], delivery)

    # Bulk mutation --------------------------------------------------------------------------

    def _bulk(self, kind: str, changes: Sequence[Change], delivery: Delivery) -> None:
        lines = "".join(
            json.dumps({"id": customer_gid(c.remote_id or ""), "tags": [self.tag]}) + "\n" for c in changes
        )
        path = self._stage(lines.encode())
        started = self.client.mutation(
            RUN_BULK, {"mutation": MUTATION[kind], "path": path}, "bulkOperationRunMutation"
        )
        operation_id = started["bulkOperation"]["id"]
        finished = self._wait_for(operation_id)
        reported: dict[int, list[dict[str, Any]]] = {}
        unplaced: list[str] = []  # errors of the operation: lines that name no line of the input
        url = finished.get("url") or finished.get("partialDataUrl")
        if url:
            for raw in self.client.download(url):
                line = _result_line(raw)
                payload = next(iter((line.get("data") or {}).values()), None) or {}
                errors = list(line.get("errors") or []) + list(payload.get("userErrors") or [])
                number = line.get("__lineNumber")
                if isinstance(number, int) and not isinstance(number, bool):
                    reported[number] = errors
                else:
                    unplaced.append(
                        "; ".join(_message(e) for e in errors) or "a result line without a line number"
                    )
        operation_error = ("the bulk operation reported: " + "; ".join(unplaced))[:500] if unplaced else None
        if operation_error:
            logger.warning("bulk mutation %s: %s", operation_id, operation_error)
        for index, change in enumerate(changes):
            if index in reported:
                self._judge(kind, change, reported[index], delivery)
            elif operation_error:
                delivery.failed[change.contact_id] = operation_error
            else:
                delivery.failed[change.contact_id] = (
                    f"the bulk operation ended {finished.get('status')} before this line"
                )

    def _stage(self, content: bytes) -> str:
        """Upload the JSONL of variables; return the path the bulk mutation reads it from."""
        staged = self.client.mutation(
            STAGED_UPLOAD,
            {
                "input": [
                    {
                        "resource": "BULK_MUTATION_VARIABLES",
                        "filename": "storepulse-tags.jsonl",
                        "mimeType": "text/jsonl",
                        "httpMethod": "POST",
                    }
                ]
            },
            "stagedUploadsCreate",
        )
        target = staged["stagedTargets"][0]
        form = {p["name"]: p["value"] for p in target["parameters"]}
        try:
            response = self.upload.post(
                target["url"],
                data=form,
                files={"file": ("storepulse-tags.jsonl", content, "text/jsonl")},
                timeout=UPLOAD_TIMEOUT_SECONDS,
            )
        except (requests.Timeout, requests.ConnectionError) as exc:
            raise RetriableConnectorError(f"cannot upload to Shopify's staged upload: {exc}") from exc
        if response.status_code >= 500:
            raise RetriableConnectorError(f"Shopify's staged upload answered {response.status_code}")
        if response.status_code >= 300:
            raise FatalConnectorError(f"Shopify's staged upload answered {response.status_code}")
        if "key" not in form:
            raise FatalConnectorError("Shopify's staged upload target has no key parameter")
        return str(form["key"])

    def _wait_for(self, operation_id: str) -> dict[str, Any]:
        while True:
            node: dict[str, Any] = self.client.graphql(BULK_STATUS, {"id": operation_id}).get("node") or {}
            status = node.get("status")
            if status == "COMPLETED":
                return node
            if status in ("FAILED", "CANCELED", "EXPIRED"):
                if node.get("partialDataUrl"):
                    return node
                raise RetriableConnectorError(
                    f"Shopify's bulk mutation ended {status}: {node.get('errorCode')}"
                )
            if self.waited >= MAX_BULK_WAIT_SECONDS:
                raise RetriableConnectorError(f"Shopify's bulk mutation is still {status}")
            self.sleep(POLL_SECONDS)
            self.waited += POLL_SECONDS


class ShopifySettings(Schema):
    store_id = fields.Integer(required=True)


class NoCredentials(Schema):
    """Shopify destinations use the connected store's own token."""


def open_tags(opening: Opening) -> ShopifyTags:
    """Open the tags of the destination's connected store."""
    client = client_for(opening.settings, int(opening.config["store_id"]), sleep=opening.sleep)
    return ShopifyTags(client, opening.tag, sleep=opening.sleep)
