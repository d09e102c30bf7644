"""Query parameters: an unknown one is refused by every endpoint, and the contact list's search."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from integration.ingest import ingest_customers
from integration.settings import Settings
from integration.store import session_scope
from tests.support.builders import customer, store_of


@pytest.fixture(autouse=True)
def searched_customers(settings: Settings, api_shop: dict[str, Any]) -> None:
    """Customers whose names and addresses hold what a search must take literally."""
    with session_scope(settings.database_url) as session:
        ingest_customers(
            session,
            store_of(session, api_shop),
            [
                customer("1", "ann.smith@example.com", first_name="Ann", last_name="Smith"),
                customer("2", "annabel@example.org", first_name="Annabel", last_name="Jones"),
                customer("3", "lucja@example.pl", first_name="Łucja", last_name="Żak"),
                customer("4", "under_score@example.com", first_name="Bob", last_name=None),
                customer("5", "percent@example.com", first_name="100%", last_name="Sure"),
            ],
        )


def _api_routes(app: Flask) -> list[tuple[str, str]]:
    """Every (method, path) of the API with its path parameters filled in."""
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.rule.endswith("openapi.json"):
            continue
        path = re.sub(r"<int:[^>]+>", "1", rule.rule)
        path = re.sub(r"<(?:string:)?[^>]+>", "x", path)
        routes += [
            (method, path) for method in sorted(rule.methods or ()) if method not in ("HEAD", "OPTIONS")
        ]
    return routes


def test_every_endpoint_refuses_an_unknown_query_parameter(
    app: Flask, client: FlaskClient, api_shop: dict[str, Any]
) -> None:
    routes = _api_routes(app)
    assert len(routes) > 40
    answers = {
        (method, path): client.open(
            path, method=method, query_string={"colour": "red", "limit": "5"}, headers=api_shop["headers"]
        )
        for method, path in routes
    }
    refused = {route: answer for route, answer in answers.items() if answer.status_code == 422}
    assert set(refused) == set(answers), sorted(set(answers) - set(refused))
    for answer in refused.values():
        body = answer.get_json()
        assert body["code"] == "unknown_parameter"
        assert "colour" in body["message"]
        assert "colour" in body["details"]["query"]
        assert set(body["details"]["query"]) <= {"colour", "limit"}  # limit is some endpoints' own


def test_the_contact_list_names_every_unknown_parameter_and_keeps_its_own(
    client: FlaskClient, api_shop: dict[str, Any]
) -> None:
    # The request that used to answer other contacts than the one asked for.
    answer = client.get("/api/v1/contacts?email=ann.smith@example.com&page=2", headers=api_shop["headers"])
    assert answer.status_code == 422
    assert answer.get_json()["message"] == "unknown query parameters: email, page"
    assert set(answer.get_json()["details"]["query"]) == {"email", "page"}
    listed = client.get("/api/v1/contacts?limit=2&sort=email", headers=api_shop["headers"])
    assert listed.status_code == 200
    assert len(listed.get_json()["contacts"]) == 2
    # Parameters an endpoint declares are still taken, and one without any takes none.
    assert (
        client.get("/api/v1/contacts/stats?subscription=unknown", headers=api_shop["headers"]).status_code
        == 200
    )
    assert client.get("/api/v1/summary?verbose=1", headers=api_shop["headers"]).status_code == 422
    # An unauthenticated caller learns nothing about parameters: the key is checked first.
    assert client.get("/api/v1/contacts?email=x").status_code == 401


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("ann", ["annabel@example.org", "ann.smith@example.com"]),
        ("ANN SMITH", ["ann.smith@example.com"]),
        ("smith ann", ["ann.smith@example.com"]),
        ("jones", ["annabel@example.org"]),
        ("@example.org", ["annabel@example.org"]),
        ("łucja", ["lucja@example.pl"]),  # letters beyond ASCII, in either case, on both databases
        ("ŻAK", ["lucja@example.pl"]),
        ("_", ["under_score@example.com"]),  # LIKE's wildcards are only themselves
        ("%", ["percent@example.com"]),
        ("0%", ["percent@example.com"]),
        ("nobody", []),
    ],
)
def test_search_by_email_or_name(
    client: FlaskClient, api_shop: dict[str, Any], q: str, expected: list[str]
) -> None:
    answer = client.get(
        "/api/v1/contacts", query_string={"q": q, "sort": "-email"}, headers=api_shop["headers"]
    )
    assert answer.status_code == 200
    assert [c["email"] for c in answer.get_json()["contacts"]] == expected


def test_search_combines_with_filters_and_pages(client: FlaskClient, api_shop: dict[str, Any]) -> None:
    headers = api_shop["headers"]
    first = client.get("/api/v1/contacts?q=example&sort=email&limit=2", headers=headers).get_json()
    assert [c["email"] for c in first["contacts"]] == ["ann.smith@example.com", "annabel@example.org"]
    rest = client.get(
        "/api/v1/contacts",
        query_string={"q": "example", "sort": "email", "cursor": first["next_cursor"]},
        headers=headers,
    ).get_json()
    assert [c["email"] for c in rest["contacts"]] == [
        "lucja@example.pl",
        "percent@example.com",
        "under_score@example.com",
    ]
    tagged = client.get(
        "/api/v1/contacts",
        query_string={"q": "ann", "filter": '{"not": {"tag": "x"}}', "sort": "email"},
        headers=headers,
    ).get_json()
    assert len(tagged["contacts"]) == 2
    assert client.get("/api/v1/contacts?q=", headers=headers).status_code == 422
    assert client.get("/api/v1/contacts", query_string={"q": "x" * 201}, headers=headers).status_code == 422


def test_head_takes_the_parameters_get_takes(client: FlaskClient, api_shop: dict[str, Any]) -> None:
    assert client.head("/api/v1/contacts?limit=5&q=ann", headers=api_shop["headers"]).status_code == 200
    assert client.head("/api/v1/contacts?colour=red", headers=api_shop["headers"]).status_code == 422
