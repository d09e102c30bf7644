"""Small builders of accounts, stores and records for tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from integration.accounts import add_store, create_account, create_api_key
from integration.contract import CheckoutRecord, CustomerRecord, EventRecord, LineItemRecord, OrderRecord
from integration.store.models import InteractionType, Platform, Store

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


def make_store(
    session: Session, currency: str = "EUR", account_id: int | None = None, **kwargs: Any
) -> Store:
    if account_id is None:
        account_id = create_account(session, "Test shop", "Europe/Prague").id
    return add_store(
        session, account_id, platform=Platform.API, name=f"Store {currency}", currency=currency, **kwargs
    )


def customer(external_id: str, email: str | None, updated: datetime = NOW, **kwargs: Any) -> CustomerRecord:
    return CustomerRecord(external_id=external_id, email=email, updated_at=updated, **kwargs)


def item(
    title: str = "Linen shirt", price: str = "29.90", quantity: int = 1, product: str = "p1"
) -> LineItemRecord:
    return LineItemRecord(title=title, quantity=quantity, unit_price=Decimal(price), product_id=product)


def order(
    external_id: str, created: datetime = NOW, updated: datetime | None = None, **kwargs: Any
) -> OrderRecord:
    items = kwargs.pop("line_items", [item()])
    total = kwargs.pop("total_price", sum((i.unit_price * i.quantity for i in items), Decimal(0)))
    return OrderRecord(
        external_id=external_id,
        created_at=created,
        updated_at=updated or created,
        currency=kwargs.pop("currency", "EUR"),
        total_price=Decimal(total),
        line_items=items,
        **kwargs,
    )


def checkout(token: str, updated: datetime = NOW, **kwargs: Any) -> CheckoutRecord:
    items = kwargs.pop("line_items", [item()])
    return CheckoutRecord(
        token=token,
        created_at=kwargs.pop("created", updated - timedelta(minutes=5)),
        updated_at=updated,
        currency=kwargs.pop("currency", "EUR"),
        total_price=Decimal(kwargs.pop("total_price", "29.90")),
        line_items=items,
        **kwargs,
    )


def event(kind: InteractionType, at: datetime = NOW, **kwargs: Any) -> EventRecord:
    return EventRecord(type=kind, occurred_at=at, **kwargs)


def bearer(session: Session, account_id: int) -> dict[str, str]:
    """Headers that authenticate as a new API key of the account."""
    _, token = create_api_key(session, account_id)
    return {"Authorization": f"Bearer {token}"}


def store_of(session: Session, shop: dict[str, Any]) -> Store:
    """The store of an `api_shop`, in this session."""
    store = session.get(Store, shop["store"])
    assert store is not None
    return store
