"""Log lines: one per event, JSON or text, with a request id that follows a delivery to its job,
and never an email address, a token, a secret or a customer's name."""

from __future__ import annotations

import io
import json
import logging
import sys
import traceback
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
import responses
from flask import Flask
from flask.testing import FlaskClient
from gunicorn.config import Config
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from integration.crypto import new_api_key
from integration.operations.logs import (
    EMAIL_MASK,
    REDACTED,
    TOKEN_MASK,
    JsonFormatter,
    TextFormatter,
    accepted_request_id,
    configure_logging,
    request_context,
    scrub,
    scrub_value,
)
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import DestinationKind, InboxDelivery, InboxStatus
from integration.web.access_log import AccessLogger
from tests.support.builders import bearer, make_store
from tests.support.shopify import Deliver, payload
from tests.support.syncs import PUBLIC_ADDRESS, add_sync, audience, runner

LogLines = Callable[[], list[dict[str, Any]]]

# What the inputs below plant, and no line may show.
EMAIL = "quinella.zebedee@example.org"
FIRST, LAST = "Quinella", "Zebedee"
SHOPIFY_TOKEN = "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"  # noqa: S105 - a planted test value


@pytest.fixture
def log_lines(settings: Settings) -> Iterator[LogLines]:
    """Every line logged from now on, as JSON objects (the process's handler, writing to a buffer).

    Ask for it after the app: the app factory sets up logging anew.
    """
    buffer = io.StringIO()
    configure_logging(replace(settings, log_format="json"), stream=buffer)
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    configure_logging(settings)


def _record(message: str, *args: Any, exc: bool = False, **extra: Any) -> logging.LogRecord:
    record = logging.LogRecord("storepulse.test", logging.WARNING, __file__, 1, message, args, None)
    if exc:
        try:
            raise ValueError(f"cannot read {EMAIL}")
        except ValueError:
            record.exc_info = sys.exc_info()
    record.__dict__.update(extra)
    return record


# ---- the scrubber ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        (f"contact {EMAIL} merged", f"contact {EMAIL_MASK} merged"),
        (
            "GET /api/v1/contacts?email=ann%40example.com&limit=5",
            f"GET /api/v1/contacts?email={EMAIL_MASK}&limit=5",
        ),
        ("<ann.o'neil+shop@mail.example.co.uk>", f"<{EMAIL_MASK}>"),
        ("Authorization: Bearer abc.def-ghi", f"Authorization: {REDACTED} {TOKEN_MASK}"),
        (f"bearer {SHOPIFY_TOKEN}", f"bearer {TOKEN_MASK}"),
        (f"token {SHOPIFY_TOKEN} refused", f"token {TOKEN_MASK} refused"),
        ("shpua_9a8b7c6d5e4f and shpss_0011aabb", f"{TOKEN_MASK} and {TOKEN_MASK}"),
        ("key sp_0123456789ab_Zm9vYmFyYmF6LXF1eF8x revoked", f"key {TOKEN_MASK} revoked"),
        ("id_token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig-nature", f"id_token {TOKEN_MASK}"),
        ("redis://:hunter2@cache.internal:6379/0", f"redis://{REDACTED}@cache.internal:6379/0"),
        ("postgresql://shop:pw@db.internal/storepulse", f"postgresql://{REDACTED}@db.internal/storepulse"),
        ("client_secret=abc123&shop=x", f"client_secret={REDACTED}&shop=x"),
        ('{"password": "hunter2", "id": 1}', f'{{"password": "{REDACTED}", "id": 1}}'),
        (
            '{"first_name": "Ann", "last_name": "Lee", "id": 1}',
            f'{{"first_name": {REDACTED}, "last_name": {REDACTED}, "id": 1}}',
        ),
        ("{'name': 'Ann Lee', 'queue_name': 'ingest'}", f"{{'name': {REDACTED}, 'queue_name': 'ingest'}}"),
        # Ordinary words stay.
        (
            "refresh token failed; hostname=db1, queue_name=ingest",
            "refresh token failed; hostname=db1, queue_name=ingest",
        ),
        (
            "inbox delivery 12 failed (attempt 2): ValueError",
            "inbox delivery 12 failed (attempt 2): ValueError",
        ),
    ],
)
def test_the_scrubber_replaces_addresses_tokens_and_secrets(text: str, kept: str) -> None:
    assert scrub(text) == kept


