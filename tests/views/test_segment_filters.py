"""Every condition of the filter language, with values of each type it takes, through the whole API.

For each condition: a filter holding it (alone or among others, nested or not) can be previewed,
saved, read back meaning the same, edited, exported, and synced to an email tool, on both databases.
"""

from __future__ import annotations

import csv
import io
import itertools
from datetime import timedelta
from typing import Any

import pytest
import responses
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integration.analytics import rfm
from integration.audiences import filters
from integration.campaigns.sends import SendInput, record_sends, save_campaign
from integration.contacts.engagement import classify
from integration.ingest import ingest_customers, ingest_events, ingest_orders
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import CampaignChannel, InteractionType, SendStatus, SubscriptionStatus
from integration.store.types import utcnow
from tests.support.builders import customer, event, item, order, store_of
from tests.support.mailchimp import BATCH, KEY, LIST, TAG, TAGS, batch_answer, tag_answer

DAYS = st.integers(0, filters.MAX_DAYS)
# Amounts as the API's decimal text, as JSON numbers (whole and fractional), and no bound at all.
AMOUNT = st.one_of(
    st.decimals(min_value=-(10**13), max_value=10**13, places=2, allow_nan=False).map(str),
    st.integers(-(10**6), 10**6),
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False).map(lambda f: round(f, 2)),
    st.none(),
)
COUNT = st.one_of(st.none(), st.integers(0, 2**31 - 1), st.integers(0, 5))
TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=20
)


def _choices(values: list[str]) -> st.SearchStrategy[list[str]]:
    return st.lists(st.sampled_from(values), min_size=1, max_size=len(values) + 1)


# How to draw a value of each condition. A condition the language gains must be added here.
VALUES: dict[str, st.SearchStrategy[Any]] = {
    "engagement": _choices(["engaged", "unengaged", "blocked"]),
    "subscription": _choices(["subscribed", "unknown", "unsubscribed"]),
    "blocked_reason": _choices(["hard_bounce", "spam_complaint"]),
    **{
        name: DAYS
        for name in (
            "interacted_within_days",
            "not_interacted_within_days",
            "contacted_within_days",
            "not_contacted_within_days",
            "opened_within_days",
            "clicked_within_days",
            "scanned_within_days",
            "created_within_days",
        )
    },
    "bought_product": st.tuples(
        st.sampled_from(["product_id", "sku"]),
        st.sampled_from(["p1", "SKU-1"]) | TEXT,
        st.sampled_from([{}, {"within_days": None}]) | st.builds(lambda d: {"within_days": d}, DAYS),
    ).map(lambda t: {t[0]: t[1], **t[2]}),
    "orders_count": st.fixed_dictionaries({}, optional={"min": COUNT, "max": COUNT}),
    "total_spent": st.fixed_dictionaries(
        {"currency": st.sampled_from(["EUR", "USD", "PLN"])}, optional={"min": AMOUNT, "max": AMOUNT}
    ),
    "store_id": st.integers(1, 2**63 - 1),
    "has_open_abandoned_checkout": st.booleans(),
    "tag": st.sampled_from(["vip", "b2b"]) | TEXT,
    "rfm_segment": st.lists(
        st.sampled_from([rule["name"] for rule in rfm.DEFAULT_SCHEME] + [rfm.PROSPECTS]) | TEXT,
        min_size=1,
        max_size=3,
    ),
    "spender_tier": _choices(["big", "medium", "low"]),
    "rfm_recency": st.lists(st.integers(1, 5), min_size=1, max_size=5),
    "rfm_frequency": st.lists(st.integers(1, 5), min_size=1, max_size=5),
    "frequent_buyer": st.booleans(),
}
LEAF = st.sampled_from(sorted(VALUES)).flatmap(lambda key: VALUES[key].map(lambda value: {key: value}))


def containing(key: str) -> st.SearchStrategy[dict[str, Any]]:
    """A filter that holds the condition `key`: alone, negated, or in a group with others."""
    own = VALUES[key].map(lambda value: {key: value})
    return st.one_of(
        own,
        own.map(lambda c: {"not": c}),
        st.tuples(own, st.lists(LEAF, max_size=3), st.sampled_from(["all", "any"])).map(
            lambda t: {t[2]: [t[0], *t[1]]}
        ),
        st.tuples(own, LEAF).map(lambda t: {"all": [{"any": [t[0], t[1]]}, {"not": t[1]}]}),
    )


def test_every_condition_has_a_strategy() -> None:
    assert set(VALUES) == set(filters.LEAVES)


