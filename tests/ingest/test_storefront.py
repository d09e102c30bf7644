"""Storefront events: visitors tied to contacts by known customers and checkouts, interactions kept
until the tie and counted then, a burst counted once a minute, the same result in any order."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from integration.contract import StorefrontRecord
from integration.ingest import ingest_checkouts, ingest_customers
from integration.ingest.storefront import ingest_storefront, purge_visitors, visitors_identified
from integration.privacy import export_customer
from integration.privacy.erase import redact_customer, redact_store
from integration.store import session_scope
from integration.store.models import Contact, InteractionEvent, InteractionType, Store, Visitor, VisitorEvent
from tests.support.builders import NOW, checkout, customer, make_store

T = InteractionType


def sf(event_id: str, kind: str, visitor: str, at_minutes: float, **kwargs: Any) -> StorefrontRecord:
    """A storefront event `at_minutes` after NOW."""
    return StorefrontRecord(
        event_id=event_id,
        kind=kind,
        occurred_at=NOW + timedelta(minutes=at_minutes),
        visitor=visitor,
        **kwargs,
    )


@pytest.fixture
def shop(db_url: str) -> dict[str, int]:
    """A store with two known customers, Ann (id 101) and Bob (id 202)."""
    with session_scope(db_url) as session:
        store = make_store(session)
        ingest_customers(
            session,
            store,
            [customer("101", "ann@example.com", NOW - timedelta(days=90)),
             customer("202", "bob@example.com", NOW - timedelta(days=90))],
        )  # fmt: skip
        ids = {c.email.split("@")[0]: c.id for c in session.scalars(select(Contact))}
        return {"store": store.id, **ids}


def _ingest(db_url: str, store_id: int, records: list[StorefrontRecord]) -> Any:
    with session_scope(db_url) as session:
        return ingest_storefront(session, session.get(Store, store_id), records)


def _events(db_url: str) -> set[tuple[int, str, Any, str | None]]:
    with session_scope(db_url) as session:
        return {
            (contact_id, kind.value, at, product)
            for contact_id, kind, at, product in session.execute(
                select(
                    InteractionEvent.contact_id,
                    InteractionEvent.type,
                    InteractionEvent.occurred_at,
                    InteractionEvent.product_id,
                ).where(InteractionEvent.source == "storefront")
            )
        }


def _waiting(db_url: str) -> int:
    with session_scope(db_url) as session:
        return len(session.scalars(select(VisitorEvent.id)).all())


def test_a_logged_in_customers_view_counts_on_the_contact_at_once(db_url: str, shop: dict[str, int]) -> None:
    outcome = _ingest(
        db_url, shop["store"], [sf("e1", "product_view", "v1", 0, customer_id="101", product_id="p-9")]
    )
    assert _events(db_url) == {(shop["ann"], "product_view", NOW, "p-9")}
    assert outcome.contact_ids == {shop["ann"]}
    with session_scope(db_url) as session:
        assert session.get(Contact, shop["ann"]).last_interaction_at == NOW
        visitor = session.scalars(select(Visitor)).one()
        assert (visitor.key, visitor.contact_id, visitor.tied_by) == ("v1", shop["ann"], "customer")


def test_a_burst_counts_once_a_minute_and_a_replay_changes_nothing(db_url: str, shop: dict[str, int]) -> None:
    batch = [
        *(sf(f"e{n}", "product_view", "v1", n / 10, customer_id="101") for n in range(5)),  # one minute
        sf("e9", "product_view", "v1", 1.5, customer_id="101"),  # the next minute
        sf("e10", "add_to_cart", "v1", 0.2, customer_id="101"),  # another type, the same minute
    ]
    first = _ingest(db_url, shop["store"], batch)
    assert (first.written, first.duplicate) == (3, 4)
    assert sorted((kind, at) for _, kind, at, _ in _events(db_url)) == [
        ("add_to_cart", NOW + timedelta(minutes=0.2)),
        ("product_view", NOW),
        ("product_view", NOW + timedelta(minutes=1.5)),
    ]
    again = _ingest(db_url, shop["store"], batch)
    assert (again.written, again.duplicate) == (0, 7)
    assert len(_events(db_url)) == 3


def test_an_anonymous_visitors_views_wait_for_the_tie_and_count_with_their_own_times(
    db_url: str, shop: dict[str, int]
) -> None:
    _ingest(
        db_url,
        shop["store"],
        [
            sf("e1", "product_view", "v1", 0, product_id="p-1"),
            sf("e2", "add_to_cart", "v1", 3, product_id="p-1"),
        ],
    )
    assert (_events(db_url), _waiting(db_url)) == (set(), 2)
    with session_scope(db_url) as session:
        assert session.get(Contact, shop["bob"]).last_interaction_at is None

    # Bob logs in: a page view now names him.
    outcome = _ingest(db_url, shop["store"], [sf("e3", "page_view", "v1", 10, customer_id="202")])
    assert _events(db_url) == {
        (shop["bob"], "product_view", NOW, "p-1"),
        (shop["bob"], "add_to_cart", NOW + timedelta(minutes=3), "p-1"),
    }
    assert _waiting(db_url) == 0
    assert outcome.contact_ids == {shop["bob"]}
    with session_scope(db_url) as session:
        # A page view is not an interaction: the newest counted one is the add to cart.
        assert session.get(Contact, shop["bob"]).last_interaction_at == NOW + timedelta(minutes=3)


def test_a_customer_or_checkout_not_known_yet_ties_the_visitor_when_it_is_stored(
    db_url: str, shop: dict[str, int]
) -> None:
    _ingest(
        db_url,
        shop["store"],
        [
            sf("e1", "product_view", "v1", 0, customer_id="303"),  # a customer not stored yet
            sf("e2", "product_view", "v2", 0),
            sf("e3", "checkout_started", "v2", 1, checkout_token="tok-9"),  # a checkout not stored yet
        ],
    )
    assert _waiting(db_url) == 2
    with session_scope(db_url) as session:
        store = session.get(Store, shop["store"])
        customers = ingest_customers(session, store, [customer("303", "cy@example.com", NOW)])
        checkouts = ingest_checkouts(
            session, store, [checkout("tok-9", NOW + timedelta(minutes=2), email="dee@example.com")]
        )
        cy, dee = (session.scalars(select(Contact.id).where(Contact.email == e)).one()
                   for e in ("cy@example.com", "dee@example.com"))  # fmt: skip
        # The contacts whose interactions were released are reclassified with the batch.
        assert cy in customers.contact_ids
        assert dee in checkouts.contact_ids
        assert session.get(Contact, cy).last_interaction_at == NOW
        assert session.get(Contact, dee).last_interaction_at == NOW
        ties = {v.key: (v.contact_id, v.tied_by, v.customer_ref, v.checkout_token)
                for v in session.scalars(select(Visitor))}  # fmt: skip
        assert ties == {"v1": (cy, "customer", None, None), "v2": (dee, "checkout", None, None)}
    assert {(c, kind) for c, kind, _, _ in _events(db_url)} == {(cy, "product_view"), (dee, "product_view")}
    assert _waiting(db_url) == 0


def test_a_known_checkout_ties_its_visitor(db_url: str, shop: dict[str, int]) -> None:
    with session_scope(db_url) as session:
        store = session.get(Store, shop["store"])
        ingest_checkouts(session, store, [checkout("tok-1", NOW, customer_id="101", email="ann@example.com")])
    _ingest(
        db_url,
        shop["store"],
        [sf("e1", "add_to_cart", "v1", 0), sf("e2", "checkout_started", "v1", 1, checkout_token="tok-1")],
    )
    assert {(c, kind) for c, kind, _, _ in _events(db_url)} == {(shop["ann"], "add_to_cart")}


def test_a_shared_browser_counts_each_event_for_whoever_was_logged_in(
    db_url: str, shop: dict[str, int]
) -> None:
    _ingest(
        db_url,
        shop["store"],
        [
            sf("e1", "page_view", "v1", 0, customer_id="101"),
            sf("e2", "product_view", "v1", 1),
            sf("e3", "page_view", "v1", 5, customer_id="202"),
            sf("e4", "product_view", "v1", 6),
        ],
    )
    assert {(c, at) for c, _, at, _ in _events(db_url)} == {
        (shop["ann"], NOW + timedelta(minutes=1)),
        (shop["bob"], NOW + timedelta(minutes=6)),
    }
    with session_scope(db_url) as session:
        assert session.scalars(select(Visitor.contact_id)).one() == shop["bob"]


def test_an_attribute_email_never_ties_a_visitor(db_url: str, shop: dict[str, int]) -> None:
    """Only an `identify` event's address is read as a claim; attributes are not read for one."""
    _ingest(
        db_url, shop["store"], [sf("e1", "product_view", "v1", 0, attributes={"email": "ann@example.com"})]
    )
    assert (_events(db_url), _waiting(db_url)) == (set(), 1)


