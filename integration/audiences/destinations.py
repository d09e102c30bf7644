"""Destinations and syncs of an account: create, edit, delete, describe.

Credentials arrive already validated for their kind and are stored only encrypted; they are never
returned. Changing a destination's credentials restarts the syncs a rejected key had stopped.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from integration.audiences import segments
from integration.audiences import sync as syncing
from integration.audiences.sync import SyncError
from integration.crypto import encrypt_json
from integration.store.db import account_row, required_account_row
from integration.store.models import (
    Destination,
    DestinationKind,
    Platform,
    Segment,
    Store,
    Sync,
    SyncMode,
    SyncRun,
    SyncState,
)

# Tags of the predefined segments; other segments are tagged by their name.
PREDEFINED_TAGS = {
    "engaged_subscribed": "engaged",
    "unengaged": "unengaged",
    "blocked": "blocked",
    "sunset": "sunset-candidate",
    "frequent": "frequent-buyer",
    "tier:big": "big-spender",
    "tier:medium": "medium-spender",
    "tier:low": "low-spender",
}
MAX_TAG_LENGTH = 255  # Shopify's limit for one tag


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "segment"


def tag_for(segment: Segment, prefix: str) -> str:
    """The tag a segment is written as: the prefix and a readable name (`storepulse:rfm-champions`)."""
    key = segment.key or ""
    if key in PREDEFINED_TAGS:
        name = PREDEFINED_TAGS[key]
    elif key.startswith("rfm:"):
        name = "rfm-" + slug(key[4:])
    else:
        name = slug(segment.name)
    return (prefix + name)[:MAX_TAG_LENGTH]


def create_destination(
    session: Session,
    account_id: int,
    keys: tuple[str, ...],
    *,
    kind: DestinationKind,
    name: str,
    config: dict[str, Any],
    credentials: dict[str, Any],
) -> Destination:
    if kind == DestinationKind.SHOPIFY:
        _check_shopify_store(session, account_id, int(config["store_id"]))
    destination = Destination(
        account_id=account_id,
        kind=kind,
        name=name,
        config=config,
        credentials=encrypt_json(keys, credentials) if credentials else None,
    )
    session.add(destination)
    session.flush()
    return destination


def _check_shopify_store(session: Session, account_id: int, store_id: int) -> None:
    store = account_row(session, Store, store_id, account_id)
    if store is None or store.platform != Platform.SHOPIFY:
        raise SyncError("invalid_store", f"store {store_id} is not a Shopify store of this account")


def get_destination(session: Session, account_id: int, destination_id: int) -> Destination:
    return required_account_row(session, Destination, destination_id, account_id, "destination")


def update_destination(
    session: Session,
    destination: Destination,
    keys: tuple[str, ...],
    *,
    name: str | None = None,
    config: dict[str, Any] | None = None,
    credentials: dict[str, Any] | None = None,
) -> Destination:
    if name is not None:
        destination.name = name
    if config is not None:
        if destination.kind == DestinationKind.SHOPIFY:
            _check_shopify_store(session, destination.account_id, int(config["store_id"]))
        if any(destination.config.get(k) != config.get(k) for k in AUDIENCE_KEYS):
            _start_over(session, destination, config)
        destination.config = config
    if credentials is not None:
        destination.credentials = encrypt_json(keys, credentials)
        destination.last_error = None
    if config is not None or credentials is not None:
        # New settings or credentials: syncs stopped by the old ones may run again.
        session.execute(
            update(Sync)
            .where(Sync.destination_id == destination.id, Sync.status == "stopped")
            .values(status="idle", last_error=None)
        )
    session.flush()
    return destination


# Settings naming the audience itself: changing one points the syncs at another audience.
AUDIENCE_KEYS = ("list_id", "store_id")


def _start_over(session: Session, destination: Destination, config: dict[str, Any]) -> None:
    """The syncs of a destination now pointing elsewhere deliver everything anew there."""
    for found in session.scalars(select(Sync).where(Sync.destination_id == destination.id)):
        kept = {k: v for k, v in found.config.items() if k != "tag_id"}
        if "store_id" in config:
            kept["store_id"] = int(config["store_id"])
        found.config = kept
        session.execute(delete(SyncState).where(SyncState.sync_id == found.id))


def restart_store_syncs(session: Session, store_id: int) -> int:
    """Let the stopped tag syncs of a store run again (its app was installed anew); return how many."""
    store = session.get(Store, store_id)
    if store is None:
        return 0
    shopify = select(Destination).where(
        Destination.account_id == store.account_id, Destination.kind == DestinationKind.SHOPIFY
    )
    ids = [d.id for d in session.scalars(shopify) if int(d.config.get("store_id") or 0) == store_id]
    if not ids:
        return 0
    return int(
        session.execute(
            update(Sync)
            .where(Sync.destination_id.in_(ids), Sync.status == "stopped")
            .values(status="idle", last_error=None)
        ).rowcount  # type: ignore[attr-defined]
    )


def describe_destination(destination: Destination) -> dict[str, Any]:
    return {
        "id": destination.id,
        "kind": destination.kind.value,
        "name": destination.name,
        "config": destination.config,
        "has_credentials": destination.credentials is not None,
        "created_at": destination.created_at.isoformat(),
    }


def mode_for(kind: DestinationKind) -> SyncMode:
    """The mode a destination of this kind takes: tags in Shopify, an audience elsewhere."""
    return SyncMode.TAGS if kind == DestinationKind.SHOPIFY else SyncMode.AUDIENCE


def create_sync(
    session: Session,
    account_id: int,
    *,
    segment_id: int,
    destination_id: int,
    mode: SyncMode | None = None,
    tag_prefix: str,
    tag: str | None = None,
    start: bool = False,
) -> Sync:
    """Make a sync, paused unless `start`: its first run, the largest, can be previewed before it goes."""
    segment = segments.get(session, account_id, segment_id)
    destination = get_destination(session, account_id, destination_id)
    expected = mode_for(destination.kind)
    mode = mode or expected
    if mode != expected:
        raise SyncError(
            "invalid_mode", f"a {destination.kind.value} destination takes mode {expected.value!r}"
        )
    clash = session.scalar(
        select(Sync.id).where(Sync.segment_id == segment_id, Sync.destination_id == destination_id)
    )
    if clash is not None:
        raise SyncError("exists", f"sync {clash} already sends this segment to this destination")
    name = tag_for(segment, tag_prefix) if tag is None else tag_prefix + slug(tag)
    siblings = session.scalars(select(Sync).where(Sync.destination_id == destination_id))
    if any(s.config.get("tag") == name for s in siblings):
        # Two syncs under one tag would take it off each other's contacts.
        raise SyncError(
            "tag_taken", f"another sync of this destination writes the tag {name!r}; choose a tag"
        )
    config: dict[str, Any] = {"tag": name}
    if destination.kind == DestinationKind.SHOPIFY:
        config["store_id"] = int(destination.config["store_id"])
    created = Sync(
        account_id=account_id,
        segment_id=segment_id,
        destination_id=destination_id,
        mode=mode,
        config=config,
        enabled=start,
    )
    session.add(created)
    session.flush()
    return created


def get_sync(session: Session, account_id: int, sync_id: int) -> Sync:
    return required_account_row(session, Sync, sync_id, account_id, "sync")


def describe_sync(session: Session, found: Sync) -> dict[str, Any]:
    last = session.scalars(
        select(SyncRun).where(SyncRun.sync_id == found.id).order_by(SyncRun.id.desc()).limit(1)
    ).first()
    return {
        "id": found.id,
        "segment_id": found.segment_id,
        "destination_id": found.destination_id,
        "mode": found.mode.value,
        "tag": found.config.get("tag"),
        "enabled": found.enabled,
        "status": status_of(found),
        "last_error": found.last_error,
        "last_run_at": found.last_run_at.isoformat() if found.last_run_at else None,
        "last_run": syncing.describe_run(last) if last is not None else None,
        **syncing.counts(session, found),
    }


def status_of(found: Sync) -> str:
    """What a sync is doing: running, stopped (waits for new credentials), paused, or idle between runs."""
    if found.status == "idle" and not found.enabled:
        return "paused"
    return found.status


def failing(session: Session, sync_id: int, limit: int = 100) -> list[dict[str, Any]]:
    """Contacts whose last delivery failed, with the error and the number of attempts."""
    rows = session.execute(
        select(SyncState.contact_id, SyncState.error, SyncState.attempts)
        .where(SyncState.sync_id == sync_id, SyncState.error.is_not(None))
        .order_by(SyncState.contact_id)
        .limit(limit)
    )
    return [{"contact_id": c, "error": e, "attempts": a} for c, e, a in rows]


def enabled_sync_ids(session: Session, account_id: int | None = None) -> list[int]:
    query = select(Sync.id).where(Sync.enabled.is_(True), Sync.status != "stopped")
    if account_id is not None:
        query = query.where(Sync.account_id == account_id)
    return list(session.scalars(query.order_by(Sync.id)))


def runs(session: Session, sync_id: int, limit: int = 50) -> list[dict[str, Any]]:
    records = session.scalars(
        select(SyncRun).where(SyncRun.sync_id == sync_id).order_by(SyncRun.id.desc()).limit(limit)
    )
    return [syncing.describe_run(r) for r in records]


def find_sync(session: Session, sync_id: int) -> Sync:
    """Return the sync with this id, of whichever account, or raise LookupError."""
    found = session.get(Sync, sync_id)
    if found is None:
        raise LookupError(f"no sync {sync_id}")
    return found


def account_syncs(session: Session, account_id: int) -> list[Sync]:
    """An account's syncs, oldest first."""
    return list(session.scalars(select(Sync).where(Sync.account_id == account_id).order_by(Sync.id)))


def set_sync_enabled(session: Session, sync_id: int, enabled: bool) -> Sync:
    """Start (`enabled`) or pause a sync; a run under way finishes either way."""
    found = find_sync(session, sync_id)
    found.enabled = enabled
    session.flush()
    return found
