"""Why a contact is or is not in a segment: each condition of its filter, met or not, for that contact.

Every condition is compiled as the segment compiles it (integration.audiences.filters) and all are
evaluated for the one contact in a single SELECT; the groups are then combined as the filter
language combines them, so the root is met exactly when the contact matches the filter.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import case, false, select, true
from sqlalchemy.orm import Session

from integration.audiences import filters
from integration.store.models import Contact
from integration.store.types import utcnow


def explain(
    session: Session, account_id: int, contact_id: int, condition: dict[str, Any], now: datetime | None = None
) -> dict[str, Any] | None:
    """The filter's tree (kind, key, path, parts) with `met` per node; None for no such contact."""
    now = now or utcnow()
    leaves: list[tuple[str, dict[str, Any]]] = []
    _collect(condition, "0", leaves)
    columns: list[Any] = [Contact.id]
    for n, (_path, leaf) in enumerate(leaves):
        compiled = filters.compile_filter(session, leaf, now)
        # A CASE makes each answer a plain true or false, whatever NULLs the condition meets.
        columns.append(case((compiled, true()), else_=false()).label(f"leaf_{n}"))
    row = session.execute(
        select(*columns).where(
            Contact.id == contact_id, Contact.account_id == account_id, Contact.deleted_at.is_(None)
        )
    ).first()
    if row is None:
        return None
    met = {path: bool(row[n + 1]) for n, (path, _leaf) in enumerate(leaves)}
    return _combine(condition, "0", met)


def _collect(condition: dict[str, Any], path: str, leaves: list[tuple[str, dict[str, Any]]]) -> None:
    key, value = next(iter(condition.items()))
    if key in ("all", "any"):
        for n, part in enumerate(value):
            _collect(part, f"{path}.{n}", leaves)
    elif key == "not":
        _collect(value, f"{path}.0", leaves)
    else:
        leaves.append((path, condition))


def _combine(condition: dict[str, Any], path: str, met: dict[str, bool]) -> dict[str, Any]:
    key, value = next(iter(condition.items()))
    if key in ("all", "any"):
        parts = [_combine(part, f"{path}.{n}", met) for n, part in enumerate(value)]
        held = all(p["met"] for p in parts) if key == "all" else any(p["met"] for p in parts)
        return {"kind": key, "key": key, "path": path, "met": held, "parts": parts}
    if key == "not":
        inner = _combine(value, f"{path}.0", met)
        return {"kind": "not", "key": "not", "path": path, "met": not inner["met"], "parts": [inner]}
    return {"kind": "leaf", "key": key, "path": path, "met": met[path], "parts": []}