def _contact_state(db_url: str) -> list[tuple[str, str, str | None]]:
    with session_scope(db_url) as session:
        return sorted(
            (c.email, c.subscription_status.value, c.subscription_reason)
            for c in session.scalars(select(Contact))
        )


def test_an_identified_address_ties_an_untied_visitor_to_its_contact_and_changes_nothing_else(
    db_url: str, shop: dict[str, int]
) -> None:
    before = _contact_state(db_url)
    _ingest(
        db_url,
        shop["store"],
        [
            sf("e1", "product_view", "v1", 0, product_id="p-1"),
            sf("e2", "identify", "v1", 1, email="  Ann@Example.com "),
            sf("e3", "identify", "v2", 1, email="nobody@example.com"),  # no contact: none is made
            sf("e4", "identify", "v3", 1, email="not an address"),
            sf("e5", "product_view", "v3", 2, product_id="p-2"),
        ],
    )
    assert _events(db_url) == {(shop["ann"], "product_view", NOW, "p-1")}
    assert _waiting(db_url) == 1  # v3's view: no tie
    assert _contact_state(db_url) == before  # no contact made, no subscription touched
    with session_scope(db_url) as session:
        assert session.execute(
            select(Visitor.key, Visitor.tied_by).where(Visitor.contact_id.is_not(None))
        ).all() == [("v1", "email")]