@pytest.fixture
def filtered_contacts(settings: Settings, api_shop: dict[str, Any]) -> None:
    """Contacts with orders, sends, opens and scans, so that most conditions select someone."""
    now = utcnow()
    with session_scope(settings.database_url) as session:
        store = store_of(session, api_shop)
        subscribed = {"subscription_status": SubscriptionStatus.SUBSCRIBED}
        ingest_customers(
            session,
            store,
            [
                customer("1", "ann@example.com", now - timedelta(days=1), tags=["vip"], **subscribed),
                customer("2", "bob@example.com", now - timedelta(days=1), tags=["b2b"], **subscribed),
                customer("3", "cy@example.com", now - timedelta(days=1)),
            ],
        )
        ingest_orders(
            session,
            store,
            [
                order("o1", now - timedelta(days=2), customer_id="1", total_price="150.00"),
                order("o2", now - timedelta(days=30), customer_id="1", line_items=[item(product="p2")]),
                order("o3", now - timedelta(days=3), customer_id="2", currency="USD"),
            ],
        )
        campaign = save_campaign(session, store.account_id, channel=CampaignChannel.EMAIL, name="News")
        record_sends(
            session,
            store.account_id,
            campaign.id,
            [SendInput(SendStatus.SENT, email="ann@example.com", sent_at=now - timedelta(days=4))],
        )
        ingest_events(
            session,
            store,
            [
                event(
                    InteractionType.EMAIL_OPEN, now - timedelta(days=3), email="ann@example.com", event_id="1"
                ),
                event(InteractionType.QR_SCAN, now - timedelta(days=5), email="cy@example.com", event_id="2"),
            ],
            source="api",
        )
        classify(session, store.account_id)


@pytest.fixture
def destination(client: FlaskClient, api_shop: dict[str, Any]) -> int:
    body = {
        "kind": "mailchimp",
        "name": "Newsletter",
        "config": {"list_id": LIST},
        "credentials": {"api_key": KEY},
    }
    answer = client.post("/api/v1/destinations", json=body, headers=api_shop["headers"])
    assert answer.status_code == 201
    return int(answer.get_json()["id"])


@pytest.mark.slow
@pytest.mark.parametrize("key", sorted(VALUES))
@pytest.mark.usefixtures("filtered_contacts")
@responses.activate
def test_a_filter_with_each_condition_goes_through_the_whole_api(
    client: FlaskClient,
    api_shop: dict[str, Any],
    destination: int,
    run_worker: Any,
    key: str,
) -> None:
    headers = api_shop["headers"]
    responses.post(TAGS, json={"id": 77, "name": "storepulse:segment"})
    responses.add_callback(responses.POST, BATCH, callback=batch_answer)
    responses.add_callback(responses.POST, TAG, callback=tag_answer)
    names = itertools.count()

    @settings(
        max_examples=4,
        database=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(wanted=containing(key), other=LEAF)
    def through_the_api(wanted: dict[str, Any], other: dict[str, Any]) -> None:
        meaning = filters.parse(wanted)
        preview = client.post("/api/v1/segments/preview", json={"filter": wanted}, headers=headers)
        assert preview.status_code == 200, preview.get_json()
        count = preview.get_json()["count"]

        saved = client.post(
            "/api/v1/segments", json={"name": f"{key} {next(names)}", "filter": wanted}, headers=headers
        )
        assert saved.status_code == 201, saved.get_json()
        segment = saved.get_json()
        assert segment["members"] == count
        path = f"/api/v1/segments/{segment['id']}"
        read = client.get(path, headers=headers).get_json()
        assert filters.parse(read["filter"]) == meaning  # stored as JSON, meaning the same
        again = client.post("/api/v1/segments/preview", json={"filter": read["filter"]}, headers=headers)
        assert again.get_json()["count"] == count

        edited = client.put(path, json={"name": segment["name"], "filter": other}, headers=headers)
        assert edited.status_code == 200, edited.get_json()
        assert filters.parse(client.get(path, headers=headers).get_json()["filter"]) == filters.parse(other)
        back = client.put(path, json={"name": segment["name"], "filter": read["filter"]}, headers=headers)
        assert back.get_json()["members"] == count

        assert client.post(f"{path}/exports", headers=headers).status_code == 202
        sync = client.post(
            "/api/v1/syncs",
            json={
                "segment_id": segment["id"],
                "destination_id": destination,
                "mode": "audience",
                "start": True,
            },
            headers=headers,
        )
        assert sync.status_code == 201, sync.get_json()
        sync_path = f"/api/v1/syncs/{sync.get_json()['id']}"
        planned = client.post(f"{sync_path}/preview", headers=headers).get_json()
        run_worker()

        export = client.get("/api/v1/exports", headers=headers).get_json()["exports"][0]
        assert (export["segment_id"], export["status"], export["rows"]) == (segment["id"], "finished", count)
        rows = list(csv.DictReader(io.StringIO(client.get(export["download"]).data.decode("utf-8-sig"))))
        assert len(rows) == count
        ran = client.get(sync_path, headers=headers).get_json()
        assert (ran["status"], ran["last_error"]) == ("idle", None)
        assert ran["last_run"]["adds"] == planned["adds"]
        assert client.delete(sync_path, headers=headers).status_code == 204

    through_the_api()
