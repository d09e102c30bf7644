"""Mailchimp audience sync: batches of 500, the segment's tag, only the difference, consent, errors."""

from __future__ import annotations

import json
from typing import Any

import pytest
import responses
from responses import matchers

from connectors.mailchimp.destination import data_center, subscriber_hash
from integration.errors import ConfigError
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import BlockedReason, DestinationKind, SubscriptionStatus, Sync
from jobs.sync import sync_all_job
from tests.support.mailchimp import BATCH, KEY, LIST, TAG, TAGS, batch_answer, tag_answer
from tests.support.syncs import Audience, add_sync, dry_run, runner, set_contact


def sent(call: Any) -> dict[str, Any]:
    return json.loads(call.request.body)


# The contacts of `audience_shop`.
pytestmark = pytest.mark.audience(1200, unsubscribed=3, blocked=2)


@pytest.fixture
def mailchimp_sync_id(settings: Settings, audience_shop: Audience) -> int:
    return add_sync(settings, audience_shop, DestinationKind.MAILCHIMP, {"list_id": LIST}, {"api_key": KEY})


def mock_mailchimp(errors: dict[str, str] | None = None) -> None:
    responses.post(
        TAGS,
        json={"id": 77, "name": "storepulse:everybody", "member_count": 0, "type": "static"},
        match=[matchers.json_params_matcher({"name": "storepulse:everybody", "static_segment": []})],
    )
    responses.add_callback(responses.POST, BATCH, callback=lambda r: batch_answer(r, errors))
    responses.add_callback(responses.POST, TAG, callback=tag_answer)


@responses.activate
def test_first_sync_sends_subscribed_members_in_batches_of_500_then_a_second_sends_nothing(
    settings: Settings, audience_shop: Audience, mailchimp_sync_id: int, slept: list[float]
) -> None:
    mock_mailchimp()
    preview = dry_run(settings, mailchimp_sync_id)
    assert (preview["adds"], preview["updates"], preview["removes"], preview["unchanged"]) == (1200, 0, 0, 0)

    run = runner(settings, slept)(mailchimp_sync_id)
    assert (run["status"], run["adds"], run["removes"], run["failed"]) == ("succeeded", 1200, 0, 0)

    batches = [sent(c) for c in responses.calls if c.request.url == BATCH]
    assert sorted(len(b["members"]) for b in batches) == [200, 500, 500]
    emails = {m["email_address"] for b in batches for m in b["members"]}
    assert emails == {f"person{i}@example.com" for i in range(1200)}  # nobody unsubscribed or blocked
    assert all(m["status"] == "subscribed" for b in batches for m in b["members"])
    assert all(b["update_existing"] is True for b in batches)
    assert batches[0]["members"][0].get("merge_fields", {}).get("LNAME") == "Person"
    tagged = [sent(c)["members_to_add"] for c in responses.calls if c.request.url == TAG]
    assert sorted(len(t) for t in tagged) == [200, 500, 500]
    assert all(c.request.headers["Authorization"].startswith("Basic ") for c in responses.calls)
    with session_scope(settings.database_url) as session:
        assert session.get(Sync, mailchimp_sync_id).config["tag_id"] == 77  # type: ignore[union-attr]

    calls = len(responses.calls)
    assert dry_run(settings, mailchimp_sync_id)["adds"] == 0
    second = runner(settings, slept)(mailchimp_sync_id)
    assert (second["adds"], second["updates"], second["removes"], second["unchanged"]) == (0, 0, 0, 1200)
    assert len(responses.calls) == calls  # nothing sent


