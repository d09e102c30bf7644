"""New customers written in one pass leave exactly the rows the general path leaves.

Two accounts receive the same random batches of customer records (new and known customers, several
versions of one in a batch, addresses shared with another new customer or held by an existing
contact or before by one, invalid and missing addresses, consent with and without its own time,
tags with repeats, storefront visitors waiting for a customer, deleted and redacted customers):
one through the one-pass path, one with it off. Their contacts, links, consent and engagement logs,
earlier addresses, tied visitors and each batch's outcome must be the same.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from integration.contacts import engagement
from integration.contract import CustomerRecord, Outcome
from integration.ingest import customers, ingest_customers, ingest_orders
from integration.ingest.isolation import ingest_isolated
from integration.ingest.new_customers import create_new_customers
from integration.store import session_scope
from integration.store.models import (
    Contact,
    ContactEmail,
    EngagementStatus,
    EngagementTransition,
    InteractionEvent,
    InteractionType,
    Removal,
    RemovalKind,
    RemovalReason,
    Store,
    StoreCustomer,
    SubscriptionStatus,
    SubscriptionTransition,
    Visitor,
    VisitorEvent,
)
from integration.store.types import utcnow
from tests.support.builders import NOW, customer, make_store, order

IDS = [f"c{i}" for i in range(60)]
# One time for both paths' classifications (a contact whose interactions left the time frame is
# unengaged since then).
CLASSIFIED = utcnow().replace(microsecond=0)
EMAILS = [f"person{i}@example.com" for i in range(45)]


def _record(rng: random.Random) -> CustomerRecord:
    pick = rng.random()
    email: str | None
    if pick < 0.05:
        email = None
    elif pick < 0.09:
        email = "not an address"
    else:
        email = rng.choice(EMAILS)
        if rng.random() < 0.2:
            email = f"  {email.upper()} "
    status = rng.choice([None, None, *SubscriptionStatus])
    return customer(
        rng.choice(IDS),
        email,
        updated=NOW - timedelta(hours=rng.randrange(0, 400)),
        first_name=rng.choice([None, "Anna", "Jan", "Żaneta"]),
        last_name=rng.choice([None, "Nowak", "Svoboda"]),
        phone=rng.choice([None, "+48 600 000 001"]),
        tags=rng.choice([None, [], ["vip"], ["vip", "b", "vip"]]),
        subscription_status=status,
        subscription_changed_at=rng.choice([None, NOW - timedelta(days=rng.randrange(1, 40))]),
        created_at=rng.choice([None, NOW - timedelta(days=rng.randrange(20, 400))]),
    )


def _prepare(session: Session, rng: random.Random, viewed: datetime) -> tuple[Store, Store]:
    """An account with the store under test, and a second store whose customers hold some addresses."""
    store = make_store(session)
    other = make_store(session, "USD", account_id=store.account_id)
    ingest_customers(
        session,
        other,
        [customer(f"o{i}", email, updated=NOW - timedelta(days=3)) for i, email in enumerate(EMAILS[:6])],
    )
    # An address held before by a contact (it moved to a new one): a customer with it is new.
    ingest_customers(session, other, [customer("o0", "moved@example.com", updated=NOW - timedelta(days=2))])
    for ref in rng.sample(IDS, 6):
        visitor = Visitor(store_id=store.id, key=f"v-{ref}", customer_ref=ref)
        session.add(visitor)
        session.flush()
        session.add(
            VisitorEvent(
                store_id=store.id,
                visitor_id=visitor.id,
                type=InteractionType.PRODUCT_VIEW,
                occurred_at=viewed,
                dedupe_key=f"view-{ref}",
            )
        )
    for ref, reason in zip(rng.sample(IDS, 4), [*RemovalReason, *RemovalReason], strict=True):
        session.add(
            Removal(
                store_id=store.id,
                kind=RemovalKind.CUSTOMER,
                external_id=ref,
                reason=reason,
                removed_at=NOW - timedelta(hours=rng.randrange(0, 400)),
            )
        )
    session.flush()
    return store, other


def _store(
    session: Session, store: Store, batch: list[CustomerRecord], in_one_pass: bool, orders_between: bool
) -> Outcome:
    """As an import stores a batch: isolated, then the touched contacts classified. With
    `orders_between`, as a Billbee page does: the buyers, then orders of some of them (one inside
    the engagement time frame, one outside), then one classification."""
    whole = len(batch)

    def customers_of(part: list[CustomerRecord]) -> Outcome:
        return ingest_customers(
            session,
            store,
            part,
            in_one_pass=in_one_pass,
            classified_next=not orders_between and len(part) == whole,
        )

    outcome = ingest_isolated(session, customers_of, batch)
    if orders_between:
        buyers = sorted({r.external_id for r in batch})[:2]
        placed = [CLASSIFIED - timedelta(days=2), CLASSIFIED - timedelta(days=400)]
        orders = [
            order(f"o-{buyer}-{len(batch)}", created=at.replace(microsecond=0), customer_id=buyer)
            for buyer, at in zip(buyers, placed, strict=False)
        ]
        outcome.merge(ingest_orders(session, store, orders))
    engagement.classify(session, store.account_id, outcome.contact_ids, now=CLASSIFIED)
    return outcome


def _state(session: Session, account_id: int) -> dict[str, Any]:
    """Everything the import leaves in the account, named by addresses and customer ids (not row ids)."""
    email_of = {
        contact_id: email
        for contact_id, email in session.execute(
            select(Contact.id, Contact.email).where(Contact.account_id == account_id)
        )
    }
    held = aliased(Contact)
    return {
        "contacts": sorted(
            session.execute(
                select(
                    Contact.email,
                    Contact.first_name,
                    Contact.last_name,
                    Contact.phone,
                    Contact.tags,
                    Contact.subscription_status,
                    Contact.subscription_changed_at,
                    Contact.subscription_reason,
                    Contact.engagement_status,
                    Contact.engagement_reason,
                    Contact.engagement_since,
                    Contact.last_interaction_at,
                    Contact.first_seen_at,
                    Contact.deleted_at,
                ).where(Contact.account_id == account_id)
            ).all(),
            key=repr,
        ),
        "links": sorted(
            (store_name, ext, email_of[contact], upd, cre)
            for store_name, ext, contact, upd, cre in session.execute(
                select(
                    Store.currency,
                    StoreCustomer.external_id,
                    StoreCustomer.contact_id,
                    StoreCustomer.updated_at,
                    StoreCustomer.created_at,
                )
                .join(Store, Store.id == StoreCustomer.store_id)
                .where(Store.account_id == account_id)
            )
        ),
        "consent": sorted(
            (
                (email_of[c], *rest)
                for c, *rest in session.execute(
                    select(
                        SubscriptionTransition.contact_id,
                        SubscriptionTransition.from_status,
                        SubscriptionTransition.to_status,
                        SubscriptionTransition.changed_at,
                        SubscriptionTransition.reason,
                    ).where(SubscriptionTransition.account_id == account_id)
                )
            ),
            key=repr,
        ),
        "engagement": sorted(
            (
                (email_of[c], *rest)
                for c, *rest in session.execute(
                    select(
                        EngagementTransition.contact_id,
                        EngagementTransition.from_status,
                        EngagementTransition.to_status,
                        EngagementTransition.reason,
                    ).where(EngagementTransition.account_id == account_id)
                )
            ),
            key=repr,
        ),
        "earlier": sorted(
            session.execute(
                select(ContactEmail.email, held.email, ContactEmail.first_seen_at, ContactEmail.replaced_at)
                .join(held, held.id == ContactEmail.contact_id)
                .where(ContactEmail.account_id == account_id)
            ).all(),
            key=repr,
        ),
        "visitors": sorted(
            (key, email_of.get(contact) if contact else None, tied_by)
            for key, contact, tied_by in session.execute(
                select(Visitor.key, Visitor.contact_id, Visitor.tied_by)
                .join(Store, Store.id == Visitor.store_id)
                .where(Store.account_id == account_id)
            )
        ),
        "interactions": sorted(
            (email_of[c], kind)
            for c, kind in session.execute(
                select(InteractionEvent.contact_id, InteractionEvent.type).where(
                    InteractionEvent.account_id == account_id
                )
            )
        ),
    }


def _summary(outcome: Outcome) -> tuple[int, int, int, list[Any]]:
    skipped = sorted((s.get("id"), s.get("field"), s.get("reason")) for s in outcome.skipped)
    return outcome.written, outcome.unchanged, outcome.duplicate, skipped


@pytest.mark.parametrize(("seed", "orders_between"), [(1, False), (2, False), (3, False), (4, True)])
def test_one_pass_leaves_what_the_general_path_leaves(
    db_url: str, seed: int, orders_between: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    one_pass: list[int] = []

    def counted(*args: Any, **kwargs: Any) -> dict[str, int]:
        created = create_new_customers(*args, **kwargs)
        one_pass.append(len(created))
        return created

    monkeypatch.setattr(customers, "create_new_customers", counted)
    rng = random.Random(seed)
    batches = [[_record(rng) for _ in range(rng.randrange(1, 40))] for _ in range(6)]
    viewed = utcnow() - timedelta(days=1)
    states, outcomes, passes = [], [], []
    for in_one_pass in (True, False):
        with session_scope(db_url) as session:
            store, _ = _prepare(session, random.Random(seed), viewed)
            account_id = store.account_id
        done = []
        for batch in batches:
            with session_scope(db_url) as session:
                store = session.get(Store, store.id)
                assert store is not None
                done.append(_summary(_store(session, store, batch, in_one_pass, orders_between)))
        outcomes.append(done)
        with session_scope(db_url) as session:
            states.append(_state(session, account_id))
            passes.append(len(states[-1]["contacts"]))
    assert outcomes[0] == outcomes[1]
    for part in states[0]:
        assert states[0][part] == states[1][part], part
    # The sequences are rich enough to matter: new contacts, refused records, tied visitors.
    assert passes[0] > 10
    assert any(skipped for *_, skipped in outcomes[0])
    assert any(contact for _, contact, _ in states[0]["visitors"])
    assert sum(one_pass) >= 10, one_pass


def test_a_first_import_takes_the_one_pass_path(db_url: str) -> None:
    """Forty new customers: each contact row is written once (no update after its insert)."""
    batch = [
        customer(
            f"n{i}",
            f"new{i}@example.com",
            first_name="Ola",
            tags=["b", "a", "b"],
            subscription_status=SubscriptionStatus.SUBSCRIBED if i % 2 else None,
            created_at=NOW - timedelta(days=30),
        )
        for i in range(40)
    ]
    with session_scope(db_url) as session:
        store = make_store(session)
        before = utcnow()
        outcome = _store(session, store, batch, in_one_pass=True, orders_between=False)
        after = utcnow()
        assert outcome.written == 40
        contacts = session.scalars(select(Contact).where(Contact.account_id == store.account_id)).all()
        assert len(contacts) == 40
        # created_at and updated_at are one stamp: the row was inserted complete, never updated.
        assert all(c.updated_at == c.created_at for c in contacts)
        assert {tuple(c.tags) for c in contacts} == {("a", "b")}
        assert {c.engagement_status.value for c in contacts if c.engagement_status} == {"unengaged"}
        assert {c.first_seen_at for c in contacts} == {NOW - timedelta(days=30)}
        subscribed = [c for c in contacts if c.subscription_status == SubscriptionStatus.SUBSCRIBED]
        assert len(subscribed) == 20
        assert {c.subscription_changed_at for c in subscribed} == {NOW}
        logged = session.scalars(
            select(SubscriptionTransition).where(SubscriptionTransition.account_id == store.account_id)
        ).all()
        assert len(logged) == 20
        # What every row of a log or of the links shares is written into each of them.
        assert {c.id for c in subscribed} == {t.contact_id for t in logged}
        assert {
            (t.from_status, t.to_status, t.changed_at, t.reason, before <= t.at <= after) for t in logged
        } == {(SubscriptionStatus.UNKNOWN, SubscriptionStatus.SUBSCRIBED, NOW, "api_customer", True)}
        groups = session.scalars(
            select(EngagementTransition).where(EngagementTransition.account_id == store.account_id)
        ).all()
        assert {t.contact_id for t in groups} == {c.id for c in contacts}
        assert {(t.from_status, t.to_status, t.reason, before <= t.at <= after) for t in groups} == {
            (None, EngagementStatus.UNENGAGED, "no_interaction", True)
        }
        links = session.scalars(select(StoreCustomer).where(StoreCustomer.store_id == store.id)).all()
        assert {(link.external_id, link.contact_id) for link in links} == {
            (f"n{i}", next(c.id for c in contacts if c.email == f"new{i}@example.com")) for i in range(40)
        }
        assert {(link.updated_at, link.created_at, before <= link.linked_at <= after) for link in links} == {
            (NOW, NOW - timedelta(days=30), True)
        }
