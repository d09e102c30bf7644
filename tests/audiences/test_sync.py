"""What a sync remembers per contact across failures: retries, outages, opt-outs and address changes.

Driven through the signed webhook destination (the simplest vendor shape); the rules are the same
for every destination.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import responses

from integration.settings import Settings
from integration.store.models import DestinationKind, SubscriptionStatus
from tests.support.syncs import PUBLIC_ADDRESS, Audience, add_sync, dry_run, runner, set_contact

URL = "https://hooks.example.com/storepulse"


@pytest.fixture
def sync_id(settings: Settings, audience_shop: Audience, dns: dict[str, list[str]]) -> int:
    dns["hooks.example.com"] = [PUBLIC_ADDRESS]
    return add_sync(
        settings, audience_shop, DestinationKind.WEBHOOK, {"url": URL}, {"secret": "whsec_0123456789abcdef"}
    )


def sent() -> list[dict[str, Any]]:
    return [json.loads(c.request.body) for c in responses.calls if c.response is not None and c.response.ok]


def refusing(contact_id: int) -> Any:
    def answer(request: Any) -> tuple[int, dict[str, str], str]:
        return 200, {}, json.dumps({"errors": [{"contact_id": contact_id, "error": "refused"}]})

    return answer


@responses.activate
def test_an_outage_uses_up_no_attempts_and_everything_goes_once_it_is_over(
    settings: Settings, audience_shop: Audience, sync_id: int
) -> None:
    responses.post(URL, status=503)
    run = runner(settings, [])
    for _ in range(7):  # more runs than MAX_ATTEMPTS
        assert run(sync_id)["failed"] == 5
    assert dry_run(settings, sync_id)["adds"] == 5  # still owed, none given up
    responses.replace(responses.POST, URL, json={})
    assert run(sync_id)["adds"] == 5


@responses.activate
def test_a_contact_failing_for_good_is_given_up_until_its_data_changes(
    settings: Settings, audience_shop: Audience, sync_id: int
) -> None:
    stubborn = audience_shop.contact_ids["person1@example.com"]
    responses.add_callback(responses.POST, URL, callback=refusing(stubborn))
    run = runner(settings, [])
    for _ in range(5):
        assert run(sync_id)["failed"] == 1
    assert dry_run(settings, sync_id)["adds"] == 0  # five attempts: parked
    set_contact(settings, stubborn, first_name="Corrected")
    assert dry_run(settings, sync_id)["adds"] == 1  # new data, new attempts
    responses.replace(responses.POST, URL, json={})
    assert run(sync_id)["adds"] == 1


@responses.activate
def test_a_failed_add_is_still_taken_out_when_the_contact_opts_out(
    settings: Settings, audience_shop: Audience, sync_id: int
) -> None:
    # The receiver may have applied part of a failed batch: opting out must still reach it.
    failing = audience_shop.contact_ids["person2@example.com"]
    responses.add_callback(responses.POST, URL, callback=refusing(failing))
    run = runner(settings, [])
    run(sync_id)
    set_contact(settings, failing, subscription_status=SubscriptionStatus.UNSUBSCRIBED)
    responses.calls.reset()
    responses.replace(responses.POST, URL, json={})
    second = run(sync_id)
    assert second["removes"] == 1
    [document] = sent()
    assert document["removes"] == [
        {"contact_id": failing, "email": "person2@example.com", "reason": "unsubscribed"}
    ]


@responses.activate
def test_an_opt_out_is_never_given_up(settings: Settings, audience_shop: Audience, sync_id: int) -> None:
    responses.post(URL, json={})
    run = runner(settings, [])
    run(sync_id)
    leaving = audience_shop.contact_ids["person3@example.com"]
    set_contact(settings, leaving, subscription_status=SubscriptionStatus.UNSUBSCRIBED)
    responses.reset()
    responses.add_callback(responses.POST, URL, callback=refusing(leaving))
    for _ in range(7):
        assert run(sync_id)["failed"] == 1
    assert dry_run(settings, sync_id)["removes"] == 1


@responses.activate
def test_an_address_change_that_failed_keeps_the_old_address_for_the_retry(
    settings: Settings, audience_shop: Audience, sync_id: int
) -> None:
    responses.post(URL, json={})
    run = runner(settings, [])
    run(sync_id)
    moving = audience_shop.contact_ids["person4@example.com"]
    set_contact(settings, moving, email="person4@new.example.com")
    responses.reset()
    responses.add_callback(responses.POST, URL, callback=refusing(moving))
    run(sync_id)
    responses.reset()
    responses.post(URL, json={})
    assert run(sync_id)["updates"] == 1
    [document] = sent()
    [update] = document["adds"]
    assert (update["email"], update["previous_email"]) == ("person4@new.example.com", "person4@example.com")
