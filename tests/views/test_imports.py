"""CSV upload through the API: a job imports it, and its progress and bad rows can be followed."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import func, select

from integration.cli import cli
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import Buyer, BuyerNote, Contact, Import, ImportPart, RfmScore
from integration.store.types import utcnow
from jobs.imports import KEEP_CHECKED, sweep_imports_job
from tests.support.builders import bearer, make_store

EXPORT = (Path(__file__).parent.parent / "fixtures" / "shopify" / "customers_export.csv").read_bytes()


def _shop(settings: Settings) -> tuple[int, dict[str, str]]:
    with session_scope(settings.database_url) as session:
        store = make_store(session)
        return store.id, bearer(session, store.account_id)


def _upload(
    client: FlaskClient,
    store_id: int,
    headers: dict[str, str],
    raw: bytes,
    kind: str = "customers",
    *,
    endpoint: str = "imports",
    filename: str = "customers_export.csv",
) -> Any:
    """POST a CSV file to a store's imports (or, with `endpoint="imports/check"`, to its check)."""
    return client.post(
        f"/api/v1/stores/{store_id}/{endpoint}",
        data={"kind": kind, "file": (io.BytesIO(raw), filename)},
        headers=headers,
        content_type="multipart/form-data",
    )


def test_an_upload_is_imported_by_a_worker_and_reports_its_bad_rows(
    client: FlaskClient, settings: Settings, run_worker: Any
) -> None:
    store_id, headers = _shop(settings)
    answer = _upload(client, store_id, headers, EXPORT)
    assert answer.status_code == 202
    started = answer.get_json()
    assert (started["status"], started["bytes_total"]) == ("queued", len(EXPORT))
    run_worker()
    done = client.get(f"/api/v1/imports/{started['id']}", headers=headers).get_json()
    assert (done["status"], done["layout"], done["rows_read"], done["records_written"]) == (
        "finished",
        "shopify_customers",
        3,
        2,
    )
    assert [{k: v for k, v in e.items() if k != "cells"} for e in done["errors"]] == [
        {"row": 4, "column": "Email", "reason": "no valid email and no known customer"}
    ]
    assert dict(done["errors"][0]["cells"])["Last Name"] == "Emailu"  # the bad row's own cells
    with session_scope(settings.database_url) as session:
        assert session.scalar(select(func.count()).select_from(Contact)) == 2
        assert session.scalar(select(func.count()).select_from(ImportPart)) == 0  # the file is let go


def test_a_file_imported_again_counts_its_records_as_duplicates(
    client: FlaskClient, settings: Settings, run_worker: Any
) -> None:
    store_id, headers = _shop(settings)
    raw = (
        b"id,email,updated_at\n"
        b"c1,ann@example.com,2026-06-01T10:00:00Z\n"
        b"c2,bob@example.com,2026-06-01T10:00:00Z\n"
    )
    older = b"id,email,updated_at\nc1,ann@example.com,2026-05-01T10:00:00Z\n"
    counts = []
    for body in (raw, raw, older):
        started = _upload(client, store_id, headers, body).get_json()
        run_worker()
        done = client.get(f"/api/v1/imports/{started['id']}", headers=headers).get_json()
        counts.append((done["records_written"], done["records_duplicate"], done["records_unchanged"]))
    assert counts == [(2, 0, 0), (0, 2, 0), (0, 0, 1)]


def test_an_orders_upload_leaves_its_buyers_totalled_and_scored(
    client: FlaskClient, settings: Settings, run_worker: Any
) -> None:
    store_id, headers = _shop(settings)
    raw = (
        b"id,customer_id,email,created_at,currency,total_price,line_item_title,line_item_quantity,"
        b"line_item_price\n"
        b"o1,c1,ann@example.com,2026-06-01T10:00:00Z,EUR,30.00,Scarf,2,15.00\n"
        b"o2,c1,ann@example.com,2026-06-03T10:00:00Z,EUR,12.50,Hat,1,12.50\n"
        b"o3,c2,bob@example.com,2026-06-02T10:00:00Z,EUR,99.90,Coat,1,99.90\n"
    )
    started = _upload(client, store_id, headers, raw, kind="orders").get_json()
    run_worker()  # the import, then the statistics and RFM it asked for
    done = client.get(f"/api/v1/imports/{started['id']}", headers=headers).get_json()
    assert (done["status"], done["records_written"]) == ("finished", 3)
    with session_scope(settings.database_url) as session:
        spent = select(Contact.email, Buyer.orders, Buyer.revenue).join(Buyer, Buyer.contact_id == Contact.id)
        assert sorted(session.execute(spent).all()) == [
            ("ann@example.com", 2, Decimal("42.50")),
            ("bob@example.com", 1, Decimal("99.90")),
        ]
        scored = select(Contact.email, RfmScore.frequency).join(RfmScore, RfmScore.contact_id == Contact.id)
        assert sorted(session.execute(scored).all()) == [("ann@example.com", 2), ("bob@example.com", 1)]
        assert session.scalar(select(func.count()).select_from(BuyerNote)) == 0