@responses.activate
def test_after_one_percent_changed_exactly_that_is_sent_and_opt_outs_are_unsubscribed(
    settings: Settings, audience_shop: Audience, mailchimp_sync_id: int, slept: list[float]
) -> None:
    mock_mailchimp()
    run = runner(settings, slept)
    run(mailchimp_sync_id)
    first_calls = len(responses.calls)
    # 12 of 1200 change: 6 renamed, 3 unsubscribe, 2 bounce hard, 1 is deleted.
    for i in range(6):
        set_contact(settings, audience_shop.contact_ids[f"person{i}@example.com"], first_name=f"Renamed{i}")
    for i in range(6, 9):
        set_contact(
            settings,
            audience_shop.contact_ids[f"person{i}@example.com"],
            subscription_status=SubscriptionStatus.UNSUBSCRIBED,
        )
    for i in range(9, 11):
        set_contact(
            settings,
            audience_shop.contact_ids[f"person{i}@example.com"],
            blocked_reason=BlockedReason.HARD_BOUNCE,
        )
    from integration.store.types import utcnow

    set_contact(settings, audience_shop.contact_ids["person11@example.com"], deleted_at=utcnow())

    preview = dry_run(settings, mailchimp_sync_id)
    assert (preview["adds"], preview["updates"], preview["removes"]) == (0, 6, 6)
    assert {s["reason"] for s in preview["sample"]["removes"]} == {"unsubscribed", "blocked", "deleted"}

    second = run(mailchimp_sync_id)
    assert (second["adds"], second["updates"], second["removes"], second["failed"]) == (0, 6, 6, 0)
    calls = responses.calls[first_calls:]
    batches = [sent(c) for c in calls if c.request.url == BATCH]
    updated = [m for b in batches for m in b["members"] if m["status"] == "subscribed"]
    unsubscribed = [m for b in batches for m in b["members"] if m["status"] == "unsubscribed"]
    assert {m["email_address"] for m in updated} == {f"person{i}@example.com" for i in range(6)}
    assert {m["merge_fields"]["FNAME"] for m in updated} == {f"Renamed{i}" for i in range(6)}
    # Opt-outs are unsubscribed in the audience, not just untagged, and never sent as subscribed.
    assert {m["email_address"] for m in unsubscribed} == {f"person{i}@example.com" for i in range(6, 12)}
    untagged = [e for c in calls if c.request.url == TAG for e in sent(c).get("members_to_remove", [])]
    assert sorted(untagged) == sorted(f"person{i}@example.com" for i in range(6, 12))
    assert dry_run(settings, mailchimp_sync_id) == {
        "adds": 0,
        "updates": 0,
        "removes": 0,
        "unchanged": 1194,
        "sample": {"adds": [], "updates": [], "removes": []},
    }


@responses.activate
def test_per_member_errors_are_recorded_compliance_refusals_kept_and_other_failures_retried(
    settings: Settings, audience_shop: Audience, mailchimp_sync_id: int, slept: list[float]
) -> None:
    refused = "person3@example.com is in a compliance state due to unsubscribe, bounce, or compliance review"
    mock_mailchimp(
        {
            "person3@example.com": "Member In Compliance State: " + refused,
            "person4@example.com": "Please provide a valid email address.",
        }
    )
    run = runner(settings, slept)
    first = run(mailchimp_sync_id)
    assert (first["status"], first["adds"], first["failed"]) == ("partial", 1198, 2)
    assert {e["contact_id"] for e in first["errors"]} == {
        audience_shop.contact_ids["person3@example.com"],
        audience_shop.contact_ids["person4@example.com"],
    }
    # The next run retries only the failed address; the refused one is not re-subscribed again.
    responses.calls.reset()
    retry = run(mailchimp_sync_id)
    batches = [sent(c) for c in responses.calls if c.request.url == BATCH]
    assert [m["email_address"] for b in batches for m in b["members"]] == ["person4@example.com"]
    assert retry["failed"] == 1


