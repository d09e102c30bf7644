"""The filter builder's field catalog: every condition of the filter language, as the page offers it.

Each leaf of `filters.LEAVES` has an entry here: its label, the kind of input that edits its value
(builder.js knows one editor per kind), translated choices and units. A leaf added to the language
without an entry makes `catalog()` raise, and its test fail.
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from integration.analytics import rfm
from integration.audiences import filters
from integration.store.models import Account, Store, StoreState
from integration.web.admin.contact_list import group_names, status_names
from integration.web.admin.filter_words import choice_labels
from integration.web.context import db

# Input kinds builder.js edits: the shape of the value each produces.
KINDS = {
    "engagement": "choices",
    "subscription": "choices",
    "blocked_reason": "choices",
    "rfm_segment": "choices",
    "spender_tier": "choices",
    "rfm_recency": "choices",
    "rfm_frequency": "choices",
    "interacted_within_days": "days",
    "not_interacted_within_days": "days",
    "contacted_within_days": "days",
    "not_contacted_within_days": "days",
    "opened_within_days": "days",
    "clicked_within_days": "days",
    "scanned_within_days": "days",
    "created_within_days": "days",
    "orders_count": "count_range",
    "total_spent": "money_range",
    "bought_product": "product",
    "store_id": "store",
    "has_open_abandoned_checkout": "boolean",
    "frequent_buyer": "boolean",
    "tag": "text",
}


def labels() -> dict[str, str]:
    """Each condition's name in the page's language."""
    return {
        "engagement": _("Engagement group"),
        "subscription": _("Subscription status"),
        "blocked_reason": _("Blocked because of"),
        "interacted_within_days": _("Interacted within"),
        "not_interacted_within_days": _("No interaction within"),
        "contacted_within_days": _("Contacted within"),
        "not_contacted_within_days": _("Not contacted within"),
        "opened_within_days": _("Opened an email within"),
        "clicked_within_days": _("Clicked in an email within"),
        "scanned_within_days": _("Scanned a QR code within"),
        "created_within_days": _("First seen within"),
        "bought_product": _("Bought a product"),
        "orders_count": _("Number of orders"),
        "total_spent": _("Total spent"),
        "store_id": _("Customer of the store"),
        "has_open_abandoned_checkout": _("Open abandoned checkout"),
        "tag": _("Has the tag"),
        "rfm_segment": _("RFM segment"),
        "spender_tier": _("Spender tier"),
        "rfm_recency": _("RFM recency score"),
        "rfm_frequency": _("RFM frequency score"),
        "frequent_buyer": _("Frequent buyer"),
    }


def _choices(key: str, account: Account) -> list[list[Any]]:
    if key == "engagement":
        return [[k, str(v)] for k, v in group_names().items()]
    if key == "subscription":
        return [[k, str(v)] for k, v in status_names().items()]
    if key == "blocked_reason":
        return [["hard_bounce", _("Hard bounce")], ["spam_complaint", _("Spam complaint")]]
    if key == "rfm_segment":
        # The account's own scheme names its segments; the default ones have translated names.
        names = [rule["name"] for rule in (account.rfm_scheme or rfm.DEFAULT_SCHEME)]
        known = choice_labels()["rfm_segment"]
        return [[name, str(known.get(name, name))] for name in (*names, filters.PROSPECTS)]
    if key == "spender_tier":
        tiers = choice_labels()["spender_tier"]
        return [[tier, str(tiers[tier])] for tier in filters.TIERS]
    if key in ("rfm_recency", "rfm_frequency"):
        ends = (
            (_("5: ordered most recently"), _("1: ordered longest ago"))
            if key == "rfm_recency"
            else (_("5: ordered most often"), _("1: ordered least often"))
        )
        return [[5, ends[0]], [4, "4"], [3, "3"], [2, "2"], [1, ends[1]]]
    if key == "store_id":
        stores = db.session.scalars(
            select(Store)
            .where(Store.account_id == account.id, Store.state == StoreState.CONNECTED)
            .order_by(Store.id)
        )
        return [[str(store.id), store.name] for store in stores]
    if key == "total_spent":
        currencies = db.session.scalars(
            select(Store.currency).where(Store.account_id == account.id).distinct().order_by(Store.currency)
        )
        return [[code, code] for code in currencies]
    if KINDS[key] == "boolean":
        return [["true", _("Yes")], ["false", _("No")]]
    return []


def catalog(account: Account) -> dict[str, Any]:
    """The builder's fields and words, for the page to hand to builder.js as JSON."""
    names = labels()
    fields = []
    for key in filters.LEAVES:
        kind = KINDS[key]  # a KeyError here: a condition the builder cannot edit yet
        entry: dict[str, Any] = {
            "key": key,
            "label": names[key],
            "kind": kind,
            "choices": _choices(key, account),
        }
        if kind == "days" or key == "bought_product":
            entry["unit"] = _("days")
        if kind == "money_range":
            # The stores' currencies are the likely ones; any other code may be typed in.
            entry["currency"] = entry["choices"][0][0] if entry["choices"] else ""
        fields.append(entry)
    return {
        "fields": fields,
        "words": {
            "all": _("all of"),
            "any": _("any of"),
            "none": _("none of"),
            "match": _("Contacts match"),
            "conditions": _("Conditions"),
            "add_condition": _("Add a condition"),
            "add_group": _("Add a group"),
            "remove_condition": _("Remove this condition"),
            "remove_group": _("Remove this group"),
            "min": _("At least"),
            "max": _("At most"),
            "currency": _("Currency"),
            "product_by": _("Product named by"),
            "product_id": _("Product ID"),
            "sku": _("SKU"),
            "product": _("Product ID or SKU"),
            "any_time": _("Within this many days (empty: ever)"),
            "value": _("Value"),
            "group": _("Group"),
            "condition_n": _("Condition %(n)s"),
            "group_n": _("Group %(n)s"),
            "empty_group": _("No condition yet: this group matches every contact."),
        },
    }
