"""Compute jobs: engagement classification, the statistics kept for the API, abandoned checkouts.

The statistics are refreshed after changes, debounced per account: a change asks for a refresh
(one Redis key per account, so a burst of changes queues one job), and the job clears the key
before it reads, so a change made while it runs asks for (and gets) the next refresh.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from integration.analytics import counted, history, period_spend, rfm, stats
from integration.audiences import exports, segments
from integration.commerce import carts, totals
from integration.contacts import engagement
from integration.ingest import storefront
from integration.settings import Settings, get_settings
from integration.store import session_scope
from integration.store.models import Account
from integration.store.redis import connection
from integration.store.types import utcnow
from jobs.queues import COMPUTE, Debounce, enqueue_once

logger = logging.getLogger(__name__)

REFRESH_KEY_TTL_SECONDS = 600


STATS_REFRESH = Debounce("storepulse:stats-refresh", COMPUTE, REFRESH_KEY_TTL_SECONDS)
RFM_REFRESH = Debounce("storepulse:rfm-refresh", COMPUTE, REFRESH_KEY_TTL_SECONDS)
RFM_LATER = Debounce("storepulse:rfm-refresh-later", COMPUTE, REFRESH_KEY_TTL_SECONDS)
RFM_RAN_KEY = "storepulse:rfm-ran"  # :<account>, "<start> <seconds>" of its last recomputation
RFM_EVERY_SECONDS = 300  # a slow recomputation follows orders at most once in five minutes
RFM_SLOW_SECONDS = 1.0  # one taking this long is slow (an account of hundreds of thousands)


def request_stats_refresh(settings: Settings, account_id: int) -> bool:
    """Queue a refresh of an account's statistics unless one is already queued; False if Redis is down."""
    return STATS_REFRESH.request(settings, refresh_stats_job, account_id)


def refresh_stats_job(account_id: int) -> None:
    """Recompute an account's statistics for the API."""
    settings = get_settings()
    STATS_REFRESH.taken(settings, account_id)
    with session_scope(settings.database_url) as session:
        stats.refresh_stats(session, account_id)


def request_rfm_refresh(settings: Settings, account_id: int) -> bool:
    """Queue a recomputation of an account's RFM scores unless one is queued; False if Redis is down."""
    return RFM_REFRESH.request(settings, compute_rfm_job, account_id)


def request_rfm_after_orders(settings: Settings, account_id: int) -> bool:
    """Queue a recomputation of the RFM scores after orders changed: at once, unless the last one was
    slow (RFM_SLOW_SECONDS) and started less than RFM_EVERY_SECONDS ago; then when that time is up.

    RFM scores every buyer (seconds at a million contacts): run after every batch of a busy large
    shop's orders it would hold a worker most of the time, and the statistics behind it; a small
    shop's scores follow each batch. False if Redis is down.
    """
    try:
        last = connection(settings).get(f"{RFM_RAN_KEY}:{account_id}")
    except redis.RedisError as exc:
        logger.warning("RFM of account %s not queued now: %s", account_id, exc)
        return False
    wait = 0.0
    if last is not None:
        started, took = (float(part) for part in last.split())
        if took >= RFM_SLOW_SECONDS:
            wait = started + RFM_EVERY_SECONDS - time.time()
    if wait <= 0:
        return RFM_REFRESH.request(settings, compute_rfm_job, account_id)
    # A key of its own: a recomputation asked for now (a saved scheme, the daily run) still runs now.
    return RFM_LATER.request(settings, compute_rfm_later_job, account_id, delay_seconds=wait)


def compute_rfm_later_job(account_id: int) -> int:
    """Recompute an account's RFM scores when the pause after the last recomputation is over."""
    RFM_LATER.taken(get_settings(), account_id)
    return compute_rfm_job(account_id, taken=False)


def compute_rfm_job(account_id: int, taken: bool = True) -> int:
    """Recompute an account's RFM scores, segments and spender tiers."""
    settings = get_settings()
    if taken:
        RFM_REFRESH.taken(settings, account_id)
    started = time.time()
    with session_scope(settings.database_url) as session:
        scored = rfm.compute(session, account_id)
    took = time.time() - started
    connection(settings).set(f"{RFM_RAN_KEY}:{account_id}", f"{started} {took}", ex=2 * RFM_EVERY_SECONDS)
    return scored


