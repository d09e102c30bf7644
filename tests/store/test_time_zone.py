"""The store's PostgreSQL sessions run in UTC whatever the server's or database's default time zone.

A days interval added to a timestamptz keeps the session zone's local time of day: in a zone with
daylight saving, one "day" across the change is 23 or 25 hours. Windows counted in days (campaign
attribution, cart recovery) must be exactly N × 24 hours.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from integration.campaigns.results import contact_sends
from integration.campaigns.sends import SendInput, record_sends, save_campaign
from integration.ingest import ingest_customers, ingest_orders
from integration.store import session_scope
from integration.store.db import dispose_engines, get_engine, upgrade
from integration.store.models import Account, CampaignChannel, SendStatus
from tests.support.builders import customer, make_store, order
from tests.support.servers import fresh_database

# Central European Summer Time ends on 25 October 2026, 01:00 UTC.
SENT = datetime(2026, 10, 18, 12, 0, tzinfo=UTC)


@pytest.fixture
def warsaw_database(postgres_admin_url: str) -> Iterator[str]:
    """A migrated database whose default time zone is Europe/Warsaw."""
    with fresh_database(postgres_admin_url) as url:
        name = make_url(url).database
        conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f"ALTER DATABASE \"{name}\" SET timezone TO 'Europe/Warsaw'")
        upgrade(url)
        yield url
        dispose_engines()


def test_sessions_run_in_utc_where_the_database_default_is_another_zone(warsaw_database: str) -> None:
    with get_engine(warsaw_database).connect() as conn:
        assert conn.execute(text("SHOW TimeZone")).scalar() == "UTC"
        later = conn.execute(text("SELECT CAST(:t AS timestamptz) + interval '7 days'"), {"t": SENT}).scalar()
    assert later == SENT + timedelta(days=7)  # across the change: still 168 hours


@pytest.mark.parametrize(("minutes", "credited"), [(-1, True), (0, False)])
def test_the_attribution_window_is_whole_days_across_daylight_saving(
    warsaw_database: str, minutes: int, credited: bool
) -> None:
    with session_scope(warsaw_database) as session:
        store = make_store(session)
        ingest_customers(session, store, [customer("1", "ann@example.com")])
        campaign = save_campaign(session, store.account_id, channel=CampaignChannel.EMAIL, name="Autumn")
        [ann], _ = record_sends(
            session,
            store.account_id,
            campaign.id,
            [SendInput(SendStatus.SENT, email="ann@example.com", sent_at=SENT)],
        )
        account = session.get(Account, store.account_id)
        assert account is not None
        window = timedelta(days=account.attribution_window_days)
        ingest_orders(
            session, store, [order("o1", SENT + window + timedelta(minutes=minutes), customer_id="1")]
        )
        [send] = contact_sends(session, store.account_id, ann)
        assert (send["attribution"] is not None) is credited
