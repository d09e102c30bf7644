"""Checkout identity: the records of one checkout, named by its token or only by its cart, as one row."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import BindParameter, ColumnElement, bindparam, select, update
from sqlalchemy.orm import Session

from integration.contract import CheckoutRecord
from integration.store.bulk import chunks
from integration.store.models import Checkout, Store, table_of

VALUE: BindParameter[Any] = bindparam("_value")


def checkout_identities(
    session: Session, store: Store, records: Sequence[CheckoutRecord]
) -> list[CheckoutRecord]:
    """Give the records of one checkout, named by different tokens, the one identity of its stored row.

    A record whose token is its cart token names the checkout only by its cart (a platform that
    gives no checkout token, e.g. Shopify's abandoned checkouts read in bulk). It takes the token of
    a stored checkout of that cart (the most recently updated, if several). A record that has a token
    of its own takes over a stored checkout known so far only by its cart, which is renamed to that
    token. A stored checkout that did not know its cart learns it from any record naming it (an older
    version too), and a record that does not tell its cart keeps the one stored. Either arrival order
    thus ends in one checkout, found by its token and by its cart token.
    """
    by_cart = {r.cart_token for r in records if r.cart_token and r.token == r.cart_token}
    tokens_of: dict[str, str] = {}  # cart token -> the stored checkout's own token
    for part in chunks(sorted(by_cart)):
        rows = session.execute(
            select(Checkout.cart_token, Checkout.token)
            .where(
                Checkout.store_id == store.id,
                Checkout.cart_token.in_(part),
                Checkout.token != Checkout.cart_token,
            )
            .order_by(Checkout.updated_at, Checkout.id)
        )
        tokens_of.update({cart: token for cart, token in rows if cart})  # the newest comes last
    named = {r.cart_token: r.token for r in records if r.cart_token and r.token != r.cart_token}
    _take_over_cart_checkouts(session, store, named)
    # A stored checkout that did not know its cart learns it.
    set_by_token(
        session,
        store,
        "cart_token",
        [(token, cart) for cart, token in named.items()],
        table_of(Checkout).c.cart_token.is_(None),
    )
    carts_of: dict[str, str] = {}
    for part in chunks(sorted({r.token for r in records if not r.cart_token})):
        carts_of.update(
            (token, cart)
            for token, cart in session.execute(
                select(Checkout.token, Checkout.cart_token).where(
                    Checkout.store_id == store.id, Checkout.token.in_(part), Checkout.cart_token.is_not(None)
                )
            )
            if cart
        )
    result = []
    for r in records:
        if r.cart_token and r.token == r.cart_token and r.cart_token in tokens_of:
            r = replace(r, token=tokens_of[r.cart_token])
        elif not r.cart_token and r.token in carts_of:
            r = replace(r, cart_token=carts_of[r.token])
        result.append(r)
    return result


def set_by_token(
    session: Session,
    store: Store,
    column: str,
    values: Iterable[tuple[str, Any]],
    *when: ColumnElement[bool],
) -> None:
    """Set `column` of the store's checkouts to the value paired with their token, in order,
    where the conditions `when` also hold (in them, `VALUE` stands for the checkout's new value)."""
    rows = [{"_token": token, "_value": value} for token, value in values]
    if not rows:
        return
    table = table_of(Checkout)
    session.execute(
        update(table)
        .where(table.c.store_id == store.id, table.c.token == bindparam("_token"), *when)
        .values({column: VALUE}),
        rows,
    )


def _take_over_cart_checkouts(session: Session, store: Store, named: dict[str, str]) -> None:
    """Rename stored checkouts known only by their cart token to the token now known for them."""
    table = table_of(Checkout)
    for part in chunks(sorted(named)):
        carts_only = session.scalars(
            select(Checkout.cart_token).where(
                Checkout.store_id == store.id,
                Checkout.cart_token.in_(part),
                Checkout.token == Checkout.cart_token,
            )
        ).all()
        wanted = {cart: named[cart] for cart in carts_only if cart}
        # A token already stored keeps its row (two deliveries racing): the cart's row is left as it is.
        taken = set(
            session.scalars(
                select(Checkout.token).where(
                    Checkout.store_id == store.id, Checkout.token.in_(list(wanted.values()))
                )
            )
        )
        renames = [{"_cart": cart, "_token": token} for cart, token in wanted.items() if token not in taken]
        if renames:
            session.execute(
                update(table)
                .where(
                    table.c.store_id == store.id,
                    table.c.token == bindparam("_cart"),
                    table.c.cart_token == bindparam("_cart"),
                )
                .values(token=bindparam("_token")),
                renames,
            )
