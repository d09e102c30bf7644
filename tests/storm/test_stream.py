"""The storm's stream and the state it expects, read from the payloads alone."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from bench import storm_stream as ss
from bench.storm import procfile_commands
from webhooks.signatures import shopify_webhook_valid

NOW = datetime(2026, 12, 1, tzinfo=UTC)
T = datetime(2026, 11, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("ordered", "outcome"),
    [
        (None, ss.ABANDONED),
        (T - timedelta(hours=1), ss.ABANDONED),  # older than the checkout: not its order
        (T + ss.DELAY, ss.COMPLETED),
        (T + ss.DELAY + timedelta(seconds=1), ss.RECOVERED),
        (T + ss.DELAY + ss.RECOVERY, ss.RECOVERED),
        (T + ss.DELAY + ss.RECOVERY + timedelta(seconds=1), ss.ABANDONED),
    ],
)
def test_a_carts_outcome_follows_its_timeline(ordered: datetime | None, outcome: str) -> None:
    assert ss.cart_outcome(T - timedelta(minutes=5), T, ordered) == outcome


def test_the_stream_is_seeded_and_mixed() -> None:
    one, two = ss.build_stream(400, 3, NOW), ss.build_stream(400, 3, NOW)

    assert [d.body for d in one.deliveries] == [d.body for d in two.deliveries]
    assert len(one.deliveries) == 400
    kinds = {d.kind for d in one.deliveries}
    assert kinds == {ss.GENUINE, ss.FORGED, ss.MALFORMED}
    assert len(one.sends) > len(one.deliveries)  # some are sent twice with the same id
    assert set(one.intended.values()) == {ss.COMPLETED, ss.RECOVERED, ss.ABANDONED}
    for d in one.deliveries:
        signed = shopify_webhook_valid([ss.SECRET], d.signature, d.body)
        assert signed == (d.kind != ss.FORGED)


def test_the_expected_store_holds_the_newest_accepted_version_and_nothing_forged() -> None:
    stream = ss.build_stream(400, 5, NOW)
    everything = {d.webhook_id for d in stream.deliveries}

    expected = ss.expected_state(stream, everything)

    for cid, versions in stream.customers.items():
        newest = max(versions, key=lambda b: b["updated_at"])
        assert expected.customers[cid]["email"] == newest["email"]
    assert not any(e["email"] in stream.markers for e in expected.customers.values())
    for token, intended in stream.intended.items():
        assert expected.carts[token] == intended
    # Without the newest version of a customer, the one before it is expected.
    cid, versions = next((c, v) for c, v in stream.customers.items() if len(v) > 1)
    newest_id = next(
        d.webhook_id
        for d in stream.deliveries
        if d.entity == ("customer", cid) and json.loads(d.body)["updated_at"] == versions[-1]["updated_at"]
    )
    without = ss.expected_state(stream, everything - {newest_id})
    assert without.customers[cid]["email"] == versions[-2]["email"]


def test_the_processes_are_the_procfiles() -> None:
    commands = procfile_commands()

    assert commands["worker"] == "storepulse worker"
    assert commands["scheduler"] == "storepulse scheduler"
    assert commands["web"].startswith("gunicorn ")
