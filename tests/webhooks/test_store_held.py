"""A store row held for a change (a token refresh, a connection, a disconnection) holds back no
delivery of the store: storing one checks its key to the store, and that check must not wait.

PostgreSQL only: SQLite has one writer at a time by design."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import responses
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from connectors.shopify.client import Tokens
from connectors.shopify.connection import client_for, seal
from integration import accounts
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import InboxDelivery, Platform, Store
from integration.store.types import utcnow
from tests.support.shopify import SHOP, Deliver

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)

# Far longer than storing a delivery takes; short enough that a delivery held back fails the test.
STORED_WITHIN_SECONDS = 10.0


def _answer_from_another_thread(deliver: Deliver, webhook_id: str) -> int | None:
    """Post a delivery from another thread and wait for its answer (None: none came in time)."""
    answers: list[int] = []
    thread = threading.Thread(
        target=lambda: answers.append(deliver("orders/create", {"id": 1}, webhook_id=webhook_id).status_code),
        daemon=True,
    )
    thread.start()
    thread.join(STORED_WITHIN_SECONDS)
    return answers[0] if answers else None


def _stored(settings: Settings, webhook_id: str) -> int:
    with session_scope(settings.database_url) as session:
        return (
            session.scalar(
                select(func.count()).select_from(InboxDelivery).where(InboxDelivery.delivery_id == webhook_id)
            )
            or 0
        )


def test_a_delivery_is_stored_while_its_stores_token_is_being_refreshed(
    shopify_settings: Settings, shop: int, deliver: Deliver
) -> None:
    soon = (utcnow() + timedelta(minutes=2)).isoformat()
    with session_scope(shopify_settings.database_url) as session:
        store = session.get(Store, shop)
        assert store is not None
        store.credentials = seal(
            shopify_settings, Tokens("shpat_old", "read_orders", soon, "shprt_old", soon)
        )
    during_refresh: list[int | None] = []

    def refresh(request: Any) -> tuple[int, dict[str, str], str]:
        # Shopify answers slowly; the store's row is held meanwhile, so that no other worker refreshes.
        during_refresh.append(_answer_from_another_thread(deliver, "during-refresh"))
        body = (
            '{"access_token": "shpat_new", "scope": "read_orders", "expires_in": 3600,'
            ' "refresh_token": "shprt_new", "refresh_token_expires_in": 7776000}'
        )
        return 200, {}, body

    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        mock.add_callback(responses.POST, f"https://{SHOP}/admin/oauth/access_token", callback=refresh)
        client_for(shopify_settings, shop)
    assert during_refresh == [200]
    assert _stored(shopify_settings, "during-refresh") == 1


def _connecting(session: Session, store_id: int) -> None:
    store = session.get(Store, store_id)
    assert store is not None
    accounts.held_store(session, store.account_id, Platform.SHOPIFY, SHOP)


def _disconnecting(session: Session, store_id: int) -> None:
    assert accounts.disconnect_refused(session, store_id, "the platform refused the token")


@pytest.mark.parametrize("holding", [_connecting, _disconnecting], ids=["connecting", "disconnecting"])
def test_a_delivery_is_stored_while_its_store_is_held_for_a_change(
    shopify_settings: Settings, shop: int, deliver: Deliver, holding: Callable[[Session, int], None]
) -> None:
    with session_scope(shopify_settings.database_url) as session:
        holding(session, shop)
        session.flush()
        answer = _answer_from_another_thread(deliver, f"while-{holding.__name__}")
        assert answer == 200
    assert _stored(shopify_settings, f"while-{holding.__name__}") == 1
