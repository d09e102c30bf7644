"""Billbee: orders and customers polled through its API (a stand-in on loopback enforcing Billbee's
documented limit), kept in the inbox page by page and drained by the real worker; the limit shared
by workers, 429 and Retry-After, interrupted passes, connecting, and the webhook as a nudge."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from connectors import paging
from connectors.billbee import schemas, sync
from connectors.billbee.client import BillbeeClient
from integration.accounts import create_account
from integration.errors import RetriableConnectorError
from integration.settings import Settings, configure
from integration.store import session_scope
from integration.store.models import (
    Backfill,
    Contact,
    InboxDelivery,
    Notification,
    Order,
    Store,
    StoreState,
)
from integration.store.redis import connection
from integration.store.types import utcnow
from integration.web.app import create_app
from jobs.billbee import billbee_poll_job, billbee_stage_job, billbee_upkeep_job
from jobs.queues import INGEST, queue
from tests.support.billbee import API_KEY, LOGIN, PASSWORD, StandIn, document, order, serve
from tests.support.builders import bearer
from tests.support.users import make_account, make_user, sign_in


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    made = StandIn()
    server = serve(made)
    yield made
    server.shutdown()
    server.server_close()


@pytest.fixture
def billbee(settings: Settings, stand_in: StandIn) -> Iterator[Settings]:
    """The test's settings with the operator's Billbee key and the stand-in's address."""
    made = settings.with_overrides({"billbee_api_key": API_KEY, "billbee_api_url": stand_in.url})
    configure(made)
    yield made
    configure(settings)


@pytest.fixture
def store_id(billbee: Settings) -> int:
    with session_scope(billbee.database_url) as session:
        account = create_account(session, "Billbee merchant", "Europe/Berlin").id
        store, new = sync.connect(
            session,
            billbee,
            account,
            LOGIN,
            PASSWORD,
            name="Billbee",
            currency="EUR",
            time_zone="Europe/Berlin",
        )
        assert new
        return store.id


def _client(settings: Settings, sleep: Any = None) -> BillbeeClient:
    made = sync.client(settings, LOGIN, PASSWORD)
    if sleep is not None:
        made.http.sleep = sleep
    return made


def _orders(settings: Settings, store_id: int) -> dict[str, Any]:
    with session_scope(settings.database_url) as session:
        return {
            o.external_id: (o.financial_status, o.cancelled_at is not None, o.source_name)
            for o in session.scalars(select(Order).where(Order.store_id == store_id))
        }


@pytest.mark.parametrize(
    ("state", "paid", "financial", "cancelled", "fulfilled"),
    [
        (1, False, "pending", False, False),
        (1, True, "paid", False, False),
        (3, True, "paid", False, False),
        (4, True, "paid", False, True),
        (7, False, "paid", False, True),
        (5, True, "refunded", False, False),
        (8, True, "voided", True, False),
        (6, False, "voided", True, False),
        (14, False, "voided", False, False),
    ],
)
def test_each_state_counts_as_documented(
    state: int, paid: bool, financial: str, cancelled: bool, fulfilled: bool
) -> None:
    made = document(
        "order", State=state, PayedAt="2022-08-10T00:00:00+00:00" if paid else None, ShippedAt=None
    )
    record, buyer = schemas.ORDER.load(made)
    assert (record.financial_status, record.cancelled_at is not None) == (financial, cancelled)
    assert (record.fulfillment_status == "fulfilled") is fulfilled


def test_the_documented_order_becomes_an_order_with_its_buyer_lines_money_and_shop() -> None:
    record, buyer = schemas.ORDER.load(document("order"))
    assert (record.external_id, record.number, record.currency) == ("100000186018330", "Test", "EUR")
    assert (record.total_price, record.total_shipping) == (Decimal("170.76"), Decimal("12.0"))
    assert record.created_at == datetime(2022, 7, 22, tzinfo=UTC)
    assert record.updated_at == datetime(2022, 8, 17, 9, 47, 25, tzinfo=UTC)
    assert record.source_name == "avocadostore · test"
    (line,) = record.line_items
    assert (line.title, line.sku, line.quantity) == ("Test Bestandsabgleich", "TESTBESTAND", 12)
    assert (line.unit_price, line.total_discount) == (Decimal("13.5"), Decimal("3.24"))
    assert buyer is not None
    assert (buyer.external_id, buyer.email, buyer.first_name) == (
        "100000150176895",
        "max@mustermann.tld",
        "vorname",
    )
    assert record.customer_id == buyer.external_id


