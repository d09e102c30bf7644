"""The upgrade that settles carts recorded as recovered before their abandonment."""

from __future__ import annotations

from datetime import timedelta

from alembic import command
from sqlalchemy import func, select, update

from integration.commerce.carts import mark_abandoned, settle
from integration.ingest import ingest_checkouts, ingest_orders
from integration.ingest.removals import delete_checkouts
from integration.store import session_scope
from integration.store.db import alembic_config, get_engine, upgrade
from integration.store.models import (
    Checkout,
    CheckoutLineItem,
    CheckoutState,
    InteractionEvent,
    InteractionType,
)
from tests.support.builders import NOW, checkout, make_store, order


def _downgrade(url: str, revision: str) -> None:
    config = alembic_config(url)
    with get_engine(url).begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def test_carts_recorded_recovered_before_their_abandonment_are_settled_by_the_timeline(
    own_database: str,
) -> None:
    url = own_database
    with session_scope(url) as session:
        store = make_store(session)
        carts = [checkout(token, email=f"{token}@example.com", cart_token=token) for token in ("a", "b", "c")]
        ingest_checkouts(session, store, carts)
        mark_abandoned(session, now=NOW + timedelta(hours=1))  # abandoned at NOW + 10 min
        ingest_orders(
            session,
            store,
            [order(f"o-{t}", NOW + timedelta(days=1), email=f"{t}@example.com", cart_token=t) for t in "abc"],
        )
        # What the previous version left: recoveries timed by orders placed before the abandonment.
        for token, at in (("a", NOW + timedelta(minutes=5)), ("b", NOW - timedelta(days=1))):
            session.execute(update(Checkout).where(Checkout.token == token).values(recovered_at=at))
    _downgrade(url, "0018")
    upgrade(url)

    with session_scope(url) as session:
        stored = {
            c.token: (c.state, c.abandoned_at, c.recovered_at, c.recovery_rule, c.completed_at)
            for c in session.scalars(select(Checkout))
        }
        events = {
            (c.token, e.type)
            for c, e in session.execute(
                select(Checkout, InteractionEvent).join(
                    InteractionEvent, InteractionEvent.contact_id == Checkout.contact_id
                )
            )
            if e.source == "carts"
        }
    abandoned = NOW + timedelta(minutes=10)
    assert stored == {
        "a": (CheckoutState.COMPLETED, None, None, None, NOW + timedelta(minutes=5)),
        "b": (CheckoutState.ABANDONED, abandoned, None, None, None),
        "c": (CheckoutState.RECOVERED, abandoned, NOW + timedelta(days=1), "cart_token", None),
    }
    assert events == {
        ("b", InteractionType.CART_ABANDONED),
        ("c", InteractionType.CART_ABANDONED),
        ("c", InteractionType.CART_RECOVERED),
    }


def test_the_platforms_completion_reports_are_kept_apart_on_upgrade(own_database: str) -> None:
    """0034: a checkout completed by the platform's word alone keeps that word as its report; one an
    order completed or recovered has none, also when an earlier version left out the order's rule;
    the carts settle to what they were, and nothing else is lost on the way down and up."""
    url = own_database
    with session_scope(url) as session:
        store = make_store(session)
        ingest_checkouts(
            session,
            store,
            [
                checkout("reported", email="r@example.com"),
                checkout("reported", NOW + timedelta(days=2), email="r@example.com", completed_at=NOW),
                checkout("by-order", email="o@example.com"),
                checkout("legacy", email="l@example.com"),
                checkout("recovered", email="v@example.com"),
                checkout("open", NOW + timedelta(days=30), email="p@example.com"),
            ],
        )
        mark_abandoned(session, now=NOW + timedelta(hours=1))
        ingest_orders(
            session,
            store,
            [
                order("1", NOW + timedelta(minutes=5), email="o@example.com", checkout_token="by-order"),
                order("2", NOW + timedelta(days=1), email="v@example.com", checkout_token="recovered"),
                order("3", NOW + timedelta(minutes=7), email="l@example.com", checkout_token="legacy"),
            ],
        )
        # As versions before the rules were recorded left a checkout its order completed.
        session.execute(update(Checkout).where(Checkout.token == "legacy").values(recovery_rule=None))
        stored = session.scalars(select(Checkout))
        before = {c.token: (c.state, c.completed_at, c.recovery_rule) for c in stored}
        items = session.scalar(select(func.count()).select_from(CheckoutLineItem))
    _downgrade(url, "0033")
    upgrade(url)

    with session_scope(url) as session:
        checkouts = list(session.scalars(select(Checkout)))
        after = {c.token: (c.state, c.completed_at, c.recovery_rule) for c in checkouts}
        reports = {c.token: c.platform_completed_at for c in checkouts}
        assert session.scalar(select(func.count()).select_from(CheckoutLineItem)) == items == 5
        store_ = session.get(type(store), store.id)
        assert store_ is not None
        assert settle(session, store_, [c.id for c in checkouts]) == 1  # the legacy one gets its rule
        session.expire_all()
        legacy = session.scalars(select(Checkout).where(Checkout.token == "legacy")).one()
        assert (legacy.state, legacy.completed_at, legacy.recovery_rule) == (
            CheckoutState.COMPLETED,
            NOW + timedelta(minutes=7),
            "checkout_token",
        )
    assert after == before
    assert before["reported"] == (CheckoutState.COMPLETED, NOW, None)
    assert before["by-order"] == (CheckoutState.COMPLETED, NOW + timedelta(minutes=5), "checkout_token")
    assert before["recovered"][0] == CheckoutState.RECOVERED
    assert reports == {"reported": NOW, "by-order": None, "legacy": None, "recovered": None, "open": None}


def test_a_newer_version_of_a_deleted_checkout_leaves_its_outcome(db_url: str) -> None:
    """A deleted checkout is settled no more: a version arriving after its deletion updates its
    fields and leaves its completion as it was (the version itself carries none)."""
    with session_scope(db_url) as session:
        store = make_store(session)
        ingest_checkouts(
            session,
            store,
            [
                checkout("gone", email="g@example.com"),
                checkout("gone", NOW + timedelta(hours=1), email="g@example.com", completed_at=NOW),
            ],
        )
        delete_checkouts(session, store, ["gone"], [], NOW + timedelta(hours=2))
        ingest_checkouts(session, store, [checkout("gone", NOW + timedelta(hours=3), email="g2@example.com")])
        stored = session.scalars(select(Checkout)).one()
        assert (stored.email, stored.state, stored.completed_at, stored.platform_completed_at) == (
            "g2@example.com",
            CheckoutState.COMPLETED,
            NOW,
            NOW,
        )
