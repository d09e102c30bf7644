"""Lists of contacts: a filter, a sort and keyset pagination with an opaque cursor."""

from __future__ import annotations

import binascii
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, literal, select, tuple_, union
from sqlalchemy.orm import Session

from integration.audiences.filters import compile_filter
from integration.keyset import BadCursor, pack, unpack
from integration.store.db import account_row
from integration.store.models import Contact, ContactEmail, StoreCustomer
from integration.store.types import iso, lower_text

NEVER = datetime(1970, 1, 1, tzinfo=UTC)  # stands for "no interaction yet" in the sort order
SORTS = ("-last_interaction_at", "last_interaction_at", "email", "-email", "first_seen_at", "-first_seen_at")
MAX_LIMIT = 500
MAX_SEARCH_WORDS = 8


def list_contacts(
    session: Session,
    account_id: int,
    condition: dict[str, Any] | None,
    *,
    search: str | None = None,
    sort: str = "-last_interaction_at",
    limit: int = 50,
    cursor: str | None = None,
    now: datetime,
) -> dict[str, Any]:
    """Return a page of the account's contacts that match `condition` and `search`, and the next cursor."""
    if sort not in SORTS:
        raise ValueError(f"sort must be one of {', '.join(SORTS)}")
    descending, name = sort.startswith("-"), sort.lstrip("-")
    query = select(Contact).where(Contact.account_id == account_id, Contact.deleted_at.is_(None))
    if condition is not None:
        query = query.where(compile_filter(session, condition, now))
    if search is not None:
        query = query.where(*matching(search, account_id))
    after = _decode(cursor, sort, name) if cursor is not None else None
    fetch = min(limit, MAX_LIMIT) + 1
    if name == "last_interaction_at":
        rows = _by_interaction(session, query, descending, after, fetch)
    else:
        rows = list(session.scalars(_ordered(query, getattr(Contact, name), descending, after).limit(fetch)))
    page, more = rows[:limit], len(rows) > limit
    next_cursor = _encode(sort, name, page[-1]) if more and page else None
    return {"contacts": [describe(c) for c in page], "next_cursor": next_cursor}


def _ordered(query: Select[Any], column: Any, descending: bool, after: tuple[Any, int] | None) -> Select[Any]:
    """The query in (column, id) order, from just past `after`: a row comparison an index answers."""
    key = tuple_(column, Contact.id)
    if after is not None:
        start = tuple_(literal(after[0], column.type), literal(after[1], Contact.id.type))
        query = query.where(key < start if descending else key > start)
    order = (column.desc(), Contact.id.desc()) if descending else (column.asc(), Contact.id.asc())
    return query.order_by(*order)


def _by_interaction(
    session: Session, query: Select[Any], descending: bool, after: tuple[Any, int] | None, fetch: int
) -> list[Contact]:
    """Up to `fetch` contacts by latest interaction, those with none (NEVER) at the old end.

    Read as two runs of one index (account, last interaction, id), the dated contacts and those
    without an interaction, rather than as one order on an expression no index holds.
    """
    column = Contact.last_interaction_at
    dated, undated = query.where(column.is_not(None)), query.where(column.is_(None))
    in_undated = after is not None and after[0] == NEVER
    undated_after = (None, after[1]) if in_undated and after is not None else None

    def undated_run(count: int) -> list[Contact]:
        q = undated
        if undated_after is not None:
            q = q.where(Contact.id < undated_after[1] if descending else Contact.id > undated_after[1])
        order = Contact.id.desc() if descending else Contact.id.asc()
        return list(session.scalars(q.order_by(order).limit(count)))

    def dated_run(count: int) -> list[Contact]:
        start = None if in_undated else after
        return list(session.scalars(_ordered(dated, column, descending, start).limit(count)))

    if descending:  # newest first, then the contacts without an interaction
        rows = [] if in_undated else dated_run(fetch)
        return rows + (undated_run(fetch - len(rows)) if len(rows) < fetch else [])
    rows = undated_run(fetch) if after is None or in_undated else []
    return rows + (dated_run(fetch - len(rows)) if len(rows) < fetch else [])


def matching(search: str, account_id: int) -> list[ColumnElement[bool]]:
    """SQL: every word of `search` is part of the email, an earlier email, first or last name (any case).

    Each word's contacts are the union of one lookup per column, so that PostgreSQL answers each
    `lower(column) LIKE '%word%'` from its trigram index (migration 0025) rather than reading
    every contact; words of fewer than three letters have no trigram and are read from the table.
    """
    conditions: list[ColumnElement[bool]] = []
    for word in search.lower().split()[:MAX_SEARCH_WORDS]:
        found = union(
            *(
                select(Contact.id).where(Contact.account_id == account_id, contains(column, word))
                for column in (Contact.email, Contact.first_name, Contact.last_name)
            ),
            select(ContactEmail.contact_id).where(
                ContactEmail.account_id == account_id, contains(ContactEmail.email, word)
            ),
        )
        conditions.append(Contact.id.in_(found))
    return conditions


def contains(column: Any, word: str) -> ColumnElement[bool]:
    """SQL: `lower(column)` holds the lower-case `word` taken literally (LIKE's wildcards in it
    match only themselves) — the shape PostgreSQL's trigram indexes on `lower(column)` answer."""
    pattern = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return lower_text(column).like(pattern, escape="\\")


def contact_detail(session: Session, account_id: int, contact_id: int) -> dict[str, Any] | None:
    """One contact of the account as `describe` shows it, with its store links; None if not the account's."""
    contact = account_row(session, Contact, contact_id, account_id)
    if contact is None or contact.deleted_at is not None:
        return None
    links = session.execute(
        select(StoreCustomer.store_id, StoreCustomer.external_id)
        .where(StoreCustomer.contact_id == contact.id)
        .order_by(StoreCustomer.store_id)
    ).all()
    return {
        **describe(contact),
        "phone": contact.phone,
        "stores": [{"store_id": s, "customer_id": e} for s, e in links],
    }


def describe(contact: Contact) -> dict[str, Any]:
    """A contact as lists show it, with why it is in its group."""
    return {
        "id": contact.id,
        "email": contact.email,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "subscription": {
            "status": contact.subscription_status.value,
            "changed_at": iso(contact.subscription_changed_at),
            "reason": contact.subscription_reason,
        },
        "engagement": {
            "status": contact.engagement_status.value if contact.engagement_status else None,
            "since": iso(contact.engagement_since),
            "reason": contact.engagement_reason,
            "last_interaction_at": iso(contact.last_interaction_at),
            "last_interaction_type": contact.last_interaction_type.value
            if contact.last_interaction_type
            else None,
        },
        "blocked": {"reason": contact.blocked_reason.value, "at": iso(contact.blocked_at)}
        if contact.blocked_reason
        else None,
        "tags": contact.tags,
        "first_seen_at": iso(contact.first_seen_at),
    }


def _encode(sort: str, name: str, contact: Contact) -> str:
    value: Any = getattr(contact, name)
    if name == "last_interaction_at" and value is None:
        value = NEVER
    payload = [sort, value.isoformat() if isinstance(value, datetime) else value, contact.id]
    return pack(payload)


def _decode(cursor: str, sort: str, name: str) -> tuple[Any, int]:
    try:
        made_for, value, last_id = unpack(cursor)
        decoded = datetime.fromisoformat(value) if name.endswith("_at") else str(value)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise BadCursor("not a cursor of this list") from exc
    if made_for != sort or not isinstance(last_id, int):
        raise BadCursor("the cursor belongs to another sort")
    return decoded, last_id
