"""Mailchimp's Marketing API as the tests answer it: a list, its tag segment, and documented answers."""

from __future__ import annotations

import json
from typing import Any

from connectors.mailchimp.destination import subscriber_hash

LIST = "a1b2c3"
API = "https://us6.api.mailchimp.com/3.0"
BATCH = f"{API}/lists/{LIST}"
TAGS = f"{API}/lists/{LIST}/segments"
TAG = f"{TAGS}/77"
KEY = "0123456789abcdef0123456789abcdef-us6"


def batch_answer(request: Any, errors: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    """A documented 200 of `POST /lists/{id}`: members created, and per-member errors."""
    members = json.loads(request.body)["members"]
    errors = errors or {}
    created = [
        {
            "id": subscriber_hash(m["email_address"]),
            "email_address": m["email_address"],
            "status": m["status"],
        }
        for m in members
        if m["email_address"] not in errors
    ]
    failed = [
        {"email_address": email, "error": error, "error_code": "ERROR_GENERIC"}
        for email, error in errors.items()
    ]
    body = {
        "new_members": created,
        "updated_members": [],
        "errors": failed,
        "total_created": len(created),
        "total_updated": 0,
        "error_count": len(failed),
    }
    return 200, {}, json.dumps(body)


def tag_answer(request: Any) -> tuple[int, dict[str, str], str]:
    body = json.loads(request.body)
    added, removed = body.get("members_to_add", []), body.get("members_to_remove", [])
    answer = {
        "members_added": [{"email_address": e} for e in added],
        "members_removed": [{"email_address": e} for e in removed],
        "errors": [],
        "total_added": len(added),
        "total_removed": len(removed),
        "error_count": 0,
    }
    return 200, {}, json.dumps(answer)
