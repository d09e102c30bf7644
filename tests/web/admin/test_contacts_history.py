"""The Contacts page over time: the 30-day change and its movements, the trend, a new time frame."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import force_locale
from sqlalchemy import select, update

from integration.analytics import history
from integration.analytics.stats import refresh_stats
from integration.contacts.engagement import classify
from integration.ingest import ingest_customers, ingest_events
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import (
    Account,
    Contact,
    ContactSnapshot,
    EngagementStatus,
    EngagementTransition,
    InteractionType,
    SubscriptionStatus,
    SubscriptionTransition,
)
from integration.store.types import utcnow
from integration.web.admin.contacts import group_names
from integration.web.admin.i18n import day_label, number, when
from tests.support.builders import bearer, customer, event, make_store
from tests.web.admin.pages import Hooks, sign_in

T = InteractionType
GROUPS = ("engaged", "unengaged", "blocked")
SUB, UNKNOWN, UNSUB = (
    SubscriptionStatus.SUBSCRIBED,
    SubscriptionStatus.UNKNOWN,
    SubscriptionStatus.UNSUBSCRIBED,
)


def _contacts(settings: Settings) -> tuple[int, dict[str, str]]:
    """An account of 30 contacts, classified: engaged (clicked), unengaged and blocked ones."""
    start = utcnow() - timedelta(hours=1)
    with session_scope(settings.database_url) as session:
        store = make_store(session)
        statuses = (SUB, UNKNOWN, UNSUB)
        ingest_customers(
            session,
            store,
            [
                customer(
                    str(i),
                    f"p{i}@example.com",
                    updated=start,
                    subscription_status=statuses[i % 3],
                    subscription_changed_at=start,
                )  # fmt: skip
                for i in range(30)
            ],
        )
        clicks = [event(T.EMAIL_CLICK, at=start, email=f"p{i}@example.com") for i in range(0, 30, 2)]
        bounces = [event(T.HARD_BOUNCE, at=start, email=f"p{i}@example.com") for i in range(1, 30, 7)]
        ingest_events(session, store, clicks + bounces, source="api")
        classify(session, store.account_id, now=utcnow())
        return store.account_id, bearer(session, store.account_id)


def _backdate_history(settings: Settings, account_id: int, days: int) -> None:
    """Take today's snapshot and move it, and every change logged before it, `days` days back."""
    shift = timedelta(days=days)
    with session_scope(settings.database_url) as session:
        history.take_snapshot(session, utcnow())
        for model in (EngagementTransition, SubscriptionTransition):
            for row in session.scalars(select(model).where(model.account_id == account_id)):
                row.at = row.at - shift
        for snap in session.scalars(select(ContactSnapshot).where(ContactSnapshot.account_id == account_id)):
            snap.day, snap.taken_at = snap.day - shift, snap.taken_at - shift


def _changes_since(settings: Settings, account_id: int) -> None:
    """New contacts, moves between groups, unsubscriptions and a deletion after the snapshot."""
    now = utcnow()
    with session_scope(settings.database_url) as session:
        store = make_store(session, account_id=account_id)
        ingest_customers(
            session, store, [customer(f"n{i}", f"new{i}@example.com", updated=now) for i in range(4)]
        )
        ingest_events(
            session,
            store,
            [
                event(T.EMAIL_CLICK, at=now, email=f"p{i}@example.com") for i in (3, 5, 9)
            ]  # unengaged → engaged
            + [event(T.EMAIL_CLICK, at=now, email="new0@example.com")]
            + [event(T.SPAM_COMPLAINT, at=now, email=f"p{i}@example.com") for i in (0, 4)]  # → blocked
            + [event(T.UNSUBSCRIBE, at=now, email=f"p{i}@example.com") for i in (6, 12, 7)],
            source="api",
        )
        session.execute(update(Contact).where(Contact.email == "p10@example.com").values(deleted_at=now))
        classify(session, account_id, now=utcnow())
        refresh_stats(session, account_id)


def _figure(text: str) -> int:
    """A signed English count as shown (+1,234 / −5) as an int."""
    sign = -1 if text.startswith(("−", "-")) else 1
    return sign * int(re.sub(r"[^0-9]", "", text))


