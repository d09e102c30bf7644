"""Every request the Mailchimp destination sends conforms to Mailchimp's published Marketing API document."""

from __future__ import annotations

import json
import re
from typing import Any

import responses

from connectors.http import Http
from connectors.mailchimp.destination import MailchimpAudience, subscriber_hash
from integration.contract import ADD, LEFT, REMOVE, UNSUBSCRIBED, UPDATE, Change
from tests.support.openapi import OpenApi, load

KEY = "0123456789abcdef0123456789abcdef-us6"
API = "https://us6.api.mailchimp.com/3.0"
ANY = re.compile(rf"{re.escape(API)}/.*")
SPEC = OpenApi(load("mailchimp_marketing_3.0.55.json.gz"), API)
TAKEN = "taken@example.com"  # its new address is on the list already


class Mailchimp:
    """Answers as Mailchimp documents; remembers every request."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict[str, str], bytes | None]] = []
        self.tag_posts = 0

    def answer(self, request: Any) -> tuple[int, dict[str, str], str]:
        body = request.body.encode() if isinstance(request.body, str) else request.body
        self.sent.append((request.method, request.url, dict(request.headers), body))
        path = request.path_url.split("?")[0].removeprefix("/3.0")
        sent = json.loads(body) if body else {}
        if request.method == "POST" and re.fullmatch(r"/lists/[^/]+", path):
            return 200, {}, json.dumps({"new_members": [], "updated_members": [], "errors": []})
        if request.method == "POST" and path.endswith("/segments"):
            self.tag_posts += 1
            if self.tag_posts == 1:  # the tag exists already: found by name
                problem = {
                    "type": "about:blank",
                    "title": "Invalid Resource",
                    "status": 400,
                    "detail": "taken",
                }
                return 400, {"Content-Type": "application/problem+json"}, json.dumps(problem)
            return 200, {}, json.dumps({"id": 8, "name": sent["name"], "type": "static"})
        if request.method == "GET" and path.endswith("/segments"):
            return 200, {}, json.dumps({"segments": [{"id": 7, "name": "vip"}], "total_items": 1})
        if request.method == "POST" and path.endswith("/segments/7") and "members_to_remove" in sent:
            problem = {"type": "about:blank", "title": "Resource Not Found", "status": 404, "detail": "gone"}
            return 404, {"Content-Type": "application/problem+json"}, json.dumps(problem)
        if request.method == "POST" and "/segments/" in path:
            return 200, {}, json.dumps({"members_added": [], "members_removed": [], "errors": []})
        if request.method == "PATCH":
            if sent.get("email_address") == TAKEN:
                return 400, {}, json.dumps({"title": "Member Exists", "status": 400, "detail": "exists"})
            return 200, {}, json.dumps({"id": subscriber_hash(sent["email_address"]), "status": "subscribed"})
        if request.method == "DELETE":
            return 204, {}, ""
        return 404, {}, json.dumps({"title": "Resource Not Found", "status": 404, "detail": path})


@responses.activate
def test_every_request_matches_the_published_document() -> None:
    mailchimp = Mailchimp()
    for method in (responses.GET, responses.POST, responses.PATCH, responses.DELETE, responses.PUT):
        responses.add_callback(method, ANY, callback=mailchimp.answer)
    untagging = MailchimpAudience(KEY, "a1b2c3", "vip", http=Http("Mailchimp", sleep=lambda _: None))
    first = untagging.deliver(
        [
            Change(ADD, 1, "new@example.com", first_name="Zoë", last_name="Łoś"),
            Change(UPDATE, 2, "moved@example.com", previous_email="old@example.com"),
            Change(UPDATE, 3, TAKEN, previous_email="was@example.com"),
        ]
    )
    second = untagging.deliver(
        [
            Change(REMOVE, 4, "left@example.com", reason=LEFT),
            Change(REMOVE, 5, "optout@example.com", reason=UNSUBSCRIBED),
        ]
    )
    archiving = MailchimpAudience(
        KEY, "a1b2c3", "vip", tag_id=8, on_leave="archive", http=Http("Mailchimp", sleep=lambda _: None)
    )
    third = archiving.deliver([Change(REMOVE, 6, "gone@example.com", reason=LEFT)])
    assert not first.failed
    assert not second.failed
    assert not third.failed

    problems = [
        p for method, url, headers, body in mailchimp.sent for p in SPEC.problems(method, url, headers, body)
    ]
    assert problems == []
    exercised = {(method, SPEC.template(url)) for method, url, _, _ in mailchimp.sent}
    assert exercised == {
        ("POST", "/lists/{list_id}"),  # batch subscribe, batch unsubscribe
        ("POST", "/lists/{list_id}/segments"),  # the tag made (and made again)
        ("GET", "/lists/{list_id}/segments"),  # the tag found by name
        ("POST", "/lists/{list_id}/segments/{segment_id}"),  # tagged and untagged
        ("PATCH", "/lists/{list_id}/members/{subscriber_hash}"),  # an address moved
        ("DELETE", "/lists/{list_id}/members/{subscriber_hash}"),  # archived
    }


def test_the_check_refuses_what_the_document_does_not_allow() -> None:
    headers = {"Authorization": "Basic c3RvcmVwdWxzZTprZXk=", "Content-Type": "application/json"}
    wrong = json.dumps({"members": [{"email_address": "a@example.com", "status": "active", "tags": ["x"]}]})
    assert SPEC.problems("POST", f"{API}/lists/a1b2c3", headers, wrong.encode()) == [
        "POST /lists/{list_id}: body: members/0/status: 'active' is not one of "
        "['subscribed', 'unsubscribed', 'cleaned', 'pending', 'transactional']",
        "POST /lists/{list_id}: body: /members/0/tags: not a documented property",
    ]
    assert SPEC.problems("GET", f"{API}/lists/a1b2c3/segments?count=5000&sort=name", {}, None) == [
        "GET /lists/{list_id}/segments: query parameter 'sort' not documented",
        "GET /lists/{list_id}/segments: query 'count': (root): 5000 is greater than the maximum of 1000",
        "GET /lists/{list_id}/segments: none of the documented authentications present",
    ]
    assert SPEC.problems("PUT", f"{API}/lists/a1b2c3/segments", headers, b"{}") == [
        "PUT /lists/{list_id}/segments: method not documented"
    ]
    assert SPEC.problems("POST", f"{API}/lists/a1b2c3/tags", headers, b"{}") == [
        "POST /lists/a1b2c3/tags: no documented path"
    ]