@given(
    email=st.emails(),
    before=st.sampled_from(["", " ", "to ", "<", '"', "email=", "'"]),
    after=st.sampled_from(["", " ", ">", '"', ",", "&x=1"]),
)
def test_no_email_address_survives_the_scrubber(email: str, before: str, after: str) -> None:
    line = scrub(f"sent {before}{email}{after} today")
    assert email not in line
    assert "@" not in line
    assert line.startswith("sent ")
    assert line.endswith(" today")


def test_api_keys_of_storepulse_are_scrubbed() -> None:
    for _ in range(20):
        token = new_api_key().token
        assert token not in scrub(f"key {token} used")


@pytest.mark.parametrize(
    ("key", "value", "kept"),
    [
        ("first_name", "Ann", REDACTED),
        ("customer_name", "Ann Lee", REDACTED),
        ("name", "Ann Lee", REDACTED),
        ("email", "ann@example.com", REDACTED),
        ("phone", "+420 777 000 111", REDACTED),
        ("access_token", "abc", REDACTED),
        ("Authorization", "Bearer x", REDACTED),
        ("shopify_api_secret", "x", REDACTED),
        ("queue_name", "ingest", "ingest"),
        ("note", f"from {EMAIL}", f"from {EMAIL_MASK}"),
        (
            "customer",
            {"id": 1, "first_name": "Ann", "tags": ["vip"]},
            {"id": 1, "first_name": REDACTED, "tags": ["vip"]},
        ),
        ("count", 3, 3),
    ],
)
def test_structured_fields_are_withheld_by_their_name(key: str, value: Any, kept: Any) -> None:
    assert scrub_value(key, value) == kept


# ---- the two formats --------------------------------------------------------------------------


def test_a_json_line_is_one_object_with_time_level_logger_message_request_id_and_fields() -> None:
    with request_context("abc123"):
        line = JsonFormatter().format(
            _record("delivery %s from %s", 7, EMAIL, exc=True, topic="orders/create", first_name=FIRST)
        )
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["time"].endswith("Z")
    assert entry["time"][10] == "T"
    assert (entry["level"], entry["logger"], entry["request_id"]) == ("WARNING", "storepulse.test", "abc123")
    assert entry["message"] == f"delivery 7 from {EMAIL_MASK}"
    assert (entry["topic"], entry["first_name"]) == ("orders/create", REDACTED)
    assert "ValueError" in entry["exception"]
    assert EMAIL not in entry["exception"]


def test_a_text_line_keeps_todays_shape_with_the_request_id_when_there_is_one() -> None:
    plain = TextFormatter().format(_record("started"))
    assert plain.split(" ", 2)[2] == "WARNING storepulse.test: started"
    with request_context("abc123"):
        line = TextFormatter().format(
            _record("delivery %s from %s", 7, EMAIL, topic="orders/create", customer_name=FIRST)
        )
    assert line.endswith(
        f"WARNING storepulse.test [abc123]: delivery 7 from {EMAIL_MASK} "
        f"customer_name={REDACTED} topic=orders/create"
    )


@pytest.mark.parametrize("formatter", [JsonFormatter(), TextFormatter()])
def test_a_traceback_keeps_its_frames_and_types_but_not_the_messages_that_quote_data(
    formatter: logging.Formatter,
) -> None:
    try:
        try:
            raise KeyError(FIRST)
        except KeyError as exc:
            raise ValueError(f"Invalid isoformat string: '{FIRST} {LAST}'\nDETAIL: ({LAST})") from exc
    except ValueError:
        record = _record("job failed")
        record.exc_info = sys.exc_info()
    line = formatter.format(record)
    assert "KeyError: <message withheld>" in line
    assert "ValueError: <message withheld>" in line
    assert "test_logs.py" in line  # where it happened
    assert FIRST not in line
    assert LAST not in line
    # The same when a library puts the traceback in the message itself (RQ's failed-job line).
    assert record.exc_info is not None
    text = "".join(traceback.format_exception(*record.exc_info))
    assert FIRST in text
    embedded = formatter.format(_record("job %s failed:\n%s", "x1", text))
    assert "ValueError: <message withheld>" in embedded
    assert FIRST not in embedded