def _account_ids(settings: Settings) -> list[int]:
    with session_scope(settings.database_url) as session:
        return list(session.scalars(select(Account.id)))


def _each_account(settings: Settings, work: Callable[[Session, int], int]) -> int:
    """Run `work` for every account, each in a transaction of its own; return the sum of its counts."""
    total = 0
    for account_id in _account_ids(settings):
        with session_scope(settings.database_url) as session:
            total += work(session, account_id)
    return total


def compute_rfm_all_job() -> int:
    """Recompute every account's RFM scores (daily: recency moves with the calendar)."""
    settings = get_settings()
    account_ids = _account_ids(settings)
    for account_id in account_ids:
        request_rfm_refresh(settings, account_id)
    return len(account_ids)


def prune_leaderboard_job() -> int:
    """Drop the leaderboard's period rows no time frame can name any more (daily); return how many."""
    return _each_account(get_settings(), period_spend.prune_spend)


def fold_buyer_notes_job() -> int:
    """Recompute the buyers imports noted: those of a running import (its leaderboard lags by ten
    minutes at most) and those one left when it stopped half-way; return how many.

    The stats and RFM that read those buyers' rows follow.
    """
    settings = get_settings()
    with session_scope(settings.database_url) as session:
        account_ids = totals.noted_accounts(session)
    folded = 0
    for account_id in account_ids:
        done = totals.fold_all_notes(settings.database_url, account_id)
        if done:
            request_stats_refresh(settings, account_id)
            request_rfm_after_orders(settings, account_id)
        folded += done
    return folded


def purge_visitors_job() -> int:
    """Drop storefront interactions and visitors past every account's engagement time frame (hourly)."""
    return _each_account(get_settings(), storefront.purge_visitors)


def refresh_segments_job() -> int:
    """Bring every account's segments up to date with the data (hourly); log who entered and left."""
    return _each_account(get_settings(), segments.refresh_account)


def segments_pending_key(account_id: int) -> str:
    """The Redis key that says an account's segment refresh is already queued."""
    return f"storepulse:segments-pending:{account_id}"


def request_segments_refresh(settings: Settings, account_id: int) -> bool:
    """Queue one refresh of the account's segments unless one is queued (segments never computed)."""
    return enqueue_once(
        settings,
        segments_pending_key(account_id),
        REFRESH_KEY_TTL_SECONDS,
        COMPUTE,
        refresh_account_segments_job,
        account_id,
    )


def refresh_account_segments_job(account_id: int) -> int:
    """Bring one account's segments up to date now (a page found some never computed); return how many."""
    settings = get_settings()
    connection(settings).delete(segments_pending_key(account_id))
    with session_scope(settings.database_url) as session:
        return segments.refresh_account(session, account_id)


def classify_account_job(account_id: int) -> int:
    """Reclassify every contact of an account (after a time-frame change)."""
    settings = get_settings()
    with session_scope(settings.database_url) as session:
        changed = engagement.classify(session, account_id)
    request_stats_refresh(settings, account_id)
    return changed


def expire_engagement_job() -> int:
    """Move contacts whose last interaction left the time frame to unengaged, in every account."""
    settings = get_settings()
    changed = 0
    for account_id in _account_ids(settings):
        with session_scope(settings.database_url) as session:
            moved = engagement.classify(session, account_id, only_expired=True)
        if moved:  # asked at once: a later account's failure does not hold this one's statistics back
            request_stats_refresh(settings, account_id)
        changed += moved
    return changed


def mark_abandoned_checkouts_job() -> int:
    """Mark checkouts left open past their account's delay as abandoned."""
    with session_scope(get_settings().database_url) as session:
        return carts.mark_abandoned(session)


def snapshot_contacts_job() -> int:
    """Record today's contact group counts (once per UTC day), for 30-day changes and trends."""
    settings = get_settings()
    with session_scope(settings.database_url) as session:
        counted.forget_deleted_accounts(session)
        taken = history.take_snapshot(session, utcnow())
        account_ids = list(session.scalars(select(Account.id))) if taken else []
    for account_id in account_ids:  # a new day moves every 30-day comparison
        request_stats_refresh(settings, account_id)
    return taken


def export_segment_job(export_id: int) -> int:
    """Write a segment's members as a CSV file (in parts, in constant memory); return the rows."""
    return exports.write_export(get_settings().database_url, export_id)
