"""A filter in words: every condition of the language has words, groups keep their shape."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask_babel import force_locale

from integration.analytics import rfm
from integration.audiences import filters
from integration.store.models import BlockedReason, EngagementStatus, SubscriptionStatus
from integration.web.admin import i18n
from integration.web.admin.filter_words import WORDS, choice_labels, describe

# One example of each condition of the language, with what its words must say.
EXAMPLES: dict[str, tuple[Any, str]] = {
    "engagement": (["engaged", "unengaged"], "Engagement group: Engaged or Unengaged"),
    "subscription": (["subscribed", "unknown"], "Subscription: Subscribed or Unknown"),
    "blocked_reason": (["spam_complaint"], "Blocked for: Spam complaint"),
    "interacted_within_days": (30, "Interacted in the last 30 days"),
    "not_interacted_within_days": (1, "No interaction in the last 1 day"),
    "contacted_within_days": (14, "Sent a campaign or message in the last 14 days"),
    "not_contacted_within_days": (14, "Nothing sent in the last 14 days"),
    "opened_within_days": (30, "Opened an email in the last 30 days"),
    "clicked_within_days": (7, "Clicked a link in an email in the last 7 days"),
    "scanned_within_days": (60, "Scanned a letter's QR code in the last 60 days"),
    "created_within_days": (7, "First seen in the last 7 days"),
    "bought_product": ({"sku": "ABC-1", "within_days": 90}, "Bought SKU ABC-1 in the last 90 days"),
    "orders_count": ({"min": 1, "max": 5}, "Placed from 1 to 5 orders"),
    "total_spent": ({"currency": "EUR", "min": "100.00", "max": None}, "Spent at least €100.00 in all"),
    "store_id": (3, "Customer of Main store or ordered there"),
    "has_open_abandoned_checkout": (True, "Has an abandoned checkout not yet recovered"),
    "tag": ("vip", "Tagged vip"),
    "rfm_segment": (["Champions", "Prospects"], "RFM segment: Champions or Prospects"),
    "spender_tier": (["big"], "Spender tier: Big spenders"),
    "rfm_recency": ([4, 5], "RFM recency score: 5 or 4"),
    "rfm_frequency": ([1], "RFM frequency score: 1"),
    "frequent_buyer": (False, "Not a frequent buyer"),
}


@pytest.fixture
def words_app() -> Iterator[Flask]:
    app = Flask(__name__)
    i18n.init_app(app)
    with app.test_request_context():
        yield app


def test_every_condition_of_the_language_has_words_and_an_example() -> None:
    assert set(WORDS) == set(filters.LEAVES)
    assert set(EXAMPLES) == set(filters.LEAVES)


@pytest.mark.parametrize(("key", "example"), EXAMPLES.items())
def test_each_condition_says_what_it_selects(words_app: Flask, key: str, example: tuple[Any, str]) -> None:
    value, text = example
    parsed = filters.parse({key: value})
    for form in (parsed, filters.canonical(parsed)):  # as parsed and as stored
        node = describe(form, store_names={3: "Main store"})
        assert node == {
            "kind": "leaf",
            "key": key,
            "path": "0",
            "text": text,
            "not_set": node["not_set"],
            "parts": [],
        }


@pytest.mark.parametrize(
    ("condition", "not_set"),
    [
        ({"total_spent": {"currency": "EUR", "min": "100.00"}}, "A contact without orders has spent €0.00"),
        ({"opened_within_days": 30}, "Never opened counts as not opened"),
        ({"not_contacted_within_days": 30}, "Never contacted counts as not contacted"),
        ({"orders_count": {"min": 0}}, "a contact without orders has placed 0"),
        ({"rfm_segment": ["Champions"]}, "is a prospect and does not match"),
        ({"rfm_recency": [5]}, "has no RFM scores and does not match"),
        ({"tag": "vip"}, None),
    ],
)
def test_words_say_how_a_contact_without_the_value_is_treated(
    words_app: Flask, condition: dict[str, Any], not_set: str | None
) -> None:
    found = describe(filters.parse(condition))["not_set"]
    if not_set is None:
        assert found is None
    else:
        assert not_set in found


def test_groups_keep_their_shape_and_paths(words_app: Flask) -> None:
    condition = filters.parse(
        {
            "all": [
                {"subscription": ["subscribed"]},
                {"not": {"tag": "wholesale"}},
                {"any": [{"orders_count": {"min": 2}}, {"bought_product": {"product_id": "632910392"}}]},
            ]
        }
    )
    tree = describe(condition)
    assert (tree["kind"], tree["text"], tree["path"]) == ("all", "All of:", "0")
    assert [p["path"] for p in tree["parts"]] == ["0.0", "0.1", "0.2"]
    negated = tree["parts"][1]
    assert (negated["kind"], negated["parts"][0]["path"], negated["parts"][0]["text"]) == (
        "not",
        "0.1.0",
        "Tagged wholesale",
    )
    either = tree["parts"][2]
    assert either["text"] == "At least one of:"
    assert [(p["path"], p["text"]) for p in either["parts"]] == [
        ("0.2.0", "Placed at least 2 orders"),
        ("0.2.1", "Bought product 632910392"),
    ]


def test_empty_groups_say_whom_they_hold(words_app: Flask) -> None:
    assert describe({"all": []})["text"] == "Every contact"
    assert describe({"any": []})["text"] == "No contact"


def test_money_is_written_the_locale_way(words_app: Flask) -> None:
    condition = filters.parse({"total_spent": {"currency": "PLN", "min": "1234.50", "max": "2000"}})
    with force_locale("pl"):
        text = describe(condition)["text"]
    # The message is not in the catalogs yet; its amounts are the locale's already.
    assert "1\xa0234,50\xa0zł" in text
    assert "2\xa0000,00\xa0zł" in text


def test_every_state_has_a_label(words_app: Flask) -> None:
    labels = choice_labels()
    assert set(labels["engagement"]) == {s.value for s in EngagementStatus}
    assert set(labels["subscription"]) == {s.value for s in SubscriptionStatus}
    assert set(labels["blocked_reason"]) == {s.value for s in BlockedReason}
    assert set(labels["spender_tier"]) == set(filters.TIERS)
    assert set(labels["rfm_segment"]) == {r["name"] for r in rfm.DEFAULT_SCHEME} | {rfm.PROSPECTS}
