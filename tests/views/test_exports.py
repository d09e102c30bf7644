"""Segment exports: a job writes the CSV in parts; a signed, expiring link downloads it."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from flask.testing import FlaskClient
from itsdangerous import URLSafeTimedSerializer

from integration import ingest
from integration.audiences import exports
from integration.settings import Settings
from integration.store import session_scope
from tests.support.builders import customer, store_of


@pytest.fixture
def exported_customers(settings: Settings, api_shop: dict[str, Any]) -> None:
    """ann, bob and cy, with names a spreadsheet would take for formulas."""
    with session_scope(settings.database_url) as session:
        ingest.ingest_customers(
            session,
            store_of(session, api_shop),
            [
                customer(
                    "1", "ann@example.com", first_name='=HYPERLINK("http://evil.example","x")', tags=["vip"]
                ),
                customer("2", "bob@example.com", first_name="Bořek", last_name="+1 trick", tags=["vip"]),
                customer("3", "cy@example.com", first_name="Cy"),
            ],
        )


@pytest.mark.usefixtures("exported_customers")
def test_an_export_is_written_by_a_job_and_downloads_through_its_link(
    client: FlaskClient,
    api_shop: dict[str, Any],
    run_worker: Any,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(exports, "EXPORT_PART_BYTES", 64)  # several parts even for a small file
    headers = api_shop["headers"]
    segment = client.post(
        "/api/v1/segments", json={"name": "VIPs", "filter": {"tag": "vip"}}, headers=headers
    )
    requested = client.post(f"/api/v1/segments/{segment.get_json()['id']}/exports", headers=headers)
    assert requested.status_code == 202
    assert requested.get_json()["status"] == "queued"
    assert requested.get_json()["download"] is None
    run_worker()
    [export] = client.get("/api/v1/exports", headers=headers).get_json()["exports"]
    assert (export["status"], export["rows"]) == ("finished", 2)

    response = client.get(export["download"])  # the link is the credential: no API key
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    assert response.data.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert [r["email"] for r in rows] == ["ann@example.com", "bob@example.com"]
    assert rows[0]["first_name"] == '\'=HYPERLINK("http://evil.example","x")'
    assert rows[1]["first_name"] == "Bořek"
    assert rows[1]["last_name"] == "'+1 trick"
    assert rows[0]["tags"] == "vip"

    forged = export["download"][:-3] + "abc"
    assert client.get(forged).status_code == 404
    monkeypatch.setattr(exports, "LINK_SECONDS", -1)  # every link is now expired
    assert client.get(export["download"]).status_code == 404
    # A link signed with another key (another installation's) is refused too.
    foreign = URLSafeTimedSerializer("another-installation-key", salt="storepulse-export")
    assert client.get(f"/exports/{foreign.dumps({'export': export['id'], 'account': 1})}").status_code == 404


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=1+1", "'=1+1"),
        ("+49 30", "'+49 30"),
        ("-3", "'-3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("plain", "plain"),
        (None, ""),
        ("a=b", "a=b"),
    ],
)
def test_cells_that_a_spreadsheet_would_run_are_neutralized(value: str | None, written: str) -> None:
    assert exports.safe_cell(value) == written
