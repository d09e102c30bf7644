"""Batch upserts through the API: per-record errors, idempotency, newest wins, accounts kept apart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import func, select

from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import BlockedReason, Contact, EngagementStatus, InboxDelivery, Order
from tests.support.api_records import CUSTOMER, ORDER
from tests.support.builders import make_store


def _post(client: FlaskClient, api_shop: dict[str, Any], topic: str, body: Any, **headers: str) -> Any:
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return client.post(
        f"/api/v1/stores/{api_shop['store']}/{topic}",
        data=data,
        headers={**api_shop["headers"], **headers},
        content_type="application/json",
    )


def test_valid_records_are_stored_and_invalid_ones_reported(
    client: FlaskClient, api_shop: dict[str, Any], settings: Settings
) -> None:
    bad_email = {**CUSTOMER, "id": "c2", "email": "ann at example"}
    naive_time = {**CUSTOMER, "id": "c3", "email": "c3@example.com", "updated_at": "2026-06-01T10:00:00"}
    answer = _post(client, api_shop, "customers", [CUSTOMER, bad_email, naive_time])
    assert answer.status_code == 200
    body = answer.get_json()
    assert (body["status"], body["written"], body["replayed"]) == ("processed", 1, False)
    assert [(e["index"], list(e["errors"])) for e in body["errors"]] == [(1, ["email"]), (2, ["updated_at"])]
    with session_scope(settings.database_url) as session:
        contact = session.scalars(select(Contact)).one()
        assert (contact.email, contact.engagement_status) == ("ann@example.com", EngagementStatus.UNENGAGED)


def test_the_same_batch_again_answers_the_first_outcome_and_changes_nothing(
    client: FlaskClient, api_shop: dict[str, Any], settings: Settings
) -> None:
    first = _post(client, api_shop, "orders", [ORDER]).get_json()
    again = _post(client, api_shop, "orders", [ORDER]).get_json()
    assert first["written"] == again["written"] == 1
    assert again["replayed"]
    keyed = _post(client, api_shop, "orders", [ORDER], **{"Idempotency-Key": "retry-7"}).get_json()
    # Another delivery of the same version: a duplicate, not an older version.
    assert (keyed["written"], keyed["unchanged"], keyed["duplicate"], keyed["replayed"]) == (0, 0, 1, False)
    with session_scope(settings.database_url) as session:
        assert session.scalar(select(func.count()).select_from(Order)) == 1
        assert session.scalar(select(func.count()).select_from(InboxDelivery)) == 2


def test_an_older_update_does_not_overwrite(
    client: FlaskClient, api_shop: dict[str, Any], settings: Settings
) -> None:
    _post(
        client,
        api_shop,
        "orders",
        [{**ORDER, "updated_at": "2026-06-03T00:00:00Z", "financial_status": "refunded"}],
    )
    stale = _post(client, api_shop, "orders", [{**ORDER, "financial_status": "paid"}]).get_json()
    assert (stale["written"], stale["unchanged"], stale["duplicate"]) == (0, 1, 0)
    with session_scope(settings.database_url) as session:
        assert session.scalar(select(Order.financial_status)) == "refunded"


def test_events_block_and_engage(client: FlaskClient, api_shop: dict[str, Any], settings: Settings) -> None:
    _post(
        client,
        api_shop,
        "events",
        [
            {
                "event_id": "e1",
                "email": "a@example.com",
                "type": "bounce",
                "bounce_type": "hard",
                "occurred_at": "2026-06-01T00:00:00Z",
            },
            {
                "event_id": "e2",
                "email": "b@example.com",
                "type": "email_click",
                "occurred_at": "2099-01-01T00:00:00Z",
            },
        ],
    )
    with session_scope(settings.database_url) as session:
        rows = dict(session.execute(select(Contact.email, Contact.blocked_reason)).all())
        assert rows == {"a@example.com": BlockedReason.HARD_BOUNCE, "b@example.com": None}


def test_another_accounts_store_does_not_exist_for_this_key(
    client: FlaskClient, api_shop: dict[str, Any], settings: Settings
) -> None:
    with session_scope(settings.database_url) as session:
        other = make_store(session).id
    answer = client.post(f"/api/v1/stores/{other}/customers", json=[CUSTOMER], headers=api_shop["headers"])
    assert answer.status_code == 404
    assert answer.get_json() == {"code": "not_found", "message": f"no store {other}"}
    with session_scope(settings.database_url) as session:
        assert session.scalar(select(func.count()).select_from(InboxDelivery)) == 0


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "invalid_json"),
        ({"records": []}, 400, "invalid_body"),
        ([{}] * 1001, 413, "batch_too_large"),
    ],
)
def test_a_body_that_is_no_batch_is_refused_whole(
    client: FlaskClient, api_shop: dict[str, Any], body: Any, status: int, code: str
) -> None:
    answer = _post(client, api_shop, "customers", body)
    assert answer.status_code == status
    assert answer.get_json()["code"] == code


def test_without_a_key_the_answer_is_a_json_401(client: FlaskClient, api_shop: dict[str, Any]) -> None:
    answer = client.post(f"/api/v1/stores/{api_shop['store']}/customers", json=[CUSTOMER])
    assert answer.status_code == 401
    assert answer.get_json()["code"] == "unauthorized"


def test_the_openapi_document_describes_each_batch_endpoint(client: FlaskClient) -> None:
    spec = client.get("/api/v1/openapi.json").get_json()
    for topic, schema in [
        ("customers", "Customer"),
        ("orders", "Order"),
        ("checkouts", "Checkout"),
        ("events", "Event"),
    ]:
        body = spec["paths"][f"/api/v1/stores/{{store_id}}/{topic}"]["post"]["requestBody"]
        assert body["content"]["application/json"]["schema"]["items"] == {
            "$ref": f"#/components/schemas/{schema}"
        }
        assert schema in spec["components"]["schemas"]
    assert set(spec["components"]["schemas"]["Error"]["properties"]) == {"code", "message", "details"}
    result = spec["components"]["schemas"]["BatchResult"]
    assert {"written", "duplicate", "unchanged"} <= set(result["required"])


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=20)
    | st.sampled_from(["2026-01-01T00:00:00Z", "EUR"]),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


@hsettings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(topic=st.sampled_from(["customers", "orders", "checkouts", "events"]), body=JSON)
def test_no_body_makes_the_server_fail(
    client: FlaskClient, api_shop: dict[str, Any], topic: str, body: Any
) -> None:
    answer = _post(client, api_shop, topic, body)
    assert answer.status_code < 500, answer.get_data(as_text=True)


def test_the_database_being_down_answers_503(settings: Settings, tmp_path: Path) -> None:
    from integration.web.app import create_app

    down = create_app(
        {
            "database_url": "postgresql+psycopg://nobody@127.0.0.1:1/none",
            "redis_url": settings.redis_url,
            "instance_path": tmp_path,
        }
    )
    answer = down.test_client().post(
        "/api/v1/stores/1/customers", json=[CUSTOMER], headers={"Authorization": "Bearer sp_x_y"}
    )
    assert answer.status_code == 503
    assert answer.get_json()["code"] == "database_unavailable"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"total_price": "100000000000000"}, "total_price"),
        ({"line_items": [{"title": "Shirt", "quantity": 2**31, "price": "1.00"}]}, "line_items"),
    ],
)
def test_amounts_the_store_cannot_hold_are_refused_by_index(
    client: FlaskClient, api_shop: dict[str, Any], settings: Settings, change: dict[str, Any], field: str
) -> None:
    answer = _post(client, api_shop, "orders", [{**ORDER, "id": "big", **change}, ORDER])
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["written"] == 1
    assert [(e["index"], list(e["errors"])) for e in body["errors"]] == [(0, [field])]
    with session_scope(settings.database_url) as session:
        assert session.scalars(select(Order.external_id)).all() == ["1001"]