# ---- request ids ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("abc123", True),
        ("7f1c0e52-2f7e-4c5b-9a53-0f2c7d2a9b11", True),
        ("Root=1-67891233-abcdef012345678912345678", True),
        ("a" * 128, True),
        ("a" * 129, False),
        ("has space", False),
        ("new\nline", False),
        ("<script>", False),
        ("", False),
    ],
)
def test_a_request_id_is_taken_only_when_well_formed(sent: str, kept: bool) -> None:
    assert (accepted_request_id(sent) == sent) is kept


def test_each_request_answers_with_its_id_taken_or_made(client: FlaskClient) -> None:
    assert client.get("/ping", headers={"X-Request-Id": "abc123"}).headers["X-Request-Id"] == "abc123"
    made = client.get("/ping", headers={"X-Request-Id": "no good\u00e9"}).headers["X-Request-Id"]
    other = client.get("/ping").headers["X-Request-Id"]
    assert len(made) == 32
    assert made != other
    assert int(made, 16) >= 0


def test_a_deliverys_request_id_follows_it_from_intake_to_its_job(
    shopify_app: Flask,
    shopify_settings: Settings,
    shop: int,
    deliver: Deliver,
    run_worker: Any,
    log_lines: LogLines,
) -> None:
    answer = deliver("customers/create", payload("customers_create"), headers={"X-Request-Id": "abc123"})
    assert answer.status_code == 200
    assert answer.headers["X-Request-Id"] == "abc123"
    run_worker()
    with session_scope(shopify_settings.database_url) as session:
        delivery = session.scalars(select(InboxDelivery)).one()
        assert delivery.status == InboxStatus.PROCESSED
        assert delivery.headers["X-Request-Id"] == "abc123"
    ours = [line for line in log_lines() if line["request_id"] == "abc123"]
    assert f"inbox delivery {delivery.id} received" in [line["message"] for line in ours]
    assert f"inbox delivery {delivery.id} processed" in [line["message"] for line in ours]


# ---- no personal data, no secrets, whatever the path --------------------------------------------


def _lines_leak(lines: list[str], *planted: str) -> list[str]:
    return [line for line in lines if any(p.lower() in line.lower() for p in planted)]


def test_failed_deliveries_log_neither_the_customers_address_nor_name(
    shopify_app: Flask,
    shopify_settings: Settings,
    shop: int,
    deliver: Deliver,
    run_worker: Any,
    log_lines: LogLines,
) -> None:
    customer = payload("customers_create")
    customer.update(email=EMAIL, first_name=FIRST, last_name=LAST)
    broken_date = {**customer, "id": 1, "updated_at": f"{FIRST} {LAST} <{EMAIL}>"}
    not_json = json.dumps(customer).encode()[:-40]
    deliver("customers/create", broken_date, headers={"Authorization": f"Bearer {SHOPIFY_TOKEN}"})
    deliver("customers/create", not_json)
    order = payload("orders_create")
    order.update(email=EMAIL, total_price=None)
    deliver("orders/create", order)
    run_worker()
    with session_scope(shopify_settings.database_url) as session:
        statuses = session.scalars(select(InboxDelivery.status)).all()
        assert InboxStatus.PROCESSED not in statuses  # each of them failed (or waits for a retry)
    lines = [json.dumps(line) for line in log_lines()]
    assert lines
    assert _lines_leak(lines, EMAIL, FIRST, LAST, SHOPIFY_TOKEN) == []


