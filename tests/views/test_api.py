"""The merchant API: keys, the account summary, and jobs started from the web process."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask.testing import FlaskClient

from integration.accounts import create_api_key, revoke_api_key
from integration.contacts.engagement import classify
from integration.ingest import ingest_events, ingest_orders
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import InteractionType
from tests.support.builders import NOW, event, make_store, order


def _account_with_key(settings: Settings) -> tuple[int, str]:
    with session_scope(settings.database_url) as session:
        store = make_store(session)
        _, token = create_api_key(session, store.account_id)
        return store.account_id, token


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_the_openapi_document_lists_the_endpoints(client: FlaskClient) -> None:
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    assert {"/api/v1/summary", "/api/v1/engagement/reclassify", "/api/v1/jobs/{job_id}"} <= set(spec["paths"])


def test_a_request_without_a_valid_key_is_refused(client: FlaskClient, settings: Settings) -> None:
    account_id, token = _account_with_key(settings)
    assert client.get("/api/v1/summary").status_code == 401
    assert client.get("/api/v1/summary", headers=_auth("sp_nope_nope")).status_code == 401
    with session_scope(settings.database_url) as session:
        revoke_api_key(session, token.split("_")[1])
    refused = client.get("/api/v1/summary", headers=_auth(token))
    assert refused.status_code == 401
    assert refused.get_json()["message"] == "unknown or revoked API key"


def test_the_summary_counts_revenue_per_currency_without_cancelled_voided_or_refunded(
    client: FlaskClient, settings: Settings
) -> None:
    with session_scope(settings.database_url) as session:
        eu = make_store(session, "EUR")
        us = make_store(session, "USD", account_id=eu.account_id)
        ingest_orders(
            session,
            eu,
            [
                order("1", email="a@example.com", total_price="10.10"),
                order("2", email="a@example.com", total_price="20.20"),
                order("3", email="b@example.com", total_price="99.00", cancelled_at=NOW),
                order("4", email="b@example.com", total_price="50.00", financial_status="voided"),
                order("5", email="b@example.com", total_price="70.00", financial_status="refunded"),
            ],
        )
        ingest_orders(session, us, [order("1", email="c@example.com", currency="USD", total_price="5.55")])
        ingest_events(session, us, [event(InteractionType.HARD_BOUNCE, email="d@example.com")], source="api")
        classify(session, eu.account_id, now=NOW + timedelta(days=1))
        _, token = create_api_key(session, eu.account_id)
    summary = client.get("/api/v1/summary", headers=_auth(token)).get_json()
    assert summary["orders"]["total"] == 6
    assert summary["orders"]["revenue"] == [
        {"currency": "EUR", "orders": 2, "amount": "30.30"},
        {"currency": "USD", "orders": 1, "amount": "5.55"},
    ]
    assert summary["contacts"]["total"] == 4
    assert summary["contacts"]["by_engagement"] == {
        # a@ and c@ ordered; b@'s refunded order was still placed, though it is no revenue
        "engaged": {"unknown": 3},
        "blocked": {"unknown": 1},
    }


def test_a_job_started_by_the_web_process_is_run_by_a_worker(
    client: FlaskClient, settings: Settings, run_worker: Any
) -> None:
    _, token = _account_with_key(settings)
    started = client.post("/api/v1/engagement/reclassify", headers=_auth(token))
    assert started.status_code == 202
    job_id = started.get_json()["id"]
    assert client.get(f"/api/v1/jobs/{job_id}", headers=_auth(token)).get_json()["status"] == "queued"
    run_worker()
    done = client.get(f"/api/v1/jobs/{job_id}", headers=_auth(token)).get_json()
    assert (done["status"], done["result"]) == ("finished", 0)


def test_another_account_cannot_see_the_job(client: FlaskClient, settings: Settings) -> None:
    _, token = _account_with_key(settings)
    _, other = _account_with_key(settings)
    job_id = client.post("/api/v1/engagement/reclassify", headers=_auth(token)).get_json()["id"]
    assert client.get(f"/api/v1/jobs/{job_id}", headers=_auth(other)).status_code == 404


def test_health_and_status_page(client: FlaskClient) -> None:
    health = client.get("/health")
    assert health.status_code == 200
    assert health.get_json()["checks"] == {"database": "ok", "redis": "ok"}
    page = client.get("/status").get_data(as_text=True)
    assert "ingest" in page
    assert "compute" in page


def test_health_reports_an_unreachable_redis(settings: Settings, tmp_path) -> None:
    from integration.web.app import create_app

    broken = create_app(
        {
            "database_url": settings.database_url,
            "redis_url": f"unix://{tmp_path}/none.sock",
            "instance_path": tmp_path,
        }
    )
    answer = broken.test_client().get("/health")
    assert answer.status_code == 503
    assert answer.get_json()["checks"] == {"database": "ok", "redis": "unreachable"}


def test_the_openapi_document_is_valid_openapi_3(client: FlaskClient) -> None:
    from openapi_spec_validator import validate

    spec = client.get("/api/v1/openapi.json").get_json()
    validate(spec)
    assert {"/api/v1/stores/{store_id}/imports", "/api/v1/imports/{import_id}"} <= set(spec["paths"])


def test_a_job_id_rq_would_refuse_is_simply_not_found(client: FlaskClient, settings: Settings) -> None:
    _, token = _account_with_key(settings)
    answer = client.get("/api/v1/jobs/%3B", headers=_auth(token))
    assert answer.status_code == 404
    assert answer.get_json()["code"] == "not_found"


def test_an_id_beyond_the_stores_keys_matches_no_route(client: FlaskClient, settings: Settings) -> None:
    _, token = _account_with_key(settings)
    for path in ("/api/v1/contacts/9223372036854775808", "/api/v1/imports/99999999999999999999"):
        assert client.get(path, headers=_auth(token)).status_code == 404
    for path in ("/api/v1/carts/stats?store=9223372036854775808", "/api/v1/leaderboard?store=2e30"):
        refused = client.get(path, headers=_auth(token))
        assert refused.status_code == 422
        assert "store" in refused.get_json()["details"]["query"]


def test_text_holding_a_nul_character_is_refused_whole(client: FlaskClient, settings: Settings) -> None:
    _, token = _account_with_key(settings)
    sender = {
        "host": "smtp.example.com",
        "port": 587,
        "from_email": "shop@example.com",
        "from_name": "A\u0000",
    }
    for answer in (
        client.put("/api/v1/settings/sender", json=sender, headers=_auth(token)),
        client.get("/api/v1/contacts?sort=%00", headers=_auth(token)),
        client.post(
            "/api/v1/segments", json={"name": "x\u0000", "filter": {"all": []}}, headers=_auth(token)
        ),
    ):
        assert answer.status_code == 422
        assert answer.get_json()["code"] == "nul_character"
    # An escaped backslash before "u0000" is text, not a NUL.
    named = client.put(
        "/api/v1/settings/sender", json={**sender, "from_name": "A\\u0000"}, headers=_auth(token)
    )
    assert named.status_code == 200