@responses.activate
def test_429_is_waited_out_and_a_revoked_key_stops_the_sync_with_a_clear_error(
    settings: Settings, audience_shop: Audience, mailchimp_sync_id: int, slept: list[float]
) -> None:
    responses.post(TAGS, json={"id": 77, "name": "storepulse:everybody"})
    too_many = {"type": "about:blank", "title": "Too Many Requests", "status": 429, "detail": "slow down"}
    responses.post(BATCH, status=429, json=too_many, content_type="application/problem+json")
    responses.add_callback(responses.POST, BATCH, callback=batch_answer)
    responses.add_callback(responses.POST, TAG, callback=tag_answer)
    first = runner(settings, slept)(mailchimp_sync_id)
    assert (first["status"], first["adds"]) == ("succeeded", 1200)
    assert slept  # waited before retrying the refused call

    set_contact(settings, audience_shop.contact_ids["person0@example.com"], first_name="Changed")
    responses.reset()
    revoked = {
        "type": "about:blank",
        "title": "API Key Invalid",
        "status": 401,
        "detail": "Your API key may be invalid",
    }
    responses.post(BATCH, status=401, json=revoked)
    stopped = runner(settings, slept)(mailchimp_sync_id)
    assert stopped["status"] == "stopped"
    assert "API key may be invalid" in stopped["error"]
    with session_scope(settings.database_url) as session:
        found = session.get(Sync, mailchimp_sync_id)
        assert found is not None
        assert (found.status, found.last_error) == ("stopped", stopped["error"])
    # A stopped sync is not queued by the schedule (no crash loop) until its credentials change.
    assert sync_all_job() == 0


def test_data_center_comes_from_the_key() -> None:
    assert data_center(KEY) == "us6"
    with pytest.raises(ConfigError):
        data_center("no-dash-at-the-end-")
    assert subscriber_hash("Ann@Example.com") == subscriber_hash("ann@example.com")


@responses.activate
def test_a_changed_address_moves_the_member_instead_of_leaving_the_old_one_subscribed(
    settings: Settings, audience_shop: Audience, mailchimp_sync_id: int, slept: list[float]
) -> None:
    mock_mailchimp()
    run = runner(settings, slept)
    run(mailchimp_sync_id)
    old = f"{BATCH}/members/{subscriber_hash('person0@example.com')}"
    moved = responses.patch(old, json={"id": subscriber_hash("new0@example.com"), "status": "subscribed"})
    set_contact(settings, audience_shop.contact_ids["person0@example.com"], email="new0@example.com")
    # A bare 403 (Mailchimp under very high load) is waited out, not taken for a revoked key.
    responses.calls.reset()
    responses.remove(responses.POST, BATCH)
    responses.add(responses.POST, BATCH, status=403, body="", content_type="text/html")
    responses.add_callback(responses.POST, BATCH, callback=batch_answer)
    second = run(mailchimp_sync_id)
    assert [c.response.status_code for c in responses.calls if c.request.url == BATCH] == [403, 200]
    assert (second["status"], second["updates"], second["failed"]) == ("succeeded", 1, 0)
    assert json.loads(moved.calls[0].request.body) == {"email_address": "new0@example.com"}
    batches = [sent(c) for c in responses.calls if c.request.url == BATCH and c.response.status_code == 200]
    assert [m["email_address"] for b in batches for m in b["members"]] == ["new0@example.com"]


@responses.activate
def test_a_tag_deleted_in_mailchimp_is_made_again(
    settings: Settings, audience_shop: Audience, mailchimp_sync_id: int, slept: list[float]
) -> None:
    mock_mailchimp()
    run = runner(settings, slept)
    run(mailchimp_sync_id)
    responses.remove(responses.POST, TAG)
    responses.post(TAG, status=404, json={"title": "Resource Not Found", "status": 404, "detail": "gone"})
    responses.remove(responses.POST, TAGS)
    remade = responses.post(TAGS, json={"id": 78, "name": "storepulse:everybody"})
    responses.add_callback(responses.POST, f"{TAGS}/78", callback=tag_answer)
    set_contact(settings, audience_shop.contact_ids["person5@example.com"], first_name="Renamed")
    second = run(mailchimp_sync_id)
    assert (second["updates"], second["failed"]) == (1, 0)
    assert remade.call_count == 1
    with session_scope(settings.database_url) as session:
        assert session.get(Sync, mailchimp_sync_id).config["tag_id"] == 78  # type: ignore[union-attr]
