"""A filter of the one filter language (integration.audiences.filters) in the merchant's words.

`describe` keeps the filter's shape: each group and condition becomes a node with what it selects
(`text`) and, where the filter language decides it, how a contact without the value is treated
(`not_set`), so a page can show nested groups and mark each condition for one contact.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal
from enum import Enum
from typing import Any

from babel import Locale
from babel.lists import format_list
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _

from integration.analytics import rfm
from integration.web.admin.i18n import money, number


def choice_labels() -> dict[str, dict[str, str]]:
    """The label of each value a list condition takes, by condition."""
    return {
        "engagement": {"engaged": _("Engaged"), "unengaged": _("Unengaged"), "blocked": _("Blocked")},
        "subscription": {
            "subscribed": _("Subscribed"),
            "unknown": _("Unknown"),
            "unsubscribed": _("Unsubscribed"),
        },
        "blocked_reason": {"hard_bounce": _("Hard bounce"), "spam_complaint": _("Spam complaint")},
        "spender_tier": {"big": _("Big spenders"), "medium": _("Medium spenders"), "low": _("Low spenders")},
        "rfm_segment": {
            "Champions": _("Champions"),
            "Loyal customers": _("Loyal customers"),
            "Potential loyalists": _("Potential loyalists"),
            "New customers": _("New customers"),
            "Promising": _("Promising"),
            "Need attention": _("Need attention"),
            "About to sleep": _("About to sleep"),
            "At risk": _("At risk"),
            "Can't lose them": _("Can't lose them"),
            "Hibernating": _("Hibernating"),
            rfm.PROSPECTS: _("Prospects"),
        },
    }


def describe(
    condition: dict[str, Any], path: str = "0", store_names: dict[int, str] | None = None
) -> dict[str, Any]:
    """The filter as a tree of nodes in words: kind, key, path, text, not_set and parts."""
    key, value = next(iter(condition.items()))
    if key in ("all", "any"):
        parts = [describe(part, f"{path}.{n}", store_names) for n, part in enumerate(value)]
        if not parts:  # an empty "all" holds for everyone, an empty "any" for no one
            text = _("Every contact") if key == "all" else _("No contact")
        else:
            text = _("All of:") if key == "all" else _("At least one of:")
        return _node(key, key, path, text, None, parts)
    if key == "not":
        return _node("not", "not", path, _("Not this:"), None, [describe(value, f"{path}.0", store_names)])
    words = WORDS.get(key)
    if words is None:
        raise KeyError(f"no words for the condition {key!r}")
    text, not_set = words(_plain(value), store_names or {})
    return _node("leaf", key, path, text, not_set, [])


def _node(
    kind: str, key: str, path: str, text: str, not_set: str | None, parts: list[dict[str, Any]]
) -> dict[str, Any]:
    return {"kind": kind, "key": key, "path": path, "text": str(text), "not_set": not_set, "parts": parts}


def _plain(value: Any) -> Any:
    """A parsed value in its stored form: states by name (a parsed filter holds enums)."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _or(items: Iterable[str]) -> str:
    """Choices joined the locale's way: "A, B or C"."""
    locale: Locale = get_locale() or Locale("en")
    return str(format_list(list(items), style="or", locale=locale))


def _labelled(field: str, values: list[str]) -> str:
    labels = choice_labels()[field]
    return _or(labels.get(v, v) for v in values)


Words = Callable[[Any, dict[int, str]], tuple[str, str | None]]


def _engagement(value: list[str], stores: dict[int, str]) -> tuple[str, str | None]:
    return (
        _("Engagement group: %(choices)s", choices=_labelled("engagement", value)),
        _("A contact not classified yet is in no group and does not match"),
    )


def _subscription(value: list[str], stores: dict[int, str]) -> tuple[str, str | None]:
    return _("Subscription: %(choices)s", choices=_labelled("subscription", value)), None


