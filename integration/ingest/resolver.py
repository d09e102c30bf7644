"""Contact resolution for ingest: customer ids and emails to contacts, and their earlier addresses."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, String, Table, case, exists, literal, or_, select, true, update
from sqlalchemy.orm import Session

from integration.contacts.identity import normalize_email
from integration.store import locks
from integration.store.bulk import among, chunks, insert_for, keyed, parts, rows_table
from integration.store.locks import lock_key
from integration.store.models import Contact, ContactEmail, Store, StoreCustomer, table_of
from integration.store.types import UTCDateTime


@dataclass(frozen=True)
class Scope:
    """Where records come from: an account, and the store in it (None for account-wide email tools)."""

    account_id: int
    store_id: int | None = None

    @classmethod
    def of(cls, store: Store) -> Scope:
        return cls(account_id=store.account_id, store_id=store.id)


class ContactResolver:
    """Resolve (store customer id, email) pairs to contact ids of the account, in batches.

    A known customer id wins over the email (its contact may have changed address); otherwise the
    normalized email finds or creates the contact, and a customer id seen with it is linked. An
    email without a customer id that no contact holds now, but one held before, finds that one.
    Without a store, only emails resolve.
    """

    def __init__(self, session: Session, scope: Scope | Store) -> None:
        self.session = session
        self.scope = scope if isinstance(scope, Scope) else Scope.of(scope)
        # The customer ids this resolver linked to a contact (new customers); the others it
        # resolved were linked before, by this store's data or by another writer meanwhile.
        self.linked_now: set[str] = set()

    def resolve(
        self,
        refs: Sequence[tuple[str | None, str | None]],
        seen_at: Sequence[datetime],
        updated_at: Sequence[datetime] | None = None,
    ) -> list[int | None]:
        """Return a contact id (or None: no customer link and no valid email) for each ref.

        A customer not linked yet whose records in the batch give several emails gets one contact,
        at the email of its newest record (by `updated_at`, else `seen_at`); the records keep their
        own emails, and the older addresses are kept as the contact's earlier ones.
        """
        if self.scope.store_id is None:
            refs = [(None, email) for _, email in refs]
        stamps = updated_at if updated_at is not None else seen_at
        customer_ids = sorted({cid for cid, _ in refs if cid})
        links = self.linked(customer_ids)
        unlinked = [cid for cid in customer_ids if cid not in links]
        if unlinked and self._lock_customers(unlinked):
            # Another transaction may have linked them while this one waited: read them again.
            links.update(self.linked(unlinked))
        emails: list[str | None] = [safe_email(email) for _, email in refs]
        # Each unlinked customer's address: that of its newest record with a valid email.
        newest: dict[str, tuple[datetime, str]] = {}
        first_at: dict[str, datetime] = {}
        for (cid, _), email, at, stamp in zip(refs, emails, seen_at, stamps, strict=True):
            if cid and cid not in links:
                first_at[cid] = min(at, first_at.get(cid, at))
                if email and (cid not in newest or stamp >= newest[cid][0]):
                    newest[cid] = (stamp, email)
        first_seen: dict[str, datetime] = {}
        for cid, (_, email) in newest.items():
            first_seen[email] = min(first_at[cid], first_seen.get(email, first_at[cid]))
        for (cid, _), email, at in zip(refs, emails, seen_at, strict=True):
            if email and not cid:
                first_seen[email] = min(at, first_seen.get(email, at))
        # Only an email without a customer id may find a contact by an address it held before: a
        # customer id with that address is a customer of its own.
        loose = {email for (cid, _), email in zip(refs, emails, strict=True) if email and not cid}
        by_email = self.ensure_contacts(first_seen, earlier=loose - {email for _, email in newest.values()})
        new_links = {cid: by_email[email] for cid, (_, email) in newest.items()}
        result: list[int | None] = []
        passed_over: dict[tuple[str, str], dict[str, Any]] = {}
        for (cid, _), email, at in zip(refs, emails, seen_at, strict=True):
            if cid:
                result.append(links.get(cid) or new_links.get(cid))
                if cid in newest and email and email != newest[cid][1]:
                    kept = passed_over.setdefault(
                        (cid, email),
                        {"contact": new_links[cid], "email": email, "first": at, "replaced": newest[cid][0]},
                    )
                    kept["first"] = min(kept["first"], at)
            else:
                result.append(by_email[email] if email else None)
        self.link(new_links)
        self.linked_now.update(new_links)
        remember_emails(self.session, self.scope.account_id, list(passed_over.values()))
        return result

    def _lock_customers(self, customer_ids: Sequence[str]) -> bool:
        """Hold, until commit, a lock on each customer id about to get its contact (PostgreSQL).

        Two workers storing versions of one new customer at once would otherwise each create a
        contact for it (one per email), and one would be left beside the customer's own. The
        second waits here for the first to commit, then finds its link. Ids are locked in one
        order, so two batches never hold each other's. Returns whether it locked anything.
        """
        return locks.hold(self.session, (lock_key("customer", self.scope.store_id, c) for c in customer_ids))

    def linked(self, customer_ids: Sequence[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for part in parts(self.session, customer_ids):
            rows = self.session.execute(
                keyed(
                    self.session,
                    [StoreCustomer.external_id, StoreCustomer.contact_id],
                    StoreCustomer.external_id,
                    part,
                    StoreCustomer.store_id == self.scope.store_id,
                )
            )
            found.update({external_id: contact_id for external_id, contact_id in rows})
        return found

    def ensure_contacts(
        self, first_seen: dict[str, datetime], earlier: set[str] | frozenset[str] = frozenset()
    ) -> dict[str, int]:
        """Create missing contacts for normalized emails; return every email's contact id.

        An email of `earlier` that no contact holds now but one held before is that contact's.
        """
        if not first_seen:
            return {}
        account_id = self.scope.account_id
        table = table_of(Contact)
        new = rows_table(
            self.session,
            "new",
            {"email": String(), "at": UTCDateTime(), "earlier": BigInteger()},
            [{"email": e, "at": at, "earlier": int(e in earlier)} for e, at in first_seen.items()],
        )
        history = table_of(ContactEmail)
        held_before = exists().where(history.c.account_id == account_id, history.c.email == new.c.email)
        created = self.session.execute(
            insert_for(self.session, table)
            .from_select(
                ["account_id", "email", "first_seen_at"],
                # The WHERE also lets SQLite parse an upsert from a SELECT.
                select(literal(account_id, BigInteger()), new.c.email, new.c.at).where(
                    or_(new.c.earlier == 0, ~held_before)
                ),
            )
            .on_conflict_do_nothing(index_elements=["account_id", "email"])
            .returning(table.c.email, table.c.id)
        )
        ids = {email: contact_id for email, contact_id in created}
        if len(ids) == len(first_seen):
            return ids
        existing = [e for e in first_seen if e not in ids]
        ids.update(self._holders(table, table.c.id, existing))
        missing = [e for e in existing if e not in ids]
        ids.update(self._holders(history, history.c.contact_id, missing))
        if len(ids) < len(first_seen):  # an earlier address forgotten meanwhile (an erasure): a new contact
            ids.update(self.ensure_contacts({e: first_seen[e] for e in missing if e not in ids}))
            existing = [e for e in existing if e in ids]
        # An earlier first sighting moves first_seen_at back (records may arrive out of order).
        seen = rows_table(
            self.session,
            "seen",
            {"id": BigInteger(), "at": UTCDateTime()},
            [{"id": ids[e], "at": first_seen[e]} for e in existing],
        )
        self.session.execute(
            update(table)
            .where(
                table.c.id == seen.c.id,
                or_(table.c.first_seen_at.is_(None), table.c.first_seen_at > seen.c.at),
            )
            .values(first_seen_at=seen.c.at)
        )
        return ids

    def _holders(self, table: Table, contact: Any, emails: Sequence[str]) -> dict[str, int]:
        """The contact that `table` gives each of these emails of the account (those it holds)."""
        found: dict[str, int] = {}
        for part in chunks(emails):
            rows = self.session.execute(
                select(table.c.email, contact).where(
                    table.c.account_id == self.scope.account_id, among(self.session, table.c.email, part)
                )
            )
            found.update({email: contact_id for email, contact_id in rows})
        return found

    def link(self, links: dict[str, int]) -> None:
        if not links or self.scope.store_id is None:
            return
        new_link = rows_table(
            self.session,
            "new_link",
            {"ext": String(), "contact": BigInteger()},
            [{"ext": cid, "contact": c} for cid, c in links.items()],
        )
        self.session.execute(
            insert_for(self.session, table_of(StoreCustomer))
            .from_select(
                ["store_id", "external_id", "contact_id"],
                select(literal(self.scope.store_id, BigInteger()), new_link.c.ext, new_link.c.contact).where(
                    true()
                ),
            )
            .on_conflict_do_nothing(index_elements=["store_id", "external_id"])
        )


def safe_email(raw: str | None) -> str | None:
    if not raw:
        return None
    try:
        return normalize_email(raw)
    except ValueError:
        return None


def remember_emails(session: Session, account_id: int, rows: Sequence[Mapping[str, Any]]) -> None:
    """Keep addresses as earlier ones of contacts: rows of `contact`, `email`, `first`, `replaced`.

    An address some contact holds now is not kept; one kept for another contact moves to this one
    when this one gave it up later.
    """
    newest: dict[str, Mapping[str, Any]] = {}
    for row in rows:
        if row["email"] not in newest or row["replaced"] >= newest[row["email"]]["replaced"]:
            newest[row["email"]] = row
    if not newest:
        return
    table = table_of(ContactEmail)
    contacts = table_of(Contact)
    kept = rows_table(
        session,
        "kept",
        {"contact": BigInteger(), "email": String(), "first": UTCDateTime(), "replaced": UTCDateTime()},
        list(newest.values()),
    )
    stmt = insert_for(session, table).from_select(
        ["account_id", "contact_id", "email", "first_seen_at", "replaced_at"],
        select(
            literal(account_id, BigInteger()), kept.c.contact, kept.c.email, kept.c.first, kept.c.replaced
        ).where(~exists().where(contacts.c.account_id == account_id, contacts.c.email == kept.c.email)),
    )
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["account_id", "email"],
            set_={
                "contact_id": stmt.excluded.contact_id,
                "replaced_at": stmt.excluded.replaced_at,
                "first_seen_at": case(
                    (table.c.contact_id == stmt.excluded.contact_id, table.c.first_seen_at),
                    else_=stmt.excluded.first_seen_at,
                ),
            },
            where=stmt.excluded.replaced_at > table.c.replaced_at,
        )
    )