def test_an_address_gives_way_to_a_customer_tie_before_or_after_it(db_url: str, shop: dict[str, int]) -> None:
    # Tied by customer first: a later claim of another address changes nothing.
    _ingest(db_url, shop["store"], [sf("e1", "page_view", "v1", 0, customer_id="101")])
    _ingest(db_url, shop["store"], [sf("e2", "identify", "v1", 1, email="bob@example.com")])
    _ingest(db_url, shop["store"], [sf("e3", "product_view", "v1", 2, product_id="p-1")])
    # Tied by address first: a customer named later takes the visitor over.
    _ingest(db_url, shop["store"], [sf("f1", "identify", "v2", 0, email="bob@example.com")])
    _ingest(db_url, shop["store"], [sf("f2", "page_view", "v2", 1, customer_id="101")])
    _ingest(db_url, shop["store"], [sf("f3", "add_to_cart", "v2", 2, product_id="p-2")])
    # In one batch, whatever the order: the customer wins.
    _ingest(
        db_url,
        shop["store"],
        [
            sf("g2", "page_view", "v3", 1, customer_id="202"),
            sf("g1", "identify", "v3", 0, email="ann@example.com"),
            sf("g3", "identify", "v3", 3, email="ann@example.com"),
            sf("g4", "product_view", "v3", 4, product_id="p-3"),
        ],
    )
    assert _events(db_url) == {
        (shop["ann"], "product_view", NOW + timedelta(minutes=2), "p-1"),
        (shop["ann"], "add_to_cart", NOW + timedelta(minutes=2), "p-2"),
        (shop["bob"], "product_view", NOW + timedelta(minutes=4), "p-3"),
    }
    with session_scope(db_url) as session:
        ties = {key: how for key, how in session.execute(select(Visitor.key, Visitor.tied_by))}
    assert ties == {"v1": "customer", "v2": "customer", "v3": "customer"}


BATCHES = (
    [sf("a1", "product_view", "v1", 0, product_id="p-1")],
    [sf("a2", "add_to_cart", "v1", 2, product_id="p-1"), sf("a3", "product_view", "v2", 2)],
    [sf("a4", "page_view", "v1", 4, customer_id="101"), sf("a5", "page_view", "v2", 9, customer_id="202")],
)