def test_the_first_import_reads_customers_then_orders_and_the_worker_drains_the_pages(
    billbee: Settings, stand_in: StandIn, store_id: int, run_worker: Any
) -> None:
    stand_in.customers = [document("customer", Id=700 + i, Email=f"c{i}@example.com") for i in range(3)]
    stand_in.orders = [order(1000 + i, f"c{i % 200}@example.com") for i in range(260)]
    assert billbee_upkeep_job()["started"] == 1
    run_worker()  # the customers, the orders' two pages, then the store's drain of the pages kept
    with session_scope(billbee.database_url) as session:
        stages = session.execute(
            select(Backfill.stage, Backfill.status, Backfill.records, Backfill.pages).where(
                Backfill.store_id == store_id
            )
        ).all()
        assert sorted((s, st.value, r, p) for s, st, r, p in stages) == [
            ("customers", "completed", 3, 1),
            ("orders", "completed", 260, 2),
        ]
        assert session.scalar(select(func.count()).select_from(Order)) == 260
        assert session.scalar(select(func.count()).select_from(Contact)) == 200
        pages = session.scalar(select(func.count()).where(InboxDelivery.source == "billbee"))
        assert pages == 3
        store = session.get(Store, store_id)
        assert store is not None
        assert store.reconciled_at is not None
    assert all(r.status == 200 for r in stand_in.requests)
    assert stand_in.most_in_a_second("orders") <= 2


def test_a_pass_reads_only_what_changed_since_the_last_one(
    billbee: Settings, stand_in: StandIn, store_id: int, run_worker: Any
) -> None:
    stand_in.orders = [order(1000 + i, f"c{i}@example.com") for i in range(10)]
    billbee_upkeep_job()
    run_worker()
    now = utcnow().replace(microsecond=0).isoformat()
    stand_in.orders[3] = order(1003, "c3@example.com", modified=now, State=8)  # cancelled since
    stand_in.requests.clear()
    assert billbee_poll_job(store_id) is not None
    run_worker()
    (read,) = [r for r in stand_in.requests if r.endpoint == "orders"]
    assert read.query["modifiedAtMin"].endswith("Z")
    assert _orders(billbee, store_id)["1003"][:2] == ("voided", True)
    assert _orders(billbee, store_id)["1004"][:2] == ("paid", False)
    # Another pass reads the changed order again (the passes overlap): the same page, kept once.
    assert billbee_poll_job(store_id) is not None
    run_worker()
    assert len([r for r in stand_in.requests if r.endpoint == "orders"]) == 2
    with session_scope(billbee.database_url) as session:
        # The first import's page of orders (its empty page of customers keeps nothing), one pass's.
        assert session.scalar(select(func.count()).where(InboxDelivery.source == "billbee")) == 2


def test_a_pass_interrupted_mid_way_goes_on_from_its_page_without_loss_or_repeats(
    billbee: Settings, stand_in: StandIn, store_id: int
) -> None:
    stand_in.orders = [order(1000 + i, f"c{i}@example.com") for i in range(600)]
    stage = sync.start(billbee, store_id)
    with session_scope(billbee.database_url) as session:
        made = session.get(Backfill, stage)
        assert made is not None
        made.stage = "orders"
    client = _client(billbee, sleep=lambda _s: None)
    pages = sync.paged(client)
    original = pages.fetch

    def failing_on_page_two(kind: str, number: int, since: str | None) -> Any:
        if number == 2 and not stand_in.failing.get("done"):
            stand_in.failing["done"] = [0]
            stand_in.failing["orders"] = [503] * 5  # through every retry
        return original(kind, number, since)

    with pytest.raises(RetriableConnectorError):
        paging.run(billbee, paging.Paged(failing_on_page_two, pages.schema, pages.write, pages.stages), stage,
                   slice_seconds=60, throttle_seconds=0)  # fmt: skip
    with session_scope(billbee.database_url) as session:
        made = session.get(Backfill, stage)
        assert made is not None
        assert (made.status.value, made.page, made.records) == ("running", 2, 250)
    stand_in.failing.pop("orders", None)
    assert paging.run(billbee, pages, stage, slice_seconds=60, throttle_seconds=0)[0] == "completed"
    read = [r.page for r in stand_in.requests if r.endpoint == "orders" and r.status == 200]
    assert read == [1, 2, 3]  # page 1 never read again
    with session_scope(billbee.database_url) as session:
        made = session.get(Backfill, stage)
        assert made is not None
        assert made.records == 600
        assert session.scalar(select(func.count()).where(InboxDelivery.source == "billbee")) == 3


def test_a_429_holds_every_caller_back_for_its_retry_after(billbee: Settings, stand_in: StandIn) -> None:
    stand_in.orders = [order(1000, "c@example.com")]
    stand_in.failing["orders"] = [429]
    client = _client(billbee)
    client.page("orders", 1)
    refused, answered = stand_in.requests
    assert (refused.status, answered.status) == (429, 200)
    assert answered.at - refused.at >= 0.95  # Retry-After: 1


