"""What the email-tool sources share."""

from __future__ import annotations

from sqlalchemy.orm import Session

from integration.errors import InvalidRecord
from integration.store.models import EmailSource, InboxDelivery


def email_source(session: Session, delivery: InboxDelivery) -> EmailSource:
    """Return the email source a delivery came through."""
    source = session.get(EmailSource, delivery.email_source_id) if delivery.email_source_id else None
    if source is None:
        raise InvalidRecord("delivery", {"email_source_id": ["the delivery names no existing email source"]})
    return source