@pytest.mark.parametrize("order", list(itertools.permutations(range(len(BATCHES)))))
def test_every_processing_order_gives_the_same_events(
    db_url: str, shop: dict[str, int], order: tuple[int, ...]
) -> None:
    for index in order:
        _ingest(db_url, shop["store"], BATCHES[index])
    assert _events(db_url) == {
        (shop["ann"], "product_view", NOW, "p-1"),
        (shop["ann"], "add_to_cart", NOW + timedelta(minutes=2), "p-1"),
        (shop["bob"], "product_view", NOW + timedelta(minutes=2), None),
    }
    assert _waiting(db_url) == 0


def test_erasure_forgets_the_browsers_tied_to_the_customer_and_a_shops_every_visitor(
    db_url: str, shop: dict[str, int]
) -> None:
    _ingest(
        db_url,
        shop["store"],
        [
            sf("e1", "page_view", "v-ann", 0, customer_id="101"),
            sf("e2", "product_view", "v-bob", 0, customer_id="202"),
            sf("e3", "product_view", "v-anon", 0),
        ],
    )
    with session_scope(db_url) as session:
        store = session.get(Store, shop["store"])
        redact_customer(session, store, "101", "ann@example.com")
        assert set(session.scalars(select(Visitor.key))) == {"v-bob", "v-anon"}
    # Ann's browser comes back: nothing ties it to her any more.
    _ingest(db_url, shop["store"], [sf("e4", "product_view", "v-ann", 5)])
    assert {c for c, *_ in _events(db_url)} == {shop["bob"]}
    with session_scope(db_url) as session:
        redact_store(session, session.get(Store, shop["store"]))
        assert session.scalars(select(Visitor.id)).all() == []
    assert _waiting(db_url) == 0


def test_interactions_and_visitors_past_the_time_frame_are_forgotten(
    db_url: str, shop: dict[str, int]
) -> None:
    days = 180  # the account's engagement time frame
    _ingest(
        db_url,
        shop["store"],
        [
            sf("e1", "product_view", "v-old", -days * 24 * 60 - 1),  # waited longer than the time frame
            sf("e2", "product_view", "v-both", -days * 24 * 60 - 1),
            sf("e3", "product_view", "v-both", -60),
            sf("e4", "page_view", "v-tied", -days * 24 * 60 - 1, customer_id="101"),
        ],
    )
    with session_scope(db_url) as session:
        store = session.get(Store, shop["store"])
        assert purge_visitors(session, store.account_id, NOW) == 3  # two events, one visitor
        assert set(session.scalars(select(Visitor.key))) == {"v-both", "v-tied"}
        assert session.scalars(select(VisitorEvent.dedupe_key)).all() == [
            f"{store.id}:v-both:product_view:{(NOW - timedelta(minutes=60)):%Y%m%d%H%M}"
        ]
        assert purge_visitors(session, store.account_id, NOW) == 0


def test_identifying_what_no_visitor_named_ties_nothing(db_url: str, shop: dict[str, int]) -> None:
    _ingest(db_url, shop["store"], [sf("e1", "product_view", "v1", 0, customer_id="303")])
    with session_scope(db_url) as session:
        store = session.get(Store, shop["store"])
        outcome = visitors_identified(
            session, store, customers={"999": shop["ann"]}, checkouts={"t": shop["bob"]}
        )
        assert outcome.contact_ids == set()
        assert session.scalars(select(Visitor.contact_id)).one() is None
    assert _waiting(db_url) == 1


def test_a_customers_data_request_lists_the_browsers_tied_to_it(db_url: str, shop: dict[str, int]) -> None:
    _ingest(
        db_url,
        shop["store"],
        [
            sf("e1", "page_view", "v-ann", 0, customer_id="101"),
            sf("e2", "page_view", "v-bob", 0, customer_id="202"),
        ],
    )
    with session_scope(db_url) as session:
        store = session.get(Store, shop["store"])
        document = export_customer(session, store, "101", "ann@example.com").document
        [visitor] = document["contact"]["storefront_visitors"]
        assert (visitor["store_id"], visitor["visitor_id"], visitor["tied_by"]) == (
            store.id,
            "v-ann",
            "customer",
        )
        assert visitor["first_seen_at"] == NOW.isoformat()
