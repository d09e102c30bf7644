"""The collector's quick check (`surely_kept`) against the schema it stands in for (`load_events`).

The quick check may pass a batch only when the schema and the time window would keep every event
of it; it may leave to the schema any event it cannot vouch for, and then the schema decides.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from connectors.storefront.schemas import MAX_AGE, MAX_AHEAD, load_events, surely_kept

RECEIVED = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
MISSING = object()  # a field left out of the event


def _body(events: list[Any], ascii_only: bool = True) -> bytes:
    text = json.dumps({"key": "pk_x", "source": "snippet", "events": events}, ensure_ascii=ascii_only)
    return text.encode("utf-8")  # a lone surrogate, unescaped, has no UTF-8: no browser sends one


def _times() -> st.SearchStrategy[Any]:
    """Times near each edge of the window, written as the pixel, the snippet or a stranger would."""
    edges = [timedelta(0), MAX_AHEAD, -MAX_AGE]
    nudges = [timedelta(0), timedelta(microseconds=1), timedelta(seconds=-1), timedelta(seconds=1)]
    zones = [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))]

    def written(edge: timedelta, nudge: timedelta, zone: timezone, style: int) -> str:
        moment = (RECEIVED + edge + nudge).astimezone(zone)
        if style == 0:
            return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        if style == 1:
            return moment.isoformat()
        if style == 2:
            return moment.replace(tzinfo=None).isoformat()  # no zone: the schema refuses it
        return moment.strftime("%Y%m%dT%H%M%S%z")  # the basic format: fromisoformat reads it too

    return st.one_of(
        st.builds(
            written,
            st.sampled_from(edges),
            st.sampled_from(nudges),
            st.sampled_from(zones),
            st.integers(0, 3),
        ),
        st.sampled_from(["yesterday", "", "2026-13-01T00:00:00Z", "9999-12-31T23:59:59-01:00", None, 0]),
    )


def _text(longest: int) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.text(max_size=12),
        st.sampled_from(["", "x" * longest, "x" * (longest + 1), "a\x00b", "\ud800", "Łódź", None, 5, []]),
    )


PRICES = st.one_of(
    st.sampled_from(
        [
            "19.90", "0", "0.00", " 19.90", "1e3", "-1", "NaN", "Infinity", "١٢", "999999999999.99",
            "1000000000000", "1000000000000.5", "", True, False, None, 0, 12, -3, 10**12, 10**12 + 1,
            10**400, 1.5, -0.0, float("nan"), float("inf"), 1e12, 1e13,
        ]
    ),
    st.decimals(allow_nan=False, allow_infinity=False, places=2).map(str),
    st.floats(),
)  # fmt: skip
CURRENCIES = st.sampled_from(["USD", "pln", "US", "USDX", "USD\n", "ÄÖÜ", "", 840, None])
QUANTITIES = st.sampled_from([1, 2, 10_000, 10_001, 0, -1, True, 1.0, 1.5, "2", None])
KINDS = st.sampled_from(
    ["page_view", "product_view", "add_to_cart", "checkout", "identify", "purchase", "", 7]
)


@st.composite
def events(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 30)) == 0:
        return draw(st.sampled_from([None, [], "event", 3]))
    fields = {
        "id": _text(100),
        "type": KINDS,
        "at": _times(),
        "visitor": _text(100),
        "customer_id": _text(100),
        "url": _text(2000),
        "product_id": _text(100),
        "variant_id": _text(100),
        "sku": _text(100),
        "title": _text(300),
        "price": PRICES,
        "currency": CURRENCIES,
        "quantity": QUANTITIES,
        "checkout_token": _text(100),
        "order_id": _text(100),
        "email": _text(320),
        "extra": _text(10),  # not read by the schema, but its text must still be storable
    }
    # a plain event with one to three fields changed or left out, so that whole valid events and
    # events one field away from valid are both common
    event = _plain_event()
    for name in draw(st.lists(st.sampled_from(sorted(fields)), min_size=1, max_size=3, unique=True)):
        if draw(st.integers(0, 4)) == 0:
            event.pop(name, None)
        else:
            event[name] = draw(fields[name])
    return event


def _plain_event(**changes: Any) -> dict[str, Any]:
    return {
        "id": "sh-6b1f",
        "type": "add_to_cart",
        "at": (RECEIVED - timedelta(seconds=3)).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "visitor": "c5a9-11",
        "customer_id": "gid://shopify/Customer/7100000001",
        "url": "https://linen.example/products/shirt",
        "product_id": "gid://shopify/Product/8000000001",
        "variant_id": "gid://shopify/ProductVariant/40000000001",
        "sku": "SKU-00001",
        "title": "Linen Shirt",
        "price": "59.80",
        "currency": "EUR",
        "quantity": 2,
        **changes,
    }


@hsettings(max_examples=600, deadline=None)
@given(st.lists(events(), min_size=1, max_size=3), st.booleans())
def test_a_batch_the_quick_check_passes_is_kept_whole_by_the_schema(
    batch: list[Any], ascii_only: bool
) -> None:
    try:
        body = _body(batch, ascii_only)
    except UnicodeEncodeError:
        return  # a body a browser cannot send
    batch = json.loads(body)["events"]  # the events as the collector reads them from the body
    if surely_kept(batch, RECEIVED, body):
        kept, refused = load_events(batch, RECEIVED)
        assert refused == []
        assert [index for index, _ in kept] == list(range(len(batch)))


@pytest.mark.parametrize(
    "event",
    [
        _plain_event(),
        _plain_event(type="page_view", product_id=None, price=None, currency=None, quantity=None),
        {"id": "1", "type": "product_view", "at": "2026-12-04T11:59:59Z", "visitor": "v", "product_id": "P1"},
        _plain_event(type="identify", email="ann@example.com", title="Łódź Tote"),
        _plain_event(price=19.9, quantity=None),
        _plain_event(at=(RECEIVED + MAX_AHEAD).isoformat()),
        _plain_event(at=(RECEIVED - MAX_AGE).astimezone(timezone(timedelta(hours=9))).isoformat()),
    ],
)
def test_the_shapes_the_pixel_and_the_snippet_send_pass_the_quick_check(event: dict[str, Any]) -> None:
    for ascii_only in (True, False):
        assert surely_kept([event, event], RECEIVED, _body([event, event], ascii_only))
    assert load_events([event], RECEIVED)[1] == []


@pytest.mark.parametrize(
    ("event", "kept_by_the_schema"),
    [
        (_plain_event(price=" 19.90 "), True),  # unusual but valid: the schema decides
        (_plain_event(currency="USD\n"), True),
        (_plain_event(price="19.9000000000000"), True),
        (_plain_event(price="-1"), False),
        (_plain_event(quantity=1.0), False),
        (_plain_event(product_id=""), False),
        (_plain_event(at=(RECEIVED + MAX_AHEAD + timedelta(microseconds=1)).isoformat()), False),
        (_plain_event(title="a\x00b"), False),
        (_plain_event(extra="\ud800"), False),
        ([], False),
    ],
)
def test_what_the_quick_check_cannot_vouch_for_is_left_to_the_schema(
    event: Any, kept_by_the_schema: bool
) -> None:
    assert not surely_kept([_plain_event(), event], RECEIVED, _body([_plain_event(), event]))
    kept, refused = load_events([event], RECEIVED)
    assert (len(kept) == 1, len(refused) == 0) == (kept_by_the_schema, kept_by_the_schema)
