"""Klaviyo list sync: bulk import jobs attached to the list, removals by profile id, errors, rates."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import responses
from responses import matchers

from connectors.klaviyo.destination import BULK_RATE, REVISION
from connectors.limits import Pace
from integration.settings import Settings
from integration.store.models import DestinationKind, SubscriptionStatus
from tests.support.syncs import Audience, add_sync, dry_run, runner, set_contact

LIST = "VRgFBd"
API = "https://a.klaviyo.com/api"
JOBS = f"{API}/profile-bulk-import-jobs"
JOB = re.compile(rf"{re.escape(JOBS)}/(?P<id>[^/?]+)$")
ERRORS = re.compile(rf"{re.escape(JOBS)}/(?P<id>[^/?]+)/import-errors")
PROFILES = f"{API}/profiles"
MEMBERSHIP = f"{API}/lists/{LIST}/relationships/profiles"
HEADERS = {"Authorization": "Klaviyo-API-Key pk_test_0123456789", "revision": REVISION}


class FakeKlaviyo:
    """Answers in the documented shapes; remembers the jobs posted and which profiles failed."""

    def __init__(self, failing: dict[str, str] | None = None, processing_polls: int = 1) -> None:
        self.jobs: dict[str, list[dict[str, Any]]] = {}
        self.failing = failing or {}
        self.polls: dict[str, int] = {}
        self.processing_polls = processing_polls

    def post_job(self, request: Any) -> tuple[int, dict[str, str], str]:
        body = json.loads(request.body)["data"]
        assert body["type"] == "profile-bulk-import-job"
        assert body["relationships"]["lists"]["data"] == [{"type": "list", "id": LIST}]
        job_id = f"job{len(self.jobs) + 1}"
        self.jobs[job_id] = body["attributes"]["profiles"]["data"]
        return (
            202,
            {},
            json.dumps(
                {
                    "data": {
                        "type": "profile-bulk-import-job",
                        "id": job_id,
                        "attributes": self.attributes(job_id, "queued"),
                    }
                }
            ),
        )

    def attributes(self, job_id: str, status: str) -> dict[str, Any]:
        profiles = self.jobs[job_id]
        failed = sum(1 for p in profiles if p["attributes"]["email"] in self.failing)
        return {
            "status": status,
            "total_count": len(profiles),
            "completed_count": len(profiles) - failed,
            "failed_count": failed,
        }

    def get_job(self, request: Any) -> tuple[int, dict[str, str], str]:
        job_id = JOB.search(request.url).group("id")  # type: ignore[union-attr]
        self.polls[job_id] = self.polls.get(job_id, 0) + 1
        status = "processing" if self.polls[job_id] <= self.processing_polls else "complete"
        headers = {"RateLimit-Limit": "10", "RateLimit-Remaining": "9", "RateLimit-Reset": "1"}
        return (
            200,
            headers,
            json.dumps(
                {
                    "data": {
                        "type": "profile-bulk-import-job",
                        "id": job_id,
                        "attributes": self.attributes(job_id, status),
                    }
                }
            ),
        )

    def get_errors(self, request: Any) -> tuple[int, dict[str, str], str]:
        job_id = ERRORS.search(request.url).group("id")  # type: ignore[union-attr]
        data = [
            {
                "type": "import-error",
                "id": f"err{i}",
                "attributes": {
                    "code": "invalid",
                    "title": "Invalid input.",
                    "detail": self.failing[p["attributes"]["email"]],
                    "source": {"pointer": "/data/attributes/email"},
                    "original_payload": p["attributes"],
                },
            }
            for i, p in enumerate(self.jobs[job_id])
            if p["attributes"]["email"] in self.failing
        ]
        return 200, {}, json.dumps({"data": data, "links": {"self": request.url, "next": None, "prev": None}})

    def get_profiles(self, request: Any) -> tuple[int, dict[str, str], str]:
        query = parse_qs(urlparse(request.url).query)
        emails = json.loads(query["filter"][0].removeprefix("any(email,").removesuffix(")"))
        data = [
            {"type": "profile", "id": f"01P{e.split('@')[0].upper()}", "attributes": {"email": e}}
            for e in emails
        ]
        return 200, {}, json.dumps({"data": data, "links": {"next": None}})

    def install(self) -> None:
        responses.add_callback(
            responses.POST, JOBS, callback=self.post_job, match=[matchers.header_matcher(HEADERS)]
        )
        responses.add_callback(responses.GET, ERRORS, callback=self.get_errors)
        responses.add_callback(responses.GET, JOB, callback=self.get_job)
        responses.add_callback(responses.GET, PROFILES, callback=self.get_profiles)
        responses.delete(MEMBERSHIP, status=204)

    def profiles(self) -> list[str]:
        return [p["attributes"]["email"] for job in self.jobs.values() for p in job]


# The contacts of `audience_shop`.
pytestmark = pytest.mark.audience(300, unsubscribed=2)


@pytest.fixture
def klaviyo_sync_id(settings: Settings, audience_shop: Audience) -> int:
    return add_sync(
        settings, audience_shop, DestinationKind.KLAVIYO, {"list_id": LIST}, {"api_key": "pk_test_0123456789"}
    )


@responses.activate
def test_first_sync_imports_subscribed_profiles_into_the_list_and_a_second_sends_nothing(
    settings: Settings, klaviyo_sync_id: int
) -> None:
    klaviyo = FakeKlaviyo()
    klaviyo.install()
    slept: list[float] = []
    first = runner(settings, slept)(klaviyo_sync_id)
    assert (first["status"], first["adds"], first["failed"]) == ("succeeded", 300, 0)
    assert sorted(klaviyo.profiles()) == sorted(f"person{i}@example.com" for i in range(300))
    assert slept  # waited between reads of the job while it was processing
    posted = [c for c in responses.calls if c.request.method == "POST"]
    assert all(c.request.headers["Content-Type"] == "application/vnd.api+json" for c in posted)

    responses.calls.reset()
    second = runner(settings, slept)(klaviyo_sync_id)
    assert (second["adds"], second["updates"], second["removes"]) == (0, 0, 0)
    assert len(responses.calls) == 0


@responses.activate
def test_import_errors_become_per_contact_errors_and_opt_outs_leave_the_list_by_profile_id(
    settings: Settings, audience_shop: Audience, klaviyo_sync_id: int
) -> None:
    klaviyo = FakeKlaviyo(failing={"person7@example.com": "Invalid email address"})
    klaviyo.install()
    run = runner(settings, [])
    first = run(klaviyo_sync_id)
    assert (first["status"], first["adds"], first["failed"]) == ("partial", 299, 1)
    assert first["errors"] == [
        {
            "contact_id": audience_shop.contact_ids["person7@example.com"],
            "action": "add",
            "error": "Invalid email address",
        }
    ]
    # Three unsubscribe (1% of the list): exactly they leave; the failed one is retried.
    for i in range(3):
        set_contact(
            settings,
            audience_shop.contact_ids[f"person{i}@example.com"],
            subscription_status=SubscriptionStatus.UNSUBSCRIBED,
        )
    klaviyo.failing.clear()
    preview = dry_run(settings, klaviyo_sync_id)
    assert (preview["adds"], preview["removes"]) == (1, 3)
    responses.calls.reset()
    second = run(klaviyo_sync_id)
    assert (second["adds"], second["removes"], second["failed"]) == (1, 3, 0)
    removed = [json.loads(c.request.body) for c in responses.calls if c.request.method == "DELETE"]
    assert removed == [{"data": [{"type": "profile", "id": f"01PPERSON{i}"} for i in range(3)]}]
    lookups = [c for c in responses.calls if c.request.url.startswith(PROFILES)]
    assert len(lookups) == 1  # one call for the three addresses


@responses.activate
def test_a_refused_profile_is_taken_out_of_the_job_and_the_rest_imported(
    settings: Settings, audience_shop: Audience, klaviyo_sync_id: int
) -> None:
    klaviyo = FakeKlaviyo()
    bad = {
        "errors": [
            {
                "id": "e1",
                "code": "invalid",
                "title": "Invalid input.",
                "detail": "Invalid phone number",
                "source": {"pointer": "/data/attributes/profiles/data/5/attributes/phone_number"},
            }
        ]
    }
    responses.post(JOBS, status=400, json=bad)
    klaviyo.install()
    first = runner(settings, [])(klaviyo_sync_id)
    assert (first["adds"], first["failed"]) == (299, 1)
    assert first["errors"][0]["contact_id"] == audience_shop.contact_ids["person5@example.com"]
    assert "person5@example.com" not in klaviyo.profiles()


@responses.activate
def test_429_with_retry_after_is_honoured_and_a_revoked_key_stops_the_sync(
    settings: Settings, audience_shop: Audience, klaviyo_sync_id: int
) -> None:
    klaviyo = FakeKlaviyo()
    throttled = {
        "errors": [
            {
                "id": "t",
                "code": "throttled",
                "title": "Request was throttled.",
                "detail": "Expected available in 3 seconds.",
            }
        ]
    }
    responses.post(JOBS, status=429, json=throttled, headers={"Retry-After": "3"})
    klaviyo.install()
    slept: list[float] = []
    first = runner(settings, slept)(klaviyo_sync_id)
    assert first["status"] == "succeeded"
    assert 3.0 in slept

    responses.reset()
    responses.post(
        JOBS,
        status=401,
        json={
            "errors": [
                {
                    "id": "x",
                    "code": "not_authenticated",
                    "title": "Authentication credentials were not provided.",
                    "detail": "Missing or invalid private key.",
                }
            ]
        },
    )
    set_contact(settings, audience_shop.contact_ids["person0@example.com"], first_name="Changed")
    stopped = runner(settings, [])(klaviyo_sync_id)
    assert (stopped["status"], stopped["adds"], stopped["updates"]) == ("stopped", 0, 0)
    assert "invalid private key" in stopped["error"]
    assert dry_run(settings, klaviyo_sync_id)["updates"] == 1  # still owed: sent once the key is replaced


def test_pace_keeps_the_documented_burst_and_steady_rates() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    pace = Pace("test", BULK_RATE, margin_seconds=0.0, sleep=sleep, clock=lambda: now[0])
    for _ in range(150):
        pace.wait()
    # 10 a second: 150 calls need 14 waits of up to a second; the steady limit is not hit yet.
    assert now[0] == pytest.approx(14.0, abs=0.01)
    pace.wait()  # the 151st waits for the minute window
    assert now[0] == pytest.approx(60.0, abs=0.01)