@responses.activate
def test_a_sync_failure_logs_no_address_or_name_from_the_vendors_answer(
    settings: Settings, dns: dict[str, list[str]], log_lines: LogLines
) -> None:
    url = "https://hooks.example.com/storepulse"
    dns["hooks.example.com"] = [PUBLIC_ADDRESS]
    shop = audience(settings, 2)
    sync_id = add_sync(
        settings, shop, DestinationKind.WEBHOOK, {"url": url}, {"secret": "whsec_0123456789abcdef"}
    )
    vendor_says = f"contact {FIRST} {LAST} <{EMAIL}> refused: token {SHOPIFY_TOKEN} is not ours"
    responses.post(url, status=403, body=vendor_says)
    run = runner(settings, [])(sync_id)
    assert run["status"] != "succeeded"
    lines = [json.dumps(line) for line in log_lines()]
    assert any(f"sync {sync_id}" in line for line in lines)
    assert _lines_leak(lines, EMAIL, FIRST, LAST, SHOPIFY_TOKEN) == []


def test_a_csv_import_with_bad_rows_logs_no_address_or_name(
    client: FlaskClient, settings: Settings, run_worker: Any, log_lines: LogLines
) -> None:
    with session_scope(settings.database_url) as session:
        store = make_store(session)
        headers = bearer(session, store.account_id)
        store_id = store.id
    raw = (
        "id,email,first_name,last_name,updated_at\n"
        f"c1,{EMAIL},{FIRST},{LAST},not a date {FIRST}\n"
        f"c2,not-an-address {FIRST},{FIRST},{LAST},2026-06-01T10:00:00Z\n"
    ).encode()
    answer = client.post(
        f"/api/v1/stores/{store_id}/imports",
        data={"kind": "customers", "file": (io.BytesIO(raw), "customers.csv")},
        headers=headers,
        content_type="multipart/form-data",
    )
    assert answer.status_code == 202
    run_worker()
    done = client.get(f"/api/v1/imports/{answer.get_json()['id']}", headers=headers).get_json()
    assert done["errors"]
    lines = [json.dumps(line) for line in log_lines()]
    assert _lines_leak(lines, EMAIL, FIRST, LAST, headers["Authorization"].split()[1]) == []


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_the_access_log_follows_the_format_and_carries_the_request_id_but_no_secrets(
    log_format: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOG_FORMAT", log_format)
    config = Config()
    config.set("accesslog", "-")
    config.set("access_log_format", config.access_log_format + ' "%({authorization}i)s" "%({x-api-key}i)s"')
    logger = AccessLogger(config)
    buffer = io.StringIO()
    for handler in logger.access_log.handlers:
        if getattr(handler, "_gunicorn", False):
            handler.setStream(buffer)  # type: ignore[attr-defined]
    api_key = new_api_key().token
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/api/v1/contacts?email={EMAIL}&first_name={FIRST}&limit=5",
        "PATH_INFO": "/api/v1/contacts",
        "QUERY_STRING": f"email={EMAIL}&first_name={FIRST}&limit=5",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "192.0.2.1",
        "HTTP_AUTHORIZATION": f"Bearer {api_key}",
        "HTTP_REFERER": f"https://shop.example/admin?customer={EMAIL}",
        "storepulse.request_id": "abc123",
    }
    request = SimpleNamespace(
        headers=[
            ("AUTHORIZATION", environ["HTTP_AUTHORIZATION"]),
            ("X-API-KEY", api_key),
            ("REFERER", environ["HTTP_REFERER"]),
        ]
    )
    response = SimpleNamespace(status="200 OK", sent=2, headers=[], status_code=200)
    logger.access(response, request, environ, timedelta(milliseconds=3))
    line = buffer.getvalue()
    assert line.count("\n") == 1
    assert _lines_leak([line], EMAIL, FIRST, api_key) == []
    if log_format == "json":
        entry = json.loads(line)
        assert (entry["request_id"], entry["method"], entry["path"], entry["status"]) == (
            "abc123",
            "GET",
            "/api/v1/contacts",
            200,
        )
        assert entry["logger"] == "gunicorn.access"
    else:
        assert "gunicorn.access [abc123]: 192.0.2.1" in line
        assert line.rstrip().endswith('"<redacted>" "<redacted>"')  # gunicorn's line, nothing repeated
