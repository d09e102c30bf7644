"""Compute jobs: engagement classification and abandoned checkouts."""

from __future__ import annotations

from integration import carts, engagement, history
from integration.settings import get_settings
from integration.store import session_scope
from integration.store.types import utcnow


def classify_account_job(account_id: int) -> int:
    """Reclassify every contact of an account (after a time-frame change)."""
    with session_scope(get_settings().database_url) as session:
        return engagement.classify(session, account_id)


def expire_engagement_job() -> int:
    """Move contacts whose last interaction left the time frame to unengaged, in every account."""
    with session_scope(get_settings().database_url) as session:
        return engagement.expire_all(session)


def mark_abandoned_checkouts_job() -> int:
    """Mark checkouts left open past their account's delay as abandoned."""
    with session_scope(get_settings().database_url) as session:
        return carts.mark_abandoned(session)


def snapshot_contacts_job() -> int:
    """Record today's contact group counts (once per UTC day), for 30-day changes and trends."""
    with session_scope(get_settings().database_url) as session:
        return history.take_snapshot(session, utcnow())