def test_two_workers_never_exceed_the_limit_together(billbee: Settings, stand_in: StandIn) -> None:
    stand_in.orders = [order(1000 + i, f"c{i}@example.com") for i in range(250 * 5)]
    errors: list[Exception] = []

    def read_all() -> None:
        try:
            client = _client(billbee)  # its own session and pace object: only Redis is shared
            for number in range(1, 6):
                client.page("orders", number)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    workers = [threading.Thread(target=read_all) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == []
    assert [r.status for r in stand_in.requests] == [200] * 10  # no 429: the limit was kept
    assert stand_in.most_in_a_second("orders") <= 2
    span = max(r.at for r in stand_in.requests) - min(r.at for r in stand_in.requests)
    assert span >= 4.0  # 10 calls at 2 a second


def test_refused_credentials_disconnect_the_store_and_tell_the_account(
    billbee: Settings, stand_in: StandIn, store_id: int
) -> None:
    stand_in.password = "changed-in-billbee"
    stage = sync.start(billbee, store_id)
    assert billbee_stage_job(stage) == "failed"
    with session_scope(billbee.database_url) as session:
        store = session.get(Store, store_id)
        assert store is not None
        assert store.state == StoreState.DISCONNECTED
        (told,) = session.scalars(select(Notification).where(Notification.account_id == store.account_id))
        assert told.data["store_id"] == store_id
    assert billbee_upkeep_job() == {"started": 0, "passes": 0, "resumed": 0}


@pytest.fixture
def web(billbee: Settings) -> FlaskClient:
    names = ("instance_path", "database_url", "redis_url", "secret_key", "encryption_keys")
    app = create_app({**{n: getattr(billbee, n) for n in names}, "billbee_api_key": API_KEY,
                      "billbee_api_url": billbee.billbee_api_url})  # fmt: skip
    app.testing = True
    return app.test_client()


def test_connecting_tries_the_login_at_once(
    web: FlaskClient, billbee: Settings, stand_in: StandIn, api_shop: dict[str, Any]
) -> None:
    body = {"login": LOGIN, "api_password": "wrong", "currency": "eur", "time_zone": "Europe/Berlin"}
    refused = web.post("/api/v1/stores/billbee", json=body, headers=api_shop["headers"])
    assert refused.status_code == 422
    assert refused.get_json()["code"] == "credentials_rejected"
    assert "api_password" in refused.get_json()["details"]
    made = web.post(
        "/api/v1/stores/billbee", json={**body, "api_password": PASSWORD}, headers=api_shop["headers"]
    )
    assert made.status_code == 201
    assert (made.get_json()["platform"], made.get_json()["currency"]) == ("billbee", "EUR")
    assert queue(billbee, INGEST).count == 1  # the upkeep, which starts the first import
    with session_scope(billbee.database_url) as session:
        other = create_account(session, "Someone else").id
        headers = bearer(session, other)
    taken = web.post("/api/v1/stores/billbee", json={**body, "api_password": PASSWORD}, headers=headers)
    assert taken.status_code == 409


def test_without_the_operators_key_billbee_cannot_connect(
    client: FlaskClient, api_shop: dict[str, Any]
) -> None:
    body = {"login": LOGIN, "api_password": PASSWORD, "currency": "EUR"}
    answer = client.post("/api/v1/stores/billbee", json=body, headers=api_shop["headers"])
    assert answer.status_code == 503
    assert answer.get_json()["code"] == "billbee_not_set_up"


def test_a_webhook_only_asks_for_an_earlier_pass(web: FlaskClient, billbee: Settings, store_id: int) -> None:
    for _ in range(3):
        assert web.post(f"/webhooks/billbee/{store_id}", data=b'{"anything": "at all"}').status_code == 202
    jobs = queue(billbee, INGEST).jobs
    assert [j.func_name for j in jobs] == ["jobs.billbee.billbee_poll_job"]  # once per 30 s
    with session_scope(billbee.database_url) as session:
        assert session.scalar(select(func.count()).select_from(InboxDelivery)) == 0  # never data
    assert web.get(f"/webhooks/billbee/{store_id}?echo=abc123").get_data(as_text=True) == "abc123"
    assert web.post(f"/webhooks/billbee/{store_id + 99}", data=b"{}").status_code == 404
    assert connection(billbee).exists(f"storepulse:billbee-poll:{store_id}")


def test_setup_offers_the_billbee_form_once_the_operator_set_the_key(
    web: FlaskClient, billbee: Settings, client: FlaskClient
) -> None:
    account = make_account(billbee, "Billbee merchant")
    sign_in(web, make_user(billbee, account, "bb-owner@example.com").email)
    page = web.get("/admin/setup/stores").get_data(as_text=True)
    form = page[page.index('id="billbee-form"') :]
    form = form[: form.index("</form>")]
    assert 'data-action="/api/v1/stores/billbee"' in form
    for name in ("login", "api_password", "name", "currency"):
        assert f'name="{name}"' in form
    assert 'id="f-billbee-currency"' in form  # its own ids beside the CSV form's fields
    assert page.count('id="f-currency"') == 1
    assert 'id="billbee-not-configured"' not in page
    # Without the key, the page says what the operator must do.
    sign_in(client, make_user(billbee, account, "bb-other@example.com").email)
    assert 'id="billbee-not-configured"' in client.get("/admin/setup/stores").get_data(as_text=True)