def _blocked_reason(value: list[str], stores: dict[int, str]) -> tuple[str, str | None]:
    return (
        _("Blocked for: %(choices)s", choices=_labelled("blocked_reason", value)),
        _("A contact that is not blocked does not match"),
    )


def _interacted(value: int, stores: dict[int, str]) -> tuple[str, str | None]:
    return (
        ngettext("Interacted in the last %(num)d day", "Interacted in the last %(num)d days", value),
        _("Never interacted counts as not interacted"),
    )


def _not_interacted(value: int, stores: dict[int, str]) -> tuple[str, str | None]:
    return (
        ngettext("No interaction in the last %(num)d day", "No interaction in the last %(num)d days", value),
        _("Never interacted counts as not interacted"),
    )


def _contacted(value: int, stores: dict[int, str]) -> tuple[str, str | None]:
    return (
        ngettext(
            "Sent a campaign or message in the last %(num)d day",
            "Sent a campaign or message in the last %(num)d days",
            value,
        ),
        _("Never contacted counts as not contacted"),
    )


def _not_contacted(value: int, stores: dict[int, str]) -> tuple[str, str | None]:
    return (
        ngettext("Nothing sent in the last %(num)d day", "Nothing sent in the last %(num)d days", value),
        _("Never contacted counts as not contacted"),
    )


def _opened(value: int, stores: dict[int, str]) -> tuple[str, str | None]:
    return (
        ngettext(
            "Opened an email in the last %(num)d day", "Opened an email in the last %(num)d days", value
        ),
        _("Never opened counts as not opened; a mail client's automatic opens do not count"),
    )


def _clicked(value: int, stores: dict[int, str]) -> tuple[str, str | None]:
    return (
        ngettext(
            "Clicked a link in an email in the last %(num)d day",
            "Clicked a link in an email in the last %(num)d days",
            value,
        ),
        _("Never clicked counts as not clicked"),
    )


def _scanned(value: int, stores: dict[int, str]) -> tuple[str, str | None]:
    return (
        ngettext(
            "Scanned a letter's QR code in the last %(num)d day",
            "Scanned a letter's QR code in the last %(num)d days",
            value,
        ),
        _("Never scanned counts as not scanned"),
    )


def _created(value: int, stores: dict[int, str]) -> tuple[str, str | None]:
    return (
        ngettext("First seen in the last %(num)d day", "First seen in the last %(num)d days", value),
        None,
    )


def _bought(value: dict[str, Any], stores: dict[int, str]) -> tuple[str, str | None]:
    days = value.get("within_days")
    if "sku" in value:
        if days is None:
            text = _("Bought SKU %(sku)s", sku=value["sku"])
        else:
            text = ngettext(
                "Bought SKU %(sku)s in the last %(num)d day",
                "Bought SKU %(sku)s in the last %(num)d days",
                days,
                sku=value["sku"],
            )
    elif days is None:
        text = _("Bought product %(product)s", product=value["product_id"])
    else:
        text = ngettext(
            "Bought product %(product)s in the last %(num)d day",
            "Bought product %(product)s in the last %(num)d days",
            days,
            product=value["product_id"],
        )
    return text, _("Cancelled and voided orders do not count; a contact without orders has not bought it")


def _orders_count(value: dict[str, Any], stores: dict[int, str]) -> tuple[str, str | None]:
    low, high = value.get("min"), value.get("max")
    if low is not None and high is not None and low == high:
        text = ngettext("Placed exactly %(num)d order", "Placed exactly %(num)d orders", low)
    elif low is not None and high is not None:
        text = _("Placed from %(low)s to %(high)s orders", low=number(low), high=number(high))
    elif low is not None:
        text = ngettext("Placed at least %(num)d order", "Placed at least %(num)d orders", low)
    elif high is not None:
        text = ngettext("Placed at most %(num)d order", "Placed at most %(num)d orders", high)
    else:
        text = _("Placed any number of orders")
    return text, _(
        "Cancelled, voided and refunded orders do not count; a contact without orders has placed 0"
    )


