"""Carts from Shopify's published payloads, signed through the web process and the worker."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from flask.testing import FlaskClient

from integration.carts import mark_abandoned
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import Store
from tests.factories import bearer
from tests.shopify_fixtures import Deliver, payload


def _headers(settings: Settings, store_id: int) -> dict[str, str]:
    with session_scope(settings.database_url) as session:
        store = session.get(Store, store_id)
        assert store is not None
        return bearer(session, store.account_id)


def _abandon(settings: Settings) -> None:
    """What the scheduler does every minute."""
    with session_scope(settings.database_url) as session:
        mark_abandoned(session)


def _deliver_all(deliver: Deliver, run_worker: Callable[[], object], steps: list[tuple[str, Any]]) -> None:
    for topic, body in steps:
        answer = deliver(topic, json.dumps(body).encode())
        assert answer.status_code == 200, answer.get_data(as_text=True)
        run_worker()


@pytest.mark.parametrize("first", ["checkout", "order"])
def test_an_order_placed_before_the_checkout_was_abandoned_does_not_recover_it(
    shopify_settings: Settings,
    shop: int,
    deliver: Deliver,
    run_worker: Callable[[], object],
    shopify_client: FlaskClient,
    first: str,
) -> None:
    # Shopify's REST examples: the checkout was abandoned on 2012-10-12, the order sharing its cart
    # token was created on 2008-01-10, years before the checkout existed.
    checkout = payload("rest_abandoned_checkout")["checkout"]
    order = payload("rest_order")["order"]
    assert checkout["cart_token"] == order["cart_token"]
    steps = [("checkouts/create", checkout), ("orders/create", order)]
    if first == "order":
        steps.reverse()
    _deliver_all(deliver, run_worker, steps[:1])
    _abandon(shopify_settings)
    _deliver_all(deliver, run_worker, steps[1:])
    _abandon(shopify_settings)

    headers = _headers(shopify_settings, shop)
    period = "from=2012-10-01T00:00:00Z&to=2012-11-01T00:00:00Z"
    stats = shopify_client.get(f"/api/v1/carts/stats?{period}", headers=headers).get_json()
    assert (stats["abandoned"], stats["recovered"], stats["recovery_rate"]) == (1, 0, 0.0)
    assert stats["recovered_revenue"] == []
    [cart] = shopify_client.get(f"/api/v1/carts?{period}", headers=headers).get_json()["carts"]
    assert (cart["token"], cart["state"], cart["recovered_at"], cart["recovered_by"]) == (
        checkout["token"],
        "abandoned",
        None,
        None,
    )
    assert datetime.fromisoformat(cart["abandoned_at"]) > datetime.fromisoformat(checkout["updated_at"])
    # Nothing was recovered in 2008 either.
    then = "from=2008-01-01T00:00:00Z&to=2008-02-01T00:00:00Z"
    assert shopify_client.get(f"/api/v1/carts/stats?{then}", headers=headers).get_json()["abandoned"] == 0
