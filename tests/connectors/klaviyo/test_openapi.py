"""Every request the Klaviyo destination sends conforms to Klaviyo's published OpenAPI document."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import responses

from connectors.http import Http
from connectors.klaviyo.destination import REVISION, KlaviyoList
from integration.contract import ADD, REMOVE, UPDATE, Change
from tests.support.openapi import OpenApi, load

KEY = "pk_test_0123456789"
BASE = "https://a.klaviyo.com"
ANY = re.compile(rf"{re.escape(BASE)}/api/.*")
DOCUMENT = load("klaviyo_2026-07-15_extract.json")
SPEC = OpenApi(DOCUMENT, BASE)


class Klaviyo:
    """Answers as Klaviyo documents; remembers every request."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict[str, str], bytes | None]] = []
        self.jobs = 0
        self.polls = 0

    def answer(self, request: Any) -> tuple[int, dict[str, str], str]:
        body = request.body.encode() if isinstance(request.body, str) else request.body
        self.sent.append((request.method, request.url, dict(request.headers), body))
        parts = urlsplit(request.url)
        path, query = parts.path, parse_qs(parts.query)
        if request.method == "POST" and path == "/api/profile-bulk-import-jobs":
            self.jobs += 1
            if self.jobs == 1:  # one profile refused: the job goes again without it
                error = {
                    "id": "e1",
                    "code": "invalid",
                    "title": "Invalid input.",
                    "detail": "Invalid phone number",
                    "source": {"pointer": "/data/attributes/profiles/data/1/attributes/email"},
                }
                return 400, {}, json.dumps({"errors": [error]})
            job = {"type": "profile-bulk-import-job", "id": "job1", "attributes": {"status": "queued"}}
            return 202, {}, json.dumps({"data": job})
        if request.method == "GET" and path.endswith("/import-errors"):
            following = (
                None if "page[cursor]" in query else f"{BASE}{path}?page%5Bcursor%5D=abc&page%5Bsize%5D=100"
            )
            return 200, {}, json.dumps({"data": [], "links": {"next": following}})
        if request.method == "GET" and path.startswith("/api/profile-bulk-import-jobs/"):
            self.polls += 1
            status = "processing" if self.polls == 1 else "complete"
            attributes = {"status": status, "total_count": 3, "completed_count": 2, "failed_count": 1}
            return (
                200,
                {},
                json.dumps(
                    {"data": {"type": "profile-bulk-import-job", "id": "job1", "attributes": attributes}}
                ),
            )
        if request.method == "GET" and path == "/api/profiles":
            emails = json.loads(query["filter"][0].removeprefix("any(email,").removesuffix(")"))
            data = [
                {"type": "profile", "id": f"01P{i}", "attributes": {"email": e}} for i, e in enumerate(emails)
            ]
            return 200, {}, json.dumps({"data": data, "links": {"next": None}})
        if request.method == "DELETE":
            return 204, {}, ""
        return (
            404,
            {},
            json.dumps({"errors": [{"id": "n", "code": "not_found", "title": "Not found", "detail": path}]}),
        )


@responses.activate
def test_every_request_matches_the_published_document() -> None:
    assert DOCUMENT["info"]["version"] == REVISION  # the document of the revision storepulse sends
    klaviyo = Klaviyo()
    for method in (responses.GET, responses.POST, responses.DELETE, responses.PATCH):
        responses.add_callback(method, ANY, callback=klaviyo.answer)
    destination = KlaviyoList(KEY, "VRgFBd", http=Http("Klaviyo", sleep=lambda _: None))
    delivery = destination.deliver(
        [
            Change(ADD, 1, "new@example.com", first_name="Zoë", last_name="山田"),
            Change(ADD, 2, "refused@example.com"),
            Change(UPDATE, 3, "moved@example.com", previous_email="old@example.com"),
            Change(REMOVE, 4, "known@example.com", remote_id="01PKNOWN"),
            Change(REMOVE, 5, "looked-up@example.com"),
        ]
    )
    assert sorted(delivery.done) == [1, 3, 4, 5]
    assert list(delivery.failed) == [2]

    problems = [
        p for method, url, headers, body in klaviyo.sent for p in SPEC.problems(method, url, headers, body)
    ]
    assert problems == []
    exercised = {(method, SPEC.template(url)) for method, url, _, _ in klaviyo.sent}
    assert exercised == {
        ("POST", "/api/profile-bulk-import-jobs"),  # the import job (and again without a refused profile)
        ("GET", "/api/profile-bulk-import-jobs/{job_id}"),  # polled until complete
        ("GET", "/api/profile-bulk-import-jobs/{id}/import-errors"),  # per-profile errors, two pages
        ("GET", "/api/profiles"),  # profile ids looked up by email
        ("DELETE", "/api/lists/{id}/relationships/profiles"),  # removals by profile id
    }


def test_the_check_refuses_what_the_document_does_not_allow() -> None:
    headers = {"Authorization": f"Klaviyo-API-Key {KEY}", "Content-Type": "application/vnd.api+json"}
    job = {
        "data": {
            "type": "profile-bulk-import-job",
            "attributes": {"profiles": {"data": [{"type": "profile"}]}},
        }
    }
    assert SPEC.problems(
        "POST", f"{BASE}/api/profile-bulk-import-jobs", headers, json.dumps(job).encode()
    ) == [
        "POST /api/profile-bulk-import-jobs: required header parameter 'revision' missing",
        "POST /api/profile-bulk-import-jobs: body: data/attributes/profiles/data/0: "
        "'attributes' is a required property",
    ]
    escaped = {**headers, "revision": REVISION, "Content-Type": "application/json"}
    assert SPEC.problems(
        "DELETE", f"{BASE}/api/lists/L/relationships/profiles", escaped, b'{"data": []}'
    ) == [
        "DELETE /api/lists/{id}/relationships/profiles: Content-Type 'application/json' not one of "
        "['application/vnd.api+json']"
    ]
    lookup = f"{BASE}/api/profiles?page%5Bsize%5D=500&fields%5Bprofile%5D=email,nickname"
    problems = SPEC.problems("GET", lookup, {**headers, "revision": REVISION}, None)
    assert [p.split(": ")[1] for p in problems] == ["query 'fields[profile]'", "query 'page[size]'"]
    assert "'nickname' is not one of" in problems[0]
    assert "500 is greater than the maximum of 100" in problems[1]