def _total_spent(value: dict[str, Any], stores: dict[int, str]) -> tuple[str, str | None]:
    currency = value["currency"]
    low = None if value.get("min") is None else money(Decimal(value["min"]), currency)
    high = None if value.get("max") is None else money(Decimal(value["max"]), currency)
    if low is not None and high is not None:
        text = _("Spent from %(low)s to %(high)s in all", low=low, high=high)
    elif low is not None:
        text = _("Spent at least %(amount)s in all", amount=low)
    elif high is not None:
        text = _("Spent at most %(amount)s in all", amount=high)
    else:
        text = _("Spent any amount in %(currency)s", currency=currency)
    return text, _(
        "A contact without orders has spent %(amount)s; other currencies are not converted",
        amount=money(Decimal(0), currency),
    )


def _store(value: int, stores: dict[int, str]) -> tuple[str, str | None]:
    name = stores.get(value) or _("store #%(id)s", id=value)
    return _("Customer of %(store)s or ordered there", store=name), None


def _open_checkout(value: bool, stores: dict[int, str]) -> tuple[str, str | None]:
    if value:
        return _("Has an abandoned checkout not yet recovered"), None
    return _("Has no abandoned checkout waiting to be recovered"), None


def _tag(value: str, stores: dict[int, str]) -> tuple[str, str | None]:
    return _("Tagged %(tag)s", tag=value), None


def _rfm_segment(value: list[str], stores: dict[int, str]) -> tuple[str, str | None]:
    text = _("RFM segment: %(choices)s", choices=_labelled("rfm_segment", value))
    if rfm.PROSPECTS in value:
        return text, _("A contact without orders is a prospect")
    return text, _("A contact without orders is a prospect and does not match")


def _spender_tier(value: list[str], stores: dict[int, str]) -> tuple[str, str | None]:
    return (
        _("Spender tier: %(choices)s", choices=_labelled("spender_tier", value)),
        _("A contact without orders has no tier and does not match"),
    )


def _scores(value: list[int]) -> str:
    return _or(str(v) for v in sorted(value, reverse=True))


def _rfm_recency(value: list[int], stores: dict[int, str]) -> tuple[str, str | None]:
    return (
        _("RFM recency score: %(choices)s", choices=_scores(value)),
        _("A contact without orders has no RFM scores and does not match"),
    )


def _rfm_frequency(value: list[int], stores: dict[int, str]) -> tuple[str, str | None]:
    return (
        _("RFM frequency score: %(choices)s", choices=_scores(value)),
        _("A contact without orders has no RFM scores and does not match"),
    )


def _frequent(value: bool, stores: dict[int, str]) -> tuple[str, str | None]:
    text = _("Frequent buyer") if value else _("Not a frequent buyer")
    return text, _("A contact without orders is not a frequent buyer")


# The words of each condition of the language (filters.LEAVES): (what it selects, when the value is missing).
WORDS: dict[str, Words] = {
    "engagement": _engagement,
    "subscription": _subscription,
    "blocked_reason": _blocked_reason,
    "interacted_within_days": _interacted,
    "not_interacted_within_days": _not_interacted,
    "contacted_within_days": _contacted,
    "not_contacted_within_days": _not_contacted,
    "opened_within_days": _opened,
    "clicked_within_days": _clicked,
    "scanned_within_days": _scanned,
    "created_within_days": _created,
    "bought_product": _bought,
    "orders_count": _orders_count,
    "total_spent": _total_spent,
    "store_id": _store,
    "has_open_abandoned_checkout": _open_checkout,
    "tag": _tag,
    "rfm_segment": _rfm_segment,
    "spender_tier": _spender_tier,
    "rfm_recency": _rfm_recency,
    "rfm_frequency": _rfm_frequency,
    "frequent_buyer": _frequent,
}
