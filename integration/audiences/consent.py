"""Who may receive marketing email: the one consent condition of audiences and counts alike."""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_

from integration.store.models import Contact, SubscriptionStatus


def can_receive_marketing() -> ColumnElement[bool]:
    """SQL: the contact is subscribed, not blocked and has an email address."""
    return and_(
        Contact.subscription_status == SubscriptionStatus.SUBSCRIBED,
        Contact.blocked_reason.is_(None),
        Contact.email != "",
    )