@pytest.mark.parametrize("tab", ["subscribed", "unknown", "subscribed_unknown"])
def test_the_30_day_change_shows_the_movements_that_add_up_to_it(
    client: FlaskClient, settings: Settings, tab: str
) -> None:
    account_id, headers = _contacts(settings)
    _backdate_history(settings, account_id, 30)
    _changes_since(settings, account_id)
    sign_in(client, settings.database_url, account_id, locale="en")
    api = client.get("/api/v1/contacts/stats", query_string={"subscription": tab}, headers=headers).get_json()
    page = Hooks(client.get("/admin/", query_string={"subscription": tab}).get_data(as_text=True))
    moved = 0
    for group in GROUPS:
        card, change = f"group-{group}", api["groups"][group]["change_30d"]
        count = _figure(page.text("data-count", card))
        shown = {h.attrs["data-move"]: _figure(" ".join(h.text.split())) for h in page.all("data-move", card)}
        delta = _figure(page.text("data-delta", card))
        assert count == api["groups"][group]["count"]
        assert shown["count_then"] == change["count_then"]
        assert delta == count - change["count_then"]
        assert (
            shown["count_then"]
            + shown["new"]
            + shown["moved_in"]
            + shown["moved_out"]
            + shown["unsubscribed_or_deleted"]
            == count
        )  # moved_out and unsubscribed_or_deleted are shown with their minus sign
        assert [shown[k] for k in ("new", "moved_in")] == [change["new"], change["moved_in"]]
        assert [-shown[k] for k in ("moved_out", "unsubscribed_or_deleted")] == [
            change["moved_out"],
            change["unsubscribed_or_deleted"],
        ]
        if change["percent_change"] is not None:
            assert (
                page.one("data-percent-change", card).attrs["data-percent-change"] == change["percent_change"]
            )
        assert "in 30 days" in page.one("data-change", card).text
        moved += sum(abs(v) for k, v in shown.items() if k != "count_then")
    assert moved > 0  # the history above moves contacts under every filter


def test_without_an_old_count_the_card_says_when_the_change_appears(
    app: Flask, client: FlaskClient, settings: Settings
) -> None:
    account_id, _ = _contacts(settings)
    sign_in(client, settings.database_url, account_id, locale="en")
    # The time the page names moves with the clock: it is the one due just before or just after the request.
    before = utcnow()
    html = client.get("/admin/").get_data(as_text=True)
    after = utcnow()
    page = Hooks(html)
    assert not page.all("data-change")
    with session_scope(settings.database_url) as session:
        zone = session.get(Account, account_id).time_zone  # type: ignore[union-attr]
        dues = {history.next_snapshot_at(session, account_id, moment) for moment in (before, after)}
    with app.test_request_context():
        from flask import g

        g.time_zone = zone
        with force_locale("en"):
            expected = {when(due) for due in dues}
    for group in GROUPS:
        shown = page.text("data-change-pending", f"group-{group}")
        assert any(text in shown for text in expected), (shown, expected)
    trend = html.split('id="trend-empty"')[1]
    assert any(text in trend for text in expected)


def test_the_next_count_comes_when_the_page_says(settings: Settings, run_worker: Any) -> None:
    from jobs.compute import snapshot_contacts_job
    from jobs.queues import COMPUTE, enqueue

    account_id, _ = _contacts(settings)
    now = utcnow()
    with session_scope(settings.database_url) as session:
        due = history.next_snapshot_at(session, account_id, now)
    assert now < due <= now + timedelta(hours=1, minutes=1)
    enqueue(settings, COMPUTE, snapshot_contacts_job)  # what the scheduler's hourly tick runs
    run_worker()
    with session_scope(settings.database_url) as session:
        points = history.trend(session, account_id, [SUB, UNKNOWN], now.date())
        assert [p["day"] for p in points] == [now.date().isoformat()]
        after = history.next_snapshot_at(session, account_id, now)
    tomorrow = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    assert after == tomorrow + timedelta(hours=1)


def _snapshots(settings: Settings, account_id: int, counts: dict[int, tuple[int, int, int]]) -> None:
    """Daily snapshot rows: {days ago: (engaged, unengaged, blocked)} of subscribed contacts, plus
    one unsubscribed row a day that no tab counts."""
    now = utcnow()
    with session_scope(settings.database_url) as session:
        for ago, numbers in counts.items():
            day = (now - timedelta(days=ago)).date()
            for group, n in zip(EngagementStatus, numbers, strict=False):
                session.add(ContactSnapshot(account_id=account_id, day=day, subscription_status=SUB,
                                            engagement_status=group, contacts=n, taken_at=now))  # fmt: skip
            session.add(ContactSnapshot(account_id=account_id, day=day, subscription_status=UNSUB,
                                        engagement_status=EngagementStatus.ENGAGED, contacts=999,
                                        taken_at=now))  # fmt: skip


