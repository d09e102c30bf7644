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

from integration.settings import Settings
from integration.store import session_scope
from tests.factories import bearer, make_store

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