def test_a_file_that_is_no_csv_fails_with_its_reason(
    client: FlaskClient, settings: Settings, run_worker: Any
) -> None:
    store_id, headers = _shop(settings)
    started = _upload(client, store_id, headers, b"").get_json()
    run_worker()
    done = client.get(f"/api/v1/imports/{started['id']}", headers=headers).get_json()
    assert (done["status"], done["failure"]) == ("failed", "the file is empty or its first line is blank")


def test_imports_are_private_to_their_account(client: FlaskClient, settings: Settings) -> None:
    store_id, headers = _shop(settings)
    other_store, other_headers = _shop(settings)
    assert _upload(client, other_store, headers, EXPORT).status_code == 404
    started = _upload(client, store_id, headers, EXPORT).get_json()
    assert client.get(f"/api/v1/imports/{started['id']}", headers=other_headers).status_code == 404


def test_a_wrong_kind_is_refused_with_its_field(client: FlaskClient, settings: Settings) -> None:
    store_id, headers = _shop(settings)
    answer = _upload(client, store_id, headers, EXPORT, kind="products")
    assert answer.status_code == 422
    assert "kind" in json.dumps(answer.get_json()["details"])


def test_the_command_line_imports_a_file(settings: Settings, tmp_path: Path, monkeypatch: Any) -> None:
    store_id, _ = _shop(settings)
    path = tmp_path / "customers_export.csv"
    path.write_bytes(EXPORT)
    monkeypatch.setattr("integration.cli.common.get_settings", lambda: settings)
    result = CliRunner().invoke(cli, ["import", str(store_id), "customers", str(path), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{") :])
    assert (report["rows"], report["written"], report["failed"]) == (3, 2, 1)


def test_a_form_part_without_a_usable_name_is_reported_not_a_server_error(
    client: FlaskClient, settings: Settings
) -> None:
    store_id, headers = _shop(settings)
    body = (
        b'--B\r\nContent-Disposition: form-data; name="a\r\nb"\r\n\r\nx\r\n'
        b'--B\r\nContent-Disposition: form-data; name="kind"\r\n\r\ncustomers\r\n--B--\r\n'
    )
    answer = client.post(
        f"/api/v1/stores/{store_id}/imports",
        data=body,
        headers={**headers, "Content-Type": "multipart/form-data; boundary=B"},
    )
    assert answer.status_code == 422
    assert answer.get_json()["details"] == {"None": ["Unknown field."]}


def _check(
    client: FlaskClient, store_id: int, headers: dict[str, str], raw: bytes, kind: str = "customers"
) -> Any:
    return _upload(client, store_id, headers, raw, kind, endpoint="imports/check", filename="people.csv")


def test_a_check_stores_the_file_and_says_what_it_found_importing_nothing(
    client: FlaskClient, settings: Settings, run_worker: Any
) -> None:
    store_id, headers = _shop(settings)
    answer = _check(client, store_id, headers, EXPORT)
    assert answer.status_code == 201
    checked = answer.get_json()
    assert (checked["status"], checked["bytes_total"]) == ("checked", len(EXPORT))
    found = checked["check"]
    assert (found["layout"], found["encoding"], found["delimiter"], found["rows"], found["rows_exact"]) == (
        "shopify_customers",
        "utf-8",
        ",",
        3,
        True,
    )
    assert found["matched"] == [
        "Customer ID",
        "First Name",
        "Last Name",
        "Email",
        "Accepts Email Marketing",
        "Phone",
        "Tags",
    ]
    assert "Total Spent" in found["unrecognized"]
    assert [row[:5] for row in found["sample"]][0] == [
        "2",
        "'7701234567001",
        "Jana",
        "Nováková",
        "jana.novakova@example.cz",
    ]
    assert found["problem"] is None
    run_worker()  # nothing is queued: a checked file waits for its start
    with session_scope(settings.database_url) as session:
        assert session.scalar(select(func.count()).select_from(Contact)) == 0
        assert session.scalar(select(func.count()).select_from(ImportPart)) == 1

    # Checked again as orders: the columns of an order file are missing, and customers fit.
    again = client.get(f"/api/v1/imports/{checked['id']}/check?kind=orders", headers=headers).get_json()
    assert (again["problem"], again["missing"], again["suggested_kind"]) == (
        "missing_columns",
        ["id", "line_item_title"],
        "customers",
    )

    started = client.post(f"/api/v1/imports/{checked['id']}/start", json={}, headers=headers)
    assert started.status_code == 202
    assert started.get_json()["status"] == "queued"
    run_worker()
    done = client.get(f"/api/v1/imports/{checked['id']}", headers=headers).get_json()
    assert (done["status"], done["records_written"], done["rows_failed"]) == ("finished", 2, 1)
    assert dict(done["errors"][0]["cells"])["First Name"] == "Bez"
    # Started once: a second start is refused, and a finished import is no longer checked.
    twice = client.post(f"/api/v1/imports/{checked['id']}/start", json={}, headers=headers)
    assert (twice.status_code, twice.get_json()["code"]) == (409, "not_checked")
    assert client.get(f"/api/v1/imports/{checked['id']}/check", headers=headers).status_code == 409


def test_a_semicolon_cp1250_file_is_detected_and_a_start_may_choose_the_encoding(
    client: FlaskClient, settings: Settings, run_worker: Any
) -> None:
    store_id, headers = _shop(settings)
    raw = "id;email;first_name;last_name\n1;zofia@example.pl;Zofia;Wójcik-Żółć\n".encode("cp1250")
    found = _check(client, store_id, headers, raw).get_json()
    assert (found["check"]["encoding"], found["check"]["delimiter"]) == ("cp1250", ";")
    assert found["check"]["sample"] == [["2", "1", "zofia@example.pl", "Zofia", "Wójcik-Żółć"]]
    as_1252 = client.get(f"/api/v1/imports/{found['id']}/check?encoding=cp1252", headers=headers).get_json()
    assert as_1252["sample"][0][4] != "Wójcik-Żółć"
    started = client.post(
        f"/api/v1/imports/{found['id']}/start", json={"encoding": "cp1250"}, headers=headers
    )
    assert started.get_json()["encoding"] == "cp1250"
    run_worker()
    with session_scope(settings.database_url) as session:
        assert session.scalar(select(Contact.last_name)) == "Wójcik-Żółć"


def test_an_empty_file_is_checked_with_its_reason_and_another_account_sees_no_import(
    client: FlaskClient, settings: Settings
) -> None:
    store_id, headers = _shop(settings)
    found = _check(client, store_id, headers, b"").get_json()
    assert (found["check"]["problem"], found["bytes_total"]) == ("empty", 0)
    _, others = _shop(settings)
    assert client.get(f"/api/v1/imports/{found['id']}/check", headers=others).status_code == 404
    assert client.post(f"/api/v1/imports/{found['id']}/start", json={}, headers=others).status_code == 404
    refused = client.post(f"/api/v1/imports/{found['id']}/start", json={"kind": "parcels"}, headers=headers)
    assert refused.status_code == 422


def test_the_check_and_the_start_are_in_the_openapi_document(client: FlaskClient) -> None:
    spec = client.get("/api/v1/openapi.json").get_json()
    check = spec["paths"]["/api/v1/stores/{store_id}/imports/check"]["post"]
    assert "multipart/form-data" in check["requestBody"]["content"]
    answer = check["responses"]["201"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    found = spec["components"]["schemas"][answer]["properties"]["check"]
    fields = spec["components"]["schemas"][found["$ref"].rsplit("/", 1)[1]]["properties"]
    assert {"layout", "encoding", "delimiter", "matched", "unrecognized", "rows", "sample"} <= set(fields)
    assert "post" in spec["paths"]["/api/v1/imports/{import_id}/start"]
    assert "get" in spec["paths"]["/api/v1/imports/{import_id}/check"]


def test_a_file_checked_and_never_started_is_let_go_after_a_day(
    client: FlaskClient, settings: Settings
) -> None:
    store_id, headers = _shop(settings)
    old = _check(client, store_id, headers, EXPORT).get_json()["id"]
    recent = _check(client, store_id, headers, EXPORT).get_json()["id"]
    with session_scope(settings.database_url) as session:
        stored = session.get(Import, old)
        assert stored is not None
        stored.created_at = utcnow() - KEEP_CHECKED - timedelta(minutes=1)
    assert sweep_imports_job() == 0  # nothing queued to enqueue again
    with session_scope(settings.database_url) as session:
        assert session.get(Import, old) is None
        assert session.get(Import, recent) is not None
        parts = session.scalars(select(ImportPart.import_id)).all()
        assert parts == [recent]