def test_the_trend_chart_and_its_table_show_the_apis_series(
    app: Flask, client: FlaskClient, settings: Settings
) -> None:
    account_id, headers = _contacts(settings)
    assert list(EngagementStatus)[:3] == [EngagementStatus(g) for g in GROUPS]
    _snapshots(
        settings, account_id, {120: (1, 1, 1), 60: (1200, 340, 5), 20: (1250, 330, 6), 2: (1301, 310, 9)}
    )
    api = client.get("/api/v1/contacts/trend", headers=headers).get_json()
    assert api["days"] == 90
    assert api["subscription"] == "subscribed_unknown"
    assert [(p["engaged"], p["unengaged"], p["blocked"]) for p in api["points"]] == [
        (1200, 340, 5),
        (1250, 330, 6),
        (1301, 310, 9),
    ]
    with session_scope(settings.database_url) as session:
        due = history.next_snapshot_at(session, account_id, utcnow())
    assert datetime.fromisoformat(api["next_snapshot_at"]) == due
    spec = client.get("/api/v1/openapi.json").get_json()
    assert "days" in str(spec["paths"]["/api/v1/contacts/trend"]["get"]["parameters"])
    short = client.get("/api/v1/contacts/trend?days=30&subscription=subscribed", headers=headers).get_json()
    assert len(short["points"]) == 2
    for bad in ("0", "367", "x"):
        assert client.get(f"/api/v1/contacts/trend?days={bad}", headers=headers).status_code == 422

    sign_in(client, settings.database_url, account_id, locale="pl")
    html = client.get("/admin/").get_data(as_text=True)
    start = html.index('<svg class="chart"')
    svg = html[start : html.index("</svg>", start)]
    series = re.findall(r'<g class="series" data-series="(\w+)"><title>([^<]+)</title><polyline', svg)
    assert [key for key, _ in series] == list(GROUPS)
    page = Hooks(html)
    with app.test_request_context(), force_locale("pl"):
        names = group_names()
        assert [title for _, title in series] == [names[group] for group in GROUPS]
        for point in api["points"]:
            for group in GROUPS:
                cell = [
                    h
                    for h in page.all(f"data-{group}", "trend-table")
                    if h.attrs[f"data-{group}"] == point["day"]
                ]
                assert [c.text for c in cell] == [number(point[group])]
            day = [h for h in page.all("data-day", "trend-table") if h.attrs["data-day"] == point["day"]]
            assert [d.text for d in day] == [day_label(point["day"], long=True)]
        assert number(1000) in svg  # the axis: 1 000 ... 2 000 in Polish, with a no-break space
        assert day_label(api["points"][0]["day"]) in svg


def test_a_single_day_is_drawn_as_points_and_an_empty_history_says_when_it_fills(
    client: FlaskClient, settings: Settings
) -> None:
    account_id, _ = _contacts(settings)
    sign_in(client, settings.database_url, account_id, locale="en")
    empty = client.get("/admin/").get_data(as_text=True)
    assert '<svg class="chart"' not in empty
    assert "The trend fills in as storepulse counts your contacts once a day" in empty
    _snapshots(settings, account_id, {0: (7, 3, 1)})
    html = client.get("/admin/").get_data(as_text=True)
    start = html.index('<svg class="chart"')
    svg = html[start : html.index("</svg>", start)]
    assert "<polyline" not in svg
    assert svg.count("<circle") == 3
    assert 'id="trend-empty"' not in html


def test_a_new_time_frame_shows_the_recount_until_the_worker_finishes_it(
    client: FlaskClient, settings: Settings, run_worker: Any
) -> None:
    account_id, headers = _contacts(settings)
    run_worker()
    sign_in(client, settings.database_url, account_id)
    assert 'id="reclassifying"' not in client.get("/admin/").get_data(as_text=True)
    assert client.get("/admin/contacts/freshness").get_json() == {"ready": True}

    answer = client.put("/api/v1/settings", json={"engagement_window_days": 30}, headers=headers)
    assert answer.status_code == 200
    html = client.get("/admin/").get_data(as_text=True)
    assert 'id="reclassifying"' in html
    assert "data-poll=" in html
    assert client.get("/admin/contacts/freshness").get_json() == {"ready": False}

    run_worker()  # the reclassification, then the statistics it asks for
    assert client.get("/admin/contacts/freshness").get_json() == {"ready": True}
    after = client.get("/admin/").get_data(as_text=True)
    assert 'id="reclassifying"' not in after
    assert "Time frame: 30 days" in after
