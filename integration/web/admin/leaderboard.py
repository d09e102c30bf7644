"""The Leaderboard page: the account's or a store's best customers of a calendar period, ranked by
purchases, average order or total spent, each with the profile's message dialog.

The page reads the same domain function as `GET /api/v1/leaderboard`, so its rows are the API's.
The choice is a plain GET form, so it stays in the URL; "Show more" asks for a longer board. A
row's message dialog is fetched when it is opened (`/admin/leaderboard/message/<id>`, the profile's
macro), so a board of many tied customers stays a light page.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from flask import current_app, g, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from integration.analytics.leaderboard import MAX_LIMIT, RankBy, currencies, leaderboard
from integration.analytics.periods import TimeFrame
from integration.campaigns.sends import frequency_cap
from integration.contacts.lists import contact_detail
from integration.store.models import Account, Sender, Store
from integration.store.types import iso, utcnow
from integration.web.admin.customer import refusal_texts
from integration.web.admin.frame import blueprint
from integration.web.admin.i18n import day_label, money, number
from integration.web.admin.viewer import admin_page
from integration.web.context import db

PAGE_SIZE = 25  # customers shown first, and added by each "Show more"
CURRENCY = re.compile(r"^[A-Z]{3}$")
STAND_IN_ID = 987654321987  # in a URL made once for every row, replaced by each row's customer

Choice = TypeVar("Choice", bound=StrEnum)


def rank_by_labels() -> dict[RankBy, str]:
    """The metrics a board is ranked by, in the page's language."""
    return {
        RankBy.TOTAL_SPENT: _("Total spent"),
        RankBy.PURCHASES: _("Number of purchases"),
        RankBy.AVERAGE_ORDER: _("Average order amount"),
    }


def time_frame_labels() -> dict[TimeFrame, str]:
    """The calendar periods a board covers, in the page's language."""
    return {
        TimeFrame.LAST_WEEK: _("Last week"),
        TimeFrame.LAST_MONTH: _("Last month"),
        TimeFrame.MONTH_TO_DATE: _("Month to date"),
        TimeFrame.LAST_QUARTER: _("Last quarter"),
        TimeFrame.QUARTER_TO_DATE: _("Quarter to date"),
        TimeFrame.LAST_YEAR: _("Last year"),
        TimeFrame.YEAR_TO_DATE: _("Year to date"),
    }


def _choice(name: str, kind: type[Choice], default: Choice) -> Choice:
    try:
        return kind(request.args.get(name, default.value))
    except ValueError:
        return default


def _limit() -> int:
    try:
        asked = int(request.args.get("limit", PAGE_SIZE))
    except ValueError:
        return PAGE_SIZE
    return min(max(asked, 1), MAX_LIMIT)


@dataclass(frozen=True)
class BoardChoice:
    """The board the page's form asks for (the API's query); anything else asked is the default."""

    rank_by: RankBy
    time_frame: TimeFrame
    store_id: int | None  # None: the whole account
    currency: str | None  # None: the store's, or the period's most common

    def query(self) -> dict[str, Any]:
        """The choice as the page's URL states it."""
        return {
            "rank_by": self.rank_by.value,
            "time_frame": self.time_frame.value,
            "store": self.store_id,
            "currency": self.currency,
        }


def asked_choice(stores: dict[int, Store]) -> BoardChoice:
    """The board the request asks for, among the account's stores."""
    store_id = request.args.get("store", type=int)
    currency = request.args.get("currency", "")
    return BoardChoice(
        rank_by=_choice("rank_by", RankBy, RankBy.TOTAL_SPENT),
        time_frame=_choice("time_frame", TimeFrame, TimeFrame.LAST_MONTH),
        store_id=store_id if store_id in stores else None,
        currency=currency if CURRENCY.match(currency) else None,
    )


