"""The engagement and subscription logs carry no key to their account (migration 0033): deleting an
account still removes its log rows, through its contacts, and only its own."""

from __future__ import annotations

from sqlalchemy import delete, func, select

from integration.store import session_scope
from integration.store.models import (
    Account,
    Contact,
    EngagementStatus,
    EngagementTransition,
    SubscriptionStatus,
    SubscriptionTransition,
)
from integration.store.types import utcnow
from tests.support.builders import make_store


def test_deleting_an_account_deletes_its_log_rows_and_no_others(db_url: str) -> None:
    with session_scope(db_url) as session:
        gone, kept = make_store(session).account_id, make_store(session).account_id
        for account_id in (gone, kept):
            for n in range(2):
                contact = Contact(account_id=account_id, email=f"c{n}@example.com")
                session.add(contact)
                session.flush()
                session.add_all(
                    [
                        EngagementTransition(
                            account_id=account_id,
                            contact_id=contact.id,
                            from_status=None,
                            to_status=EngagementStatus.UNENGAGED,
                            reason="no_interaction",
                        ),
                        SubscriptionTransition(
                            account_id=account_id,
                            contact_id=contact.id,
                            from_status=SubscriptionStatus.UNKNOWN,
                            to_status=SubscriptionStatus.SUBSCRIBED,
                            changed_at=utcnow(),
                            reason="api",
                        ),
                    ]
                )
    with session_scope(db_url) as session:
        session.execute(delete(Account).where(Account.id == gone))
    with session_scope(db_url) as session:
        for model in (EngagementTransition, SubscriptionTransition):
            left = dict(
                session.execute(select(model.account_id, func.count()).group_by(model.account_id)).all()
            )
            assert left == {kept: 2}, model
