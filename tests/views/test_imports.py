"""CSV upload through the API: a job imports it, and its progress and bad rows can be followed."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import func, select

from integration.cli import cli
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import Contact, ImportPart
from tests.support.builders import bearer, make_store

EXPORT = (Path(__file__).parent.parent / "fixtures" / "shopify" / "customers_export.csv").read_bytes()


def _shop(settings: Settings) -> tuple[int, dict[str, str]]:
    with session_scope(settings.database_url) as session:
        store = make_store(session)
        return store.id, bearer(session, store.account_id)


def _upload(
    client: FlaskClient, store_id: int, headers: dict[str, str], raw: bytes, kind: str = "customers"
) -> Any:
    return client.post(
        f"/api/v1/stores/{store_id}/imports",
        data={"kind": kind, "file": (io.BytesIO(raw), "customers_export.csv")},
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
    assert done["errors"] == [{"row": 4, "column": "Email", "reason": "no valid email and no known customer"}]
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