def board_of(account_id: int, choice: BoardChoice, limit: int) -> dict[str, Any]:
    """The board of `limit` rows as the API gives it, whether a longer one has more, and the dialogs' data."""
    now = utcnow()
    # The board of `limit` rows is the first rows of a longer board, down to the last customer tied
    # with row `limit` (same order, same ranks); a row past those tells that "Show more" has more.
    asked = limit
    while True:
        board = leaderboard(
            db.session,
            account_id,
            rank_by=choice.rank_by,
            time_frame=choice.time_frame,
            store_id=choice.store_id,
            currency=choice.currency,
            limit=min(asked + 1, MAX_LIMIT),
            now=now,
        )
        rows = board["rows"]
        cut = rows[limit - 1]["rank"] if len(rows) > limit else None
        kept = [r for r in rows if cut is None or r["rank"] <= cut]
        if len(rows) > len(kept) or len(rows) <= asked or len(rows) >= MAX_LIMIT:
            break
        asked = len(rows)  # all tied with row `limit`: look past them
    board["rows"], board["more"] = kept, len(rows) > len(kept)
    if board["more"]:
        board["more_tied"] = False  # the board of `limit` rows stopped short of MAX_LIMIT
    board["choice"], board["limit"] = choice, limit
    board["currencies"] = currencies(
        db.session, account_id, time_frame=choice.time_frame, store_id=choice.store_id, now=now
    )
    shown = Shown()
    ties = Counter(r["rank"] for r in kept)
    # Each row's two links differ by the customer's id alone: made once, with a stand-in id.
    profile_url = url_for("admin.contact", contact_id=STAND_IN_ID)
    dialog_url = url_for("admin.leaderboard_message", contact_id=STAND_IN_ID)
    for row in kept:
        customer = str(row["contact"]["id"])
        row["profile_url"] = profile_url.replace(str(STAND_IN_ID), customer, 1)
        row["dialog_url"] = dialog_url.replace(str(STAND_IN_ID), customer, 1)
        row["tied"] = ties[row["rank"]] > 1
        row["last_order_day"] = row["last_order_at_local"][:10]  # the calendar day in the board's zone
        row["labels"] = {
            "rank": shown.number(row["rank"]),
            "purchases": shown.number(row["purchases"]),
            "average_order": shown.money(row["average_order"], row["currency"]),
            "total_spent": shown.money(row["total_spent"], row["currency"]),
            "last_order": shown.day(row["last_order_day"]),
        }
    return board


class Shown:
    """Numbers, amounts and days written the locale's way, each value once: a board of tied
    customers repeats its values (up to MAX_LIMIT rows), and writing one is the page's dearest step."""

    def __init__(self) -> None:
        self._written: dict[tuple[str, ...], str] = {}

    def _once(self, key: tuple[str, ...], write: Callable[[], str]) -> str:
        if key not in self._written:
            self._written[key] = write()
        return self._written[key]

    def number(self, value: int) -> str:
        return self._once(("number", str(value)), lambda: number(value))

    def money(self, amount: str, currency: str) -> str:
        return self._once(("money", amount, currency), lambda: money(amount, currency))

    def day(self, day: str) -> str:
        return self._once(("day", day), lambda: day_label(day, long=True))


@blueprint.get("/leaderboard", endpoint="leaderboard")  # the module's name, not the domain's
@admin_page
def leaderboard_page() -> str:
    """The account's best customers of a calendar period, by the metric and store chosen."""
    account = db.session.get(Account, g.viewer.account_id)
    assert account is not None  # noqa: S101 - the viewer's account exists
    g.time_zone = account.time_zone
    stores = {
        s.id: s
        for s in db.session.scalars(select(Store).where(Store.account_id == account.id).order_by(Store.name))
    }
    choice = asked_choice(stores)
    board = board_of(account.id, choice, _limit())
    return render_template(
        "admin/leaderboard.html",
        title=_("Loyalty leaderboard"),
        metric=rank_by_labels()[choice.rank_by],
        frame=time_frame_labels()[choice.time_frame],
        period_start=day_label(board["period"]["from"], long=True),
        period_end=day_label(board["period"]["to"], long=True),
        board=board,
        rank_by=choice.rank_by,
        rank_by_options=list(rank_by_labels().items()),
        time_frame=choice.time_frame,
        time_frame_options=list(time_frame_labels().items()),
        store_options=[("", _("All stores"))] + [(str(i), s.name) for i, s in stores.items()],
        currency_options=[("", _("Default currency"))] + [(c, c) for c in board["currencies"]],
        others=[c for c in board["currencies"] if c != board["currency"]],
        more_url=url_for("admin.leaderboard", **choice.query(), limit=board["limit"] + PAGE_SIZE)
        if board["more"]
        else None,
    )


@blueprint.get("/leaderboard/message/<int:contact_id>", endpoint="leaderboard_message")
@admin_page
def message_dialog(contact_id: int) -> str | tuple[str, int]:
    """A row's message dialog, the profile's own, fetched when "Message customer" is pressed."""
    account = db.session.get(Account, g.viewer.account_id)
    assert account is not None  # noqa: S101 - the viewer's account exists
    g.time_zone = account.time_zone
    found = contact_detail(db.session, account.id, contact_id)
    if found is None:
        return "", 404
    cap = frequency_cap(db.session, account.id, contact_id, utcnow())
    refusals = refusal_texts()
    return render_template(
        "admin/leaderboard_message.html",
        contact={
            **found,
            "last_contacted_at": iso(cap.last_contacted_at),
            "recently_contacted": cap.recently_contacted,
            "frequency_cap_days": cap.days,
        },
        has_sender=db.session.get(Sender, account.id) is not None,
        sender_url=url_for("admin.settings_page", _anchor="sender")
        if "admin.settings_page" in current_app.view_functions
        else None,
        refusals=refusals,
        # A plain string: the form's attribute escapes its quotes.
        refusals_json=json.dumps(refusals, ensure_ascii=False),
    )
