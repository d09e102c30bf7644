"""Moving last interactions forward and classifying in one statement leaves the rows that moving
them first and then classifying leaves: contacts and transitions alike, whatever each one's state."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import BigInteger, String, select, update
from sqlalchemy.orm import Session

from integration.contacts import engagement
from integration.store import session_scope
from integration.store.bulk import rows_table
from integration.store.models import Contact, EngagementStatus, EngagementTransition, InteractionType
from integration.store.types import UTCDateTime
from tests.support.builders import NOW, make_store

TYPES = [InteractionType.EMAIL_CLICK, InteractionType.PRODUCT_VIEW, InteractionType.ORDER_PLACED]


def _contacts(session: Session, account_id: int, rng: random.Random, count: int) -> list[dict[str, Any]]:
    """`count` contacts in every state a fold meets, and for some of them a newer interaction."""
    interactions = []
    for i in range(count):
        last = rng.choice([None, NOW - timedelta(days=rng.choice([1, 100, 179, 181, 400]))])
        contact = Contact(
            account_id=account_id,
            email=f"c{i}@example.com",
            first_seen_at=NOW - timedelta(days=500),
            last_interaction_at=last,
            last_interaction_type=rng.choice(TYPES) if last else None,
            engagement_status=rng.choice([None, *EngagementStatus]),
            engagement_reason=rng.choice([None, "email_click", "window_expired"]),
            engagement_since=rng.choice([None, NOW - timedelta(days=30)]),
        )
        if rng.random() < 0.2:
            contact.blocked_reason, contact.blocked_at = "hard_bounce", NOW - timedelta(days=3)
        if rng.random() < 0.1:
            contact.deleted_at = NOW - timedelta(days=1)
        session.add(contact)
        session.flush()
        if rng.random() < 0.7:
            days = rng.choice([0, 1, 50, 100, 179, 181, 300, 400])
            at = NOW - timedelta(days=days, hours=rng.choice([0, 5]))
            if last is not None and rng.random() < 0.2:
                at = last  # as new as the stored one: nothing moves
            interactions.append(
                {"contact_id": contact.id, "at": at, "type": InteractionType.ORDER_PLACED.value}
            )
    return interactions


def _state(session: Session, account_id: int) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    contacts = session.execute(
        select(
            Contact.email,
            Contact.last_interaction_at,
            Contact.last_interaction_type,
            Contact.engagement_status,
            Contact.engagement_reason,
            Contact.engagement_since,
        )
        .where(Contact.account_id == account_id)
        .order_by(Contact.email)
    ).all()
    transitions = session.execute(
        select(
            Contact.email,
            EngagementTransition.from_status,
            EngagementTransition.to_status,
            EngagementTransition.at,
            EngagementTransition.reason,
        )
        .join(Contact, Contact.id == EngagementTransition.contact_id)
        .where(EngagementTransition.account_id == account_id)
        .order_by(Contact.email)
    ).all()
    return [tuple(r) for r in contacts], [tuple(r) for r in transitions]


@pytest.mark.parametrize("seed", range(4))
def test_one_statement_leaves_what_moving_then_classifying_leaves(db_url: str, seed: int) -> None:
    rng = random.Random(seed)
    with session_scope(db_url) as session:
        account_id = make_store(session).account_id
        newer = _contacts(session, account_id, rng, 120)
        ids = list(session.scalars(select(Contact.id).where(Contact.account_id == account_id)))
        now = NOW
        # Another account's contact, named among the ids and given an interaction: left as it is.
        other = Contact(
            account_id=make_store(session).account_id, email="other@example.com", first_seen_at=NOW
        )
        session.add(other)
        session.flush()
        untouched = _state(session, other.account_id)

        # The two steps, each a statement of its own: the interactions moved forward, then classify.
        steps = session.begin_nested()
        for row in newer:
            session.execute(
                update(Contact)
                .where(
                    Contact.id == row["contact_id"],
                    (Contact.last_interaction_at.is_(None)) | (Contact.last_interaction_at < row["at"]),
                )
                .values(last_interaction_at=row["at"], last_interaction_type=row["type"])
            )
        changed_in_steps = engagement.classify(session, account_id, ids, now=now)
        expected = _state(session, account_id)
        steps.rollback()

        def interactions(part: Any) -> Any:
            columns = {"contact_id": BigInteger(), "at": UTCDateTime(), "type": String()}
            named = set(part)
            return rows_table(session, "newer", columns, [r for r in newer if r["contact_id"] in named])

        newer.append({"contact_id": other.id, "at": NOW, "type": InteractionType.ORDER_PLACED.value})
        changed = engagement.classify_after(session, account_id, [*ids, other.id], interactions, now=now)
        assert _state(session, account_id) == expected
        assert _state(session, other.account_id) == untouched
    assert changed == changed_in_steps
    assert changed > 0
    # The draw holds every case the statement tells apart.
    contacts, _ = expected
    assert {contact[3] for contact in contacts} >= {
        EngagementStatus.ENGAGED,
        EngagementStatus.UNENGAGED,
        EngagementStatus.BLOCKED,
    }
