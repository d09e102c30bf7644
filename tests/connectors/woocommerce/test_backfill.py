"""A WooCommerce shop read through its REST API: set-up, backfill page by page (resumable), the
hourly webhook check and reconciliation, the daily customer pass, and rejected keys."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import responses
from click.testing import CliRunner
from sqlalchemy import func, select, update

from connectors.woocommerce import backfill, setup
from connectors.woocommerce.connection import Keys, connect, connected
from integration.accounts import add_store, create_account
from integration.cli import cli
from integration.errors import RetriableConnectorError
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import (
    Backfill,
    Contact,
    Notification,
    NotificationKind,
    Order,
    Platform,
    Store,
    StoreCustomer,
    StoreState,
)
from integration.store.types import utcnow
from jobs.queues import INGEST, queue
from jobs.woocommerce import backfill_job, reconcile_store_job, set_up_store_job, woocommerce_upkeep_job
from tests.support.woocommerce import KEY, SECRET, SHOP_ADDRESS, SHOP_URL, Shop, customer, order


@pytest.fixture
def shop(dns: dict[str, list[str]]) -> Iterator[Shop]:
    dns["shop.example"] = [SHOP_ADDRESS]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield Shop(mock)


@pytest.fixture
def store_id(settings: Settings) -> int:
    """The shop connected to a new account (with the placeholder details a callback gives it)."""
    with session_scope(settings.database_url) as session:
        account = create_account(session, "Woo merchant", "Europe/Warsaw").id
        store, new = connect(
            session,
            settings,
            account,
            SHOP_URL,
            Keys(KEY, SECRET),
            name="shop",
            currency="XXX",
            time_zone="UTC",
        )
        assert new
        return store.id


def _count(settings: Settings, model: Any, store_id: int) -> int:
    with session_scope(settings.database_url) as session:
        return int(
            session.scalar(select(func.count()).select_from(model).where(model.store_id == store_id)) or 0
        )


def _stages(settings: Settings, store_id: int) -> list[tuple[str, str, int | None, int | None, int, int]]:
    with session_scope(settings.database_url) as session:
        return [
            (b.stage, b.status.value, b.page, b.pages, b.records, b.invalid)
            for b in session.scalars(
                select(Backfill).where(Backfill.store_id == store_id).order_by(Backfill.id)
            )
        ]


def test_set_up_takes_the_shops_details_subscribes_and_backfills_every_page(
    settings: Settings, shop: Shop, store_id: int, run_worker: Any
) -> None:
    shop.customers = [customer(1000 + i, f"c{i}@example.com") for i in range(230)]
    shop.orders = [order(5000 + i, f"c{i % 150}@example.com") for i in range(120)]

    assert set_up_store_job(store_id)
    run_worker()

    with session_scope(settings.database_url) as session:
        store = session.get(Store, store_id)
        assert store is not None
        assert (store.name, store.currency, store.time_zone) == ("Shop Example", "EUR", "Europe/Madrid")
    delivery = f"{settings.app_url}/webhooks/woocommerce/{store_id}"
    assert sorted(h["topic"] for h in shop.webhooks) == sorted(setup.TOPICS)
    assert {(h["delivery_url"], h["status"]) for h in shop.webhooks} == {(delivery, "active")}
    secret = connected(settings, store_id).webhook_secret
    assert {h["secret_set"] for h in shop.webhooks} == {secret}  # the one the receiver checks
    # Customers in three pages (100, 100, 30), orders in two, all of them, oldest id first.
    assert _stages(settings, store_id) == [
        ("customers", "completed", 4, 3, 230, 0),
        ("orders", "completed", 3, 2, 120, 0),
    ]
    reads = [(call, q["page"]) for call, q in shop.calls if call in ("GET customers", "GET orders")]
    assert reads == [("GET customers", "1"), ("GET customers", "2"), ("GET customers", "3")] + [
        ("GET orders", "1"),
        ("GET orders", "2"),
    ]
    assert all(q["per_page"] == "100" and q["orderby"] == "id" for c, q in shop.calls if c == "GET orders")
    assert _count(settings, StoreCustomer, store_id) == 230
    assert _count(settings, Order, store_id) == 120
    with session_scope(settings.database_url) as session:
        # Guest orders belong to the contacts of their billing addresses: no one is made twice.
        assert session.scalar(select(func.count()).select_from(Contact)) == 230


def test_a_backfill_stopped_mid_way_goes_on_from_its_page_without_loss_or_repeats(
    settings: Settings, shop: Shop, store_id: int
) -> None:
    shop.customers = [customer(1000 + i, f"c{i}@example.com") for i in range(250)]
    stage = backfill.start(settings, store_id)
    woo = connected(settings, store_id).client
    woo.http.sleep = lambda _s: None
    shop.failing["customers"] = []
    # Page 1 is read; page 2 answers 503 through every retry: the stage stops at page 2.
    original = woo.page

    def flaky(path: str, number: int, params: Any = None) -> Any:
        if number == 2 and not shop.failing.get("stopped"):
            shop.failing["stopped"] = [1]
            shop.failing["customers"] = [503] * 10
        return original(path, number, params)

    woo.page = flaky  # type: ignore[method-assign]
    with pytest.raises(RetriableConnectorError):
        backfill.run(settings, woo, stage, throttle_seconds=0)
    assert _stages(settings, store_id) == [("customers", "running", 2, 3, 100, 0)]
    assert _count(settings, StoreCustomer, store_id) == 100

    shop.failing["customers"] = []
    status, following = backfill.run(settings, woo, stage, throttle_seconds=0)
    assert status == "completed"
    assert following is not None
    assert _stages(settings, store_id)[0] == ("customers", "completed", 4, 3, 250, 0)
    pages = [q["page"] for c, q in shop.calls if c == "GET customers"]
    assert pages.count("1") == 1
    assert pages[-2:] == ["2", "3"]
    assert _count(settings, StoreCustomer, store_id) == 250


def test_a_slice_hands_the_stage_on_and_a_second_worker_cannot_take_it_meanwhile(
    settings: Settings, shop: Shop, store_id: int
) -> None:
    shop.customers = [customer(1000 + i, f"c{i}@example.com") for i in range(150)]
    stage = backfill.start(settings, store_id)
    woo = connected(settings, store_id).client
    assert backfill.run(settings, woo, stage, slice_seconds=0, throttle_seconds=0) == ("running", stage)
    assert _stages(settings, store_id) == [("customers", "running", 2, 2, 100, 0)]
    with session_scope(settings.database_url) as session:  # another worker holds it now
        session.execute(update(Backfill).where(Backfill.id == stage).values(status="importing"))
    assert backfill.run(settings, woo, stage, throttle_seconds=0) == ("importing", None)
    assert _count(settings, StoreCustomer, store_id) == 100


def test_refused_records_are_counted_and_named_by_page_and_position_and_the_others_kept(
    settings: Settings, shop: Shop, store_id: int
) -> None:
    shop.orders = [order(5000 + i, f"c{i}@example.com") for i in range(5)]
    shop.orders[3]["date_created_gmt"] = "not a time"
    stage = backfill.start(settings, store_id)
    with session_scope(settings.database_url) as session:
        session.execute(update(Backfill).where(Backfill.id == stage).values(stage="orders"))
    assert backfill.run(settings, connected(settings, store_id).client, stage)[0] == "completed"
    assert _count(settings, Order, store_id) == 4
    with session_scope(settings.database_url) as session:
        made = session.get(Backfill, stage)
        assert made is not None
        assert made.invalid == 1
        assert made.error is not None
        assert made.error.startswith("page 1, item 4 (id 5003): ")
        assert "date_created_gmt" in made.error


def test_the_hourly_check_reenables_a_disabled_webhook_recreates_a_deleted_one_and_leaves_a_paused_one(
    settings: Settings, shop: Shop, store_id: int
) -> None:
    shop.orders = []
    woo = connected(settings, store_id)
    setup.ensure_webhooks(woo.client, woo.delivery_url, woo.webhook_secret)
    assert len(shop.webhooks) == 6
    by_topic = {h["topic"]: h for h in shop.webhooks}
    by_topic["order.created"]["status"] = "disabled"  # five failed deliveries in a row
    by_topic["customer.updated"]["status"] = "paused"  # the shop's owner paused it
    shop.webhooks.remove(by_topic["order.deleted"])  # deleted in WordPress
    shop.webhooks.append(
        {**by_topic["order.updated"], "id": 999, "delivery_url": "https://other.example/hook"}
    )

    assert reconcile_store_job(store_id) == 0
    assert by_topic["order.created"]["status"] == "active"
    assert by_topic["customer.updated"]["status"] == "paused"
    ours = [h for h in shop.webhooks if h["delivery_url"] == woo.delivery_url]
    assert sorted(h["topic"] for h in ours) == sorted(setup.TOPICS)  # re-created, none twice
    check = setup.ensure_webhooks(woo.client, woo.delivery_url, woo.webhook_secret)
    assert check.created == ()
    assert check.reactivated == ()
    assert check.paused == ("customer.updated",)


def test_a_lost_delivery_is_found_by_the_reconciliation_of_modified_orders(
    settings: Settings, shop: Shop, store_id: int
) -> None:
    with session_scope(settings.database_url) as session:
        store = session.get(Store, store_id)
        assert store is not None
        store.reconciled_at = utcnow() - timedelta(hours=1)
        since = store.reconciled_at - backfill.RECONCILE_OVERLAP
    recent = (utcnow() - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%S")
    old = (utcnow() - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%S")
    # The webhook of order 7001 never arrived; order 7000 changed long ago.
    shop.orders = [
        order(7000, "old@example.com", modified=old),
        order(7001, "lost@example.com", modified=recent),
    ]
    woo = connected(settings, store_id)
    setup.ensure_webhooks(woo.client, woo.delivery_url, woo.webhook_secret)

    assert reconcile_store_job(store_id) == 1
    with session_scope(settings.database_url) as session:
        assert session.scalars(select(Order.external_id).where(Order.store_id == store_id)).all() == ["7001"]
        store = session.get(Store, store_id)
        assert store is not None
        assert store.reconciled_at is not None
        assert store.reconciled_at > since
    (query,) = [q for c, q in shop.calls if c == "GET orders"]
    assert query["modified_after"] == since.strftime("%Y-%m-%dT%H:%M:%S")
    assert query["dates_are_gmt"] == "true"


def test_the_daily_customer_pass_writes_only_pages_whose_digest_changed(
    settings: Settings, shop: Shop, store_id: int
) -> None:
    shop.customers = [customer(1000 + i, f"c{i}@example.com") for i in range(150)]
    woo = connected(settings, store_id).client
    assert backfill.refresh_customers(settings, woo, store_id) == 150
    assert backfill.refresh_customers(settings, woo, store_id) == 0  # nothing changed
    shop.customers[120] = customer(1120, "new-address@example.com", date_modified_gmt="2026-11-30T10:00:00")
    assert backfill.refresh_customers(settings, woo, store_id) == 50  # only the second page
    with session_scope(settings.database_url) as session:
        email = session.scalar(
            select(Contact.email)
            .join(StoreCustomer, StoreCustomer.contact_id == Contact.id)
            .where(StoreCustomer.store_id == store_id, StoreCustomer.external_id == "1120")
        )
    assert email == "new-address@example.com"


def test_rejected_keys_disconnect_the_store_and_tell_the_account(
    settings: Settings, shop: Shop, store_id: int
) -> None:
    shop.key = "ck_" + "z" * 40  # the merchant revoked storepulse's key in WordPress
    assert set_up_store_job(store_id) is False
    with session_scope(settings.database_url) as session:
        store = session.get(Store, store_id)
        assert store is not None
        assert (store.state, store.credentials) == (StoreState.DISCONNECTED, None)
        (told,) = session.scalars(select(Notification).where(Notification.account_id == store.account_id))
        assert told.kind == NotificationKind.STORE_DISCONNECTED
        assert told.data["store_id"] == store_id
    assert reconcile_store_job(store_id) == 0  # nothing is asked of the shop any more
    assert [c for c, _ in shop.calls].count("GET data/currencies/current") == 1


def test_the_upkeep_sets_up_a_store_never_set_up_and_resumes_a_stage_whose_job_was_lost(
    settings: Settings, shop: Shop, store_id: int, run_worker: Any
) -> None:
    shop.customers = [customer(1000 + i, f"c{i}@example.com") for i in range(120)]
    assert woocommerce_upkeep_job()["set_up"] == 1
    with session_scope(settings.database_url) as session:  # the set-up job is lost; a stage waits
        stage = Backfill(store_id=store_id, stage="customers", page=2, pages=2, records=100, status="running")
        stage.claimed_at = utcnow() - timedelta(hours=1)
        session.add(stage)
        store = session.get(Store, store_id)
        assert store is not None
        store.reconciled_at = utcnow()  # not due for its hourly check
    queue(settings, INGEST).empty()  # the jobs are lost
    counts = woocommerce_upkeep_job()
    assert counts["resumed"] == 1
    assert counts["set_up"] == 0
    run_worker()
    assert _stages(settings, store_id)[0] == ("customers", "completed", 3, 2, 120, 0)
    assert [q["page"] for c, q in shop.calls if c == "GET customers"] == ["2"]  # from where it stood


def test_shopify_upkeep_leaves_woocommerce_stages_alone(settings: Settings, store_id: int) -> None:
    from connectors.shopify import backfill as shopify_backfill

    with session_scope(settings.database_url) as session:
        stage = Backfill(store_id=store_id, stage="orders", page=3, pages=9, status="running")
        stage.started_at = stage.claimed_at = utcnow() - timedelta(hours=2)
        session.add(stage)
    assert shopify_backfill.due(settings, timedelta(minutes=2), timedelta(hours=1)) == {
        "running": [],
        "pending": [],
    }
    assert backfill_job(10**9) == "missing"


def test_the_command_line_backfills_now_with_its_progress_and_shows_the_status(
    settings: Settings, shop: Shop, store_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("integration.cli.common.get_settings", lambda: settings)
    shop.customers = [customer(1000 + i, f"c{i}@example.com") for i in range(120)]
    shop.orders = [order(5000, "c1@example.com")]
    ran = CliRunner().invoke(cli, ["woocommerce", "backfill", str(store_id), "--now"])
    assert ran.exit_code == 0, ran.output
    assert ran.output.splitlines() == [
        "  customers  completed  page 2 of 2, 120 records, 0 invalid",
        "  orders     completed  page 1 of 1, 1 records, 0 invalid",
        f"backfill of store {store_id} completed",
    ]
    shown = CliRunner().invoke(cli, ["woocommerce", "status", str(store_id)])
    assert shown.output.splitlines()[1:] == [
        "  customers  completed  2 pages, 120 records, 0 invalid",
        "  orders     completed  1 pages, 1 records, 0 invalid",
    ]
    with session_scope(settings.database_url) as session:
        other = create_account(session, "CSV people").id
        csv_store = add_store(session, other, platform=Platform.CSV, name="CSV", currency="EUR").id
    refused = CliRunner().invoke(cli, ["woocommerce", "status", str(csv_store)])
    assert refused.exit_code == 1
    assert f"store {csv_store} is not a WooCommerce store" in refused.output
