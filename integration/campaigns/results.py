"""What campaigns led to: opens, clicks and QR scans, and the orders attributed to their sends.

**Attribution**: a send is credited with the contact's first placed order (any store of the
account) after it went out (sent, else delivered, else queued), within the account's attribution
window; `days` is the whole days between the two. A failed or returned send never reached the
contact and is credited with nothing. One query ranks each send's orders, and the
profile, a campaign's results and the list of campaigns all read it, so they always agree.

Results are computed for a set of campaigns at once (a page of the list, or one campaign): sends
by status with their marks in one grouped query, attributed orders in another (for one campaign
grouped by days to order too, which gives the median).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Interval,
    Subquery,
    and_,
    case,
    cast,
    extract,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.orm import Session

from integration import keyset
from integration.campaigns.sends import describe_campaign, get_campaign, preview_ref, send_time
from integration.commerce import orders as order_rules
from integration.contract import SEND_TIMES
from integration.money import amount
from integration.store.bulk import chunks
from integration.store.models import (
    Account,
    Campaign,
    CampaignPreview,
    CampaignSend,
    Order,
    SendStatus,
    Store,
)
from integration.store.types import iso

MAX_LIMIT = 100


@dataclass(frozen=True)
class Attribution:
    order_id: int
    ordered_at: datetime
    days: int
    total_price: Decimal
    currency: str
    revenue: bool
    net_total: Decimal


def _window_end(session: Session, start: Any, days: int) -> Any:
    """SQL: `start` plus whole days, exactly as the store keeps times on each database."""
    if session.get_bind().dialect.name == "postgresql":
        return start + literal(timedelta(days=days), Interval())
    # SQLite keeps 'YYYY-MM-DD HH:MM:SS.ffffff': shift the date and time, keep the fraction.
    return func.strftime("%Y-%m-%d %H:%M:%S", start, f"+{days} days").concat(func.substr(start, 20))


def _whole_days(session: Session, start: Any, end: Any) -> Any:
    """SQL: the whole days from `start` to a later `end`, as `(end - start).days` counts them."""
    if session.get_bind().dialect.name == "postgresql":
        # The difference of two timestamptz is days and a time under 24 hours.
        return cast(extract("day", end - start), Integer)
    # SQLite keeps 'YYYY-MM-DD HH:MM:SS.ffffff': the days between the dates, less one if the end's
    # time of day comes before the start's (exact to the microsecond, unlike julianday fractions).
    dates = func.julianday(func.substr(end, 1, 10)) - func.julianday(func.substr(start, 1, 10))
    return cast(dates, Integer) - case((func.substr(end, 12) < func.substr(start, 12), 1), else_=0)


def attributed_orders(session: Session, account_id: int, *where: ColumnElement[bool]) -> Subquery:
    """The attributed order of each send matching `where`: the first placed order of its contact in
    the account's stores from the send's time until the window ends (one row per credited send)."""
    account = session.get(Account, account_id)
    assert account is not None  # noqa: S101 - callers pass an existing account
    sent = send_time()
    stores = select(Store.id).where(Store.account_id == account_id).scalar_subquery()
    ranked = (
        select(
            CampaignSend.id.label("send_id"),
            CampaignSend.campaign_id.label("campaign_id"),
            sent.label("sent_at"),
            Order.id.label("order_id"),
            Order.created_at.label("ordered_at"),
            Order.total_price.label("total_price"),
            order_rules.net_total().label("net_total"),
            Order.currency.label("currency"),
            case((order_rules.revenue(), 1), else_=0).label("revenue"),
            func.row_number()
            .over(partition_by=CampaignSend.id, order_by=(Order.created_at, Order.id))
            .label("position"),
        )
        .join(Order, Order.contact_id == CampaignSend.contact_id)
        .where(
            *where,
            CampaignSend.status.not_in((SendStatus.FAILED, SendStatus.RETURNED)),
            Order.store_id.in_(stores),
            order_rules.placed(),
            Order.created_at >= sent,
            Order.created_at < _window_end(session, sent, account.attribution_window_days),
        )
        .subquery("ranked")
    )
    return select(ranked).where(ranked.c.position == 1).subquery("attributed")


def attribute(session: Session, account_id: int, send_ids: Sequence[int]) -> dict[int, Attribution]:
    """The order each of these sends is credited with (sends without one are left out)."""
    found: dict[int, Attribution] = {}
    for part in chunks(sorted(set(send_ids))):
        attributed = attributed_orders(session, account_id, CampaignSend.id.in_(part))
        for row in session.execute(select(attributed)):
            found[row.send_id] = Attribution(
                row.order_id,
                row.ordered_at,
                (row.ordered_at - row.sent_at).days,
                Decimal(row.total_price),
                row.currency,
                bool(row.revenue),
                Decimal(row.net_total),
            )
    return found


def results_of(
    session: Session, account_id: int, campaign_ids: Sequence[int], *, median_days: bool = False
) -> dict[int, dict[str, Any]]:
    """Each campaign's sends by status, opens, clicks, QR scans, attributed orders and revenue.

    With `median_days`, each also has the median whole days from send to attributed order.
    """
    ids = sorted(set(campaign_ids))
    results: dict[int, dict[str, Any]] = {
        c: {
            "sends": 0,
            "by_status": {s.value: 0 for s in SendStatus},
            "opened": 0,
            "clicked": 0,
            "scanned": 0,
            "ordered": 0,
            "revenue": [],
        }
        for c in ids
    }
    if not ids:
        return results
    counts = session.execute(
        select(
            CampaignSend.campaign_id,
            CampaignSend.status,
            func.count(),
            func.count(CampaignSend.opened_at),
            func.count(CampaignSend.clicked_at),
            func.count(CampaignSend.scanned_at),
        )
        .where(CampaignSend.campaign_id.in_(ids))
        .group_by(CampaignSend.campaign_id, CampaignSend.status)
    )
    for campaign_id, status, sends, opened, clicked, scanned in counts:
        result = results[campaign_id]
        result["by_status"][status.value] = sends
        result["sends"] += sends
        result["opened"] += opened
        result["clicked"] += clicked
        result["scanned"] += scanned
    attributed = attributed_orders(session, account_id, CampaignSend.campaign_id.in_(ids))
    groups = [attributed.c.campaign_id, attributed.c.currency]
    if median_days:
        groups.append(_whole_days(session, attributed.c.sent_at, attributed.c.ordered_at).label("days"))
    orders = session.execute(
        select(
            *groups,
            func.count().label("ordered"),
            func.sum(attributed.c.revenue).label("revenue_orders"),
            func.sum(case((attributed.c.revenue == 1, attributed.c.net_total))).label("revenue"),
        )
        .group_by(*groups)
        .order_by(attributed.c.campaign_id, attributed.c.currency)
    )
    revenue: dict[tuple[int, str], Decimal] = {}  # by campaign and currency, in that order
    days: dict[int, dict[int, int]] = {c: {} for c in ids}  # how many orders came after how many days
    for row in orders:
        results[row.campaign_id]["ordered"] += row.ordered
        if median_days:
            days[row.campaign_id][row.days] = days[row.campaign_id].get(row.days, 0) + row.ordered
        if row.revenue_orders:
            key = (row.campaign_id, row.currency)
            revenue[key] = revenue.get(key, Decimal(0)) + row.revenue
    for (campaign_id, currency), total in revenue.items():
        results[campaign_id]["revenue"].append({"currency": currency, "amount": amount(total)})
    if median_days:
        for campaign_id, counts_by_days in days.items():
            results[campaign_id]["median_days_to_order"] = _median(counts_by_days)
    return results


def _median(counts: dict[int, int]) -> float | None:
    """The median of values given with how often each occurs, as `statistics.median` gives it."""
    total = sum(counts.values())
    middle = {(total - 1) // 2, total // 2}  # the positions of the middle value, or the middle two
    picked: list[int] = []
    seen = 0
    for value in sorted(counts):
        picked += [value for position in middle if seen <= position < seen + counts[value]]
        seen += counts[value]
    return statistics.median(picked) if picked else None


def campaign_results(session: Session, account_id: int, campaign_id: int) -> dict[str, Any]:
    """Sends by status, opens, clicks, QR scans, and the orders the campaign led to."""
    campaign = get_campaign(session, account_id, campaign_id)
    account = session.get(Account, account_id)
    assert account is not None  # noqa: S101 - the campaign's account exists
    result = results_of(session, account_id, [campaign_id], median_days=True)[campaign_id]
    return {
        "campaign": describe_campaign(session, campaign),
        **{k: result[k] for k in ("sends", "by_status", "opened", "clicked", "scanned")},
        "attribution_window_days": account.attribution_window_days,
        "ordered": result["ordered"],
        "revenue": result["revenue"],
        "median_days_to_order": result["median_days_to_order"],
    }


def list_campaigns(
    session: Session,
    account_id: int,
    *,
    limit: int = 20,
    cursor: str | None = None,
    median_days: bool = False,
) -> dict[str, Any]:
    """A page of the account's campaigns, newest first, each with its results; and the next cursor.

    With `median_days`, each also has the median whole days from send to attributed order.
    """
    query = select(Campaign).where(Campaign.account_id == account_id)
    if cursor is not None:
        at, last_id = keyset.decode(cursor)
        query = query.where(
            or_(Campaign.created_at < at, and_(Campaign.created_at == at, Campaign.id < last_id))
        )
    rows = session.scalars(
        query.order_by(Campaign.created_at.desc(), Campaign.id.desc()).limit(min(limit, MAX_LIMIT) + 1)
    ).all()
    page, more = rows[:limit], len(rows) > limit
    results = results_of(session, account_id, [c.id for c in page], median_days=median_days)
    return {
        "campaigns": [
            {
                "id": c.id,
                "external_id": c.external_id,
                "channel": c.channel.value,
                "name": c.name,
                "created_at": c.created_at.isoformat(),
                **results[c.id],
            }
            for c in page
        ],
        "next_cursor": keyset.encode(page[-1].created_at, page[-1].id) if more and page else None,
    }


def contact_sends(session: Session, account_id: int, contact_id: int) -> list[dict[str, Any]]:
    """Every send to a contact, newest first, with what followed it."""
    rows = session.execute(
        select(CampaignSend, Campaign, CampaignPreview.content_type)
        .join(Campaign, Campaign.id == CampaignSend.campaign_id)
        .outerjoin(CampaignPreview, CampaignPreview.id == CampaignSend.preview_id)
        .where(CampaignSend.contact_id == contact_id, Campaign.account_id == account_id)
        .order_by(send_time().desc(), CampaignSend.id.desc())
    ).all()
    attributed = attribute(session, account_id, [send.id for send, _, _ in rows])
    result = []
    for send, campaign, content_type in rows:
        a = attributed.get(send.id)
        result.append(
            {
                "campaign": {"id": campaign.id, "name": campaign.name, "channel": campaign.channel.value},
                "status": send.status.value,
                **{name: iso(getattr(send, name)) for name in SEND_TIMES},
                "opened_at": iso(send.opened_at),
                "clicked_at": iso(send.clicked_at),
                "scanned_at": iso(send.scanned_at),
                "frequency_cap_overridden": send.frequency_cap_overridden,
                "preview": preview_ref(campaign.id, send.preview_id, content_type)
                if send.preview_id
                else None,
                "attribution": credited(a),
            }
        )
    return result


def credited(a: Attribution | None) -> dict[str, Any] | None:
    """A send's attribution as the API shows it: the order, when, days after the send, its totals."""
    if a is None:
        return None
    return {
        "order_id": a.order_id,
        "ordered_at": a.ordered_at.isoformat(),
        "days": a.days,
        "total_price": amount(a.total_price),
        "net_total": amount(a.net_total),
        "currency": a.currency,
    }
