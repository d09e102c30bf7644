"""RFM through the API: computed on first look, kept current after orders, a custom scheme, the profile."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select

from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import Contact, RfmScore
from integration.store.types import utcnow
from tests.support.builders import bearer, make_store


def _orders(
    client: FlaskClient, store_id: int, headers: dict[str, str], rows: list[tuple[str, str, int]]
) -> None:
    now = utcnow()
    body = [
        {
            "id": oid,
            "email": email,
            "created_at": (now - timedelta(days=days)).isoformat(),
            "updated_at": (now - timedelta(days=days)).isoformat(),
            "currency": "EUR",
            "total_price": "40.00",
            "line_items": [{"title": "Tea", "quantity": 1, "price": "40.00"}],
        }
        for oid, email, days in rows
    ]
    response = client.post(f"/api/v1/stores/{store_id}/orders", json=body, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)


def test_rfm_is_kept_current_after_orders_and_follows_a_custom_scheme(
    client: FlaskClient, settings: Settings, run_worker: Any
) -> None:
    with session_scope(settings.database_url) as session:
        store = make_store(session)
        headers = bearer(session, store.account_id)
    first = client.get("/api/v1/rfm", headers=headers).get_json()
    assert first["computed_at"] is not None
    assert first["scheme"] == "default"
    assert [s["name"] for s in first["segments"]][-1] == "Prospects"

    _orders(client, store.id, headers, [(f"o{i}", f"c{i}@example.com", i * 40) for i in range(10)])
    run_worker()  # the orders' follow-up recomputes RFM
    overview = client.get("/api/v1/rfm", headers=headers).get_json()
    assert sum(s["contacts"] for s in overview["segments"]) == 10
    assert overview["spenders"]["one_time_buyers"] == 10
    assert {c["score"] for c in overview["cuts"]["r"]} <= {1, 2, 3, 4, 5}

    bad = client.put(
        "/api/v1/rfm/scheme", json={"segments": [{"name": "All", "r": [1, 5], "f": [2, 5]}]}, headers=headers
    )
    assert bad.status_code == 422
    assert "R1 F1" in bad.get_json()["message"]
    scheme = {
        "segments": [{"name": "Fresh", "r": [5, 5], "f": [1, 5]}, {"name": "Rest", "r": [1, 4], "f": [1, 5]}]
    }
    assert client.put("/api/v1/rfm/scheme", json=scheme, headers=headers).status_code == 202
    run_worker()
    custom = client.get("/api/v1/rfm", headers=headers).get_json()
    assert custom["scheme"] == "custom"
    assert {s["name"]: s["contacts"] for s in custom["segments"]} == {"Fresh": 2, "Rest": 8, "Prospects": 0}

    contacts = client.get("/api/v1/contacts?limit=50", headers=headers).get_json()
    newest = next(c for c in contacts["contacts"] if c["email"] == "c0@example.com")
    profile = client.get(f"/api/v1/contacts/{newest['id']}", headers=headers).get_json()
    assert profile["rfm"]["segment"] == "Fresh"
    assert profile["rfm"]["recency_days"] == 0
    assert profile["rfm"]["buyer"] == "one-time"
    assert profile["rfm"]["why"].startswith("R5")

    assert client.delete("/api/v1/rfm/scheme", headers=headers).status_code == 202
    run_worker()
    assert client.get("/api/v1/rfm", headers=headers).get_json()["scheme"] == "default"


def _prospect(client: FlaskClient, store_id: int, headers: dict[str, str]) -> None:
    """A customer who never ordered: a prospect, with no RFM scores."""
    prospect = {"id": "p1", "email": "prospect@example.com", "updated_at": utcnow().isoformat()}
    client.post(f"/api/v1/stores/{store_id}/customers", headers=headers, json=[prospect])


def _selecting(client: FlaskClient, headers: dict[str, str]) -> Callable[[dict[str, Any]], set[str]]:
    """The emails of the contacts a filter selects, through the contact list API."""

    def emails(condition: dict[str, Any]) -> set[str]:
        answer = client.get(
            "/api/v1/contacts", query_string={"filter": json.dumps(condition)}, headers=headers
        )
        assert answer.status_code == 200, answer.get_data(as_text=True)
        return {c["email"] for c in answer.get_json()["contacts"]}

    return emails


def test_the_filter_language_selects_by_rfm_segment_and_spender_tier(
    client: FlaskClient, settings: Settings, run_worker: Any
) -> None:
    with session_scope(settings.database_url) as session:
        store = make_store(session)
        headers = bearer(session, store.account_id)
    _orders(client, store.id, headers, [(f"o{i}", f"c{i}@example.com", i) for i in range(5)])
    _prospect(client, store.id, headers)
    run_worker()
    emails = _selecting(client, headers)

    assert emails({"rfm_segment": ["Prospects"]}) == {"prospect@example.com"}
    assert emails({"spender_tier": ["big"]}) == {f"c{i}@example.com" for i in range(5)}  # equal spend: a tie
    assert emails({"not": {"frequent_buyer": True}}) == {"prospect@example.com"}
    assert (
        client.get(
            "/api/v1/contacts",
            query_string={"filter": json.dumps({"spender_tier": ["huge"]})},
            headers=headers,
        ).status_code
        == 422
    )


def test_the_filter_language_selects_one_rfm_cell_by_its_scores(
    client: FlaskClient, settings: Settings, run_worker: Any
) -> None:
    with session_scope(settings.database_url) as session:
        store = make_store(session)
        headers = bearer(session, store.account_id)
    # Ten buyers ordering 0 to 90 days ago, the older half twice: every R score, two F scores.
    rows = [(f"o{i}", f"c{i}@example.com", i * 10) for i in range(10)]
    rows += [(f"again{i}", f"c{i}@example.com", i * 10 + 1) for i in range(5, 10)]
    _orders(client, store.id, headers, rows)
    _prospect(client, store.id, headers)
    run_worker()
    emails = _selecting(client, headers)

    with session_scope(settings.database_url) as session:
        scores = {
            email: (r, f)
            for email, r, f in session.execute(
                select(Contact.email, RfmScore.r, RfmScore.f).join(
                    RfmScore, RfmScore.contact_id == Contact.id
                )
            )
        }
    assert len(scores) == 10
    assert scores["c0@example.com"][0] == 5  # the newest order has the best recency
    assert len({f for _, f in scores.values()}) == 2
    for r in range(1, 6):
        for f in range(1, 6):
            cell = {"all": [{"rfm_recency": [r]}, {"rfm_frequency": [f]}]}
            assert emails(cell) == {e for e, score in scores.items() if score == (r, f)}, (r, f)
    everyone = emails({"all": [{"rfm_recency": [1, 2, 3, 4, 5]}, {"rfm_frequency": [1, 2, 3, 4, 5]}]})
    assert everyone == set(scores)  # every buyer, never the prospect: it has no scores
    assert emails({"not": {"rfm_recency": [1, 2, 3, 4, 5]}}) == {"prospect@example.com"}
    for refused in ([0], [6], ["5"], [], [1.5]):
        answer = client.get(
            "/api/v1/contacts", query_string={"filter": json.dumps({"rfm_recency": refused})}, headers=headers
        )
        assert answer.status_code == 422, refused
