"""Normalize a stored Mailchimp audience webhook into the source's account."""

from __future__ import annotations

from urllib.parse import parse_qsl

from marshmallow import ValidationError
from sqlalchemy import bindparam, func, update
from sqlalchemy.orm import Session

from connectors.email_tools import email_source
from connectors.mailchimp.schemas import WEBHOOK, MailchimpEvent
from integration.contacts.changes import change_email
from integration.contract import EventRecord, Outcome
from integration.errors import InvalidRecord
from integration.ingest import ingest_events
from integration.ingest.resolver import ContactResolver, Scope
from integration.store.models import Contact, InboxDelivery, InteractionType, table_of

T = InteractionType
EVENT_TYPES = {"subscribe": T.SUBSCRIBE, "unsubscribe": T.UNSUBSCRIBE}


class MailchimpSource:
    """One audience event per delivery; the delivery's id de-duplicates it as an event."""

    name = "mailchimp"

    def process(self, session: Session, delivery: InboxDelivery) -> Outcome:
        source = email_source(session, delivery)
        scope = Scope(source.account_id)
        try:
            form = dict(parse_qsl(delivery.body.decode("utf-8"), keep_blank_values=True))
            event: MailchimpEvent = WEBHOOK.load(form)
        except UnicodeDecodeError as exc:
            raise InvalidRecord("delivery", {"_schema": ["not UTF-8 form data"]}) from exc
        except ValidationError as exc:
            raise InvalidRecord("delivery", exc.normalized_messages()) from exc  # type: ignore[no-untyped-call]

        outcome = Outcome(account_id=source.account_id)
        if event.type == "upemail":
            contact_id = change_email(
                session, source.account_id, event.old_email or "", event.new_email or ""
            )
            outcome.written = int(contact_id is not None)
            outcome.contact_ids = {contact_id} if contact_id is not None else set()
            return outcome
        if event.type == "campaign":
            outcome.skipped.append({"reason": "campaign status is no contact event"})
            return outcome
        if event.type in ("subscribe", "profile"):
            outcome.merge(_names(session, scope, event))
        kind = _interaction(event)
        if kind is not None:
            record = EventRecord(
                type=kind,
                occurred_at=event.fired_at,
                event_id=delivery.delivery_id,
                email=event.email,
                attributes={
                    "mailchimp_type": event.type,
                    **({"reason": event.reason} if event.reason else {}),
                },
            )
            outcome.merge(ingest_events(session, scope, [record], source="mailchimp"))
        outcome.account_id = source.account_id
        return outcome


def _interaction(event: MailchimpEvent) -> InteractionType | None:
    if event.type == "cleaned":
        return T.SPAM_COMPLAINT if event.reason == "abuse" else T.HARD_BOUNCE
    return EVENT_TYPES.get(event.type)


def _names(session: Session, scope: Scope, event: MailchimpEvent) -> Outcome:
    [contact_id] = ContactResolver(session, scope).resolve([(None, event.email)], [event.fired_at])
    if contact_id is None or not (event.first_name or event.last_name):
        return Outcome()
    table = table_of(Contact)
    session.execute(
        update(table)
        .where(table.c.id == bindparam("_id"))
        .values(
            first_name=func.coalesce(bindparam("_first"), table.c.first_name),
            last_name=func.coalesce(bindparam("_last"), table.c.last_name),
        ),
        [{"_id": contact_id, "_first": event.first_name, "_last": event.last_name}],
    )
    return Outcome(written=1, contact_ids={contact_id})
