"""Requests generated from the served OpenAPI document: none may make the server fail.

Schemathesis reads `/api/v1/openapi.json` from the app itself and draws requests for every
operation from the same schemas that validate them (valid ones and deliberately wrong ones).
Each request carries a valid key of an account that owns a store, and a path naming a store,
so the batch upserts and imports are exercised past their 404s. An exception in a view fails the
run with its traceback; an undeclared 5xx answer fails it with the request that got it.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from schemathesis.generation import GenerationMode

from integration.audiences import filters
from integration.settings import Settings
from integration.store import session_scope
from tests.support.builders import bearer, make_store

EXAMPLES_PER_OPERATION = 6
# What the batch and import endpoints must survive with more draws than the rest.
CORE_OPERATIONS = {
    "/api/v1/stores/{store_id}/customers",
    "/api/v1/stores/{store_id}/orders",
    "/api/v1/stores/{store_id}/checkouts",
    "/api/v1/stores/{store_id}/events",
    "/api/v1/stores/{store_id}/imports",
    "/api/v1/imports/{import_id}",
}


@pytest.mark.slow
def test_no_generated_request_gets_a_server_error(app: Flask, settings: Settings) -> None:
    with session_scope(settings.database_url) as session:
        store = make_store(session)
        store_id, headers = store.id, bearer(session, store.account_id)
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert CORE_OPERATIONS <= {operation.path for operation in operations}
    server_errors: list[str] = []
    for operation in operations:
        examples = EXAMPLES_PER_OPERATION * (4 if operation.path in CORE_OPERATIONS else 1)

        # Derandomized: the same requests every run, so the suite cannot fail by chance.
        @hsettings(
            max_examples=examples, suppress_health_check=list(HealthCheck), database=None, derandomize=True
        )
        @given(case=operation.as_strategy())
        def call(case: Any) -> None:
            if case.path_parameters and "store_id" in case.path_parameters:
                case.path_parameters["store_id"] = store_id
            response = case.call(headers=headers)
            # A 5xx the document declares is part of the contract (502: the mail server refused).
            documented = case.operation.definition.raw.get("responses", {})
            if response.status_code >= 500 and str(response.status_code) not in documented:
                server_errors.append(f"{case.as_curl_command()} -> {response.status_code}")

        call()
    assert server_errors == []


def _condition_keys(condition: dict[str, Any]) -> set[str]:
    """Every condition name used in a filter, nested ones included."""
    [(key, value)] = condition.items()
    parts = value if key in ("all", "any") else [value] if key == "not" else []
    return {key}.union(*(_condition_keys(part) for part in parts))


@pytest.mark.slow
def test_filters_drawn_from_the_document_are_accepted(app: Flask, settings: Settings) -> None:
    """The document describes the filter language exactly: what it allows is taken, all of it is reached."""
    with session_scope(settings.database_url) as session:
        store = make_store(session)
        headers = bearer(session, store.account_id)
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    schema.config.generation.update(allow_x00=False)  # the API refuses NUL in any text, by design
    preview = schema["/api/v1/segments/preview"]["POST"]
    refused: list[str] = []
    used: set[str] = set()
    too_big = 0
    # The document states these two bounds in words only: JSON Schema cannot count nested conditions.
    unstated = (f"at most {filters.MAX_CONDITIONS} conditions", f"at most {filters.MAX_DEPTH} deep")

    @hsettings(max_examples=400, suppress_health_check=list(HealthCheck), database=None, derandomize=True)
    @given(case=preview.as_strategy(generation_mode=GenerationMode.POSITIVE))
    def call(case: Any) -> None:
        nonlocal too_big
        response = case.call(headers=headers)
        if response.status_code == 422 and any(bound in response.json()["message"] for bound in unstated):
            too_big += 1
            return
        used.update(_condition_keys(case.body["filter"]))
        if response.status_code != 200:
            refused.append(f"{case.body} -> {response.status_code} {response.text[:300]}")

    call()
    assert refused == []
    assert too_big < 30
    assert used == set(filters.LEAVES) | set(filters.GROUPS)
