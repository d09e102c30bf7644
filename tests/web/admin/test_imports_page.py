"""A store's import page: what the check of an uploaded file found, the confirm step, the progress,
the bad rows and their download, and the past imports, as the API reports them."""

from __future__ import annotations

import csv
import io
import re
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import Import, ImportStatus, Store
from integration.web.views.reasons import translated
from tests.support.builders import bearer, make_store
from tests.web.admin.test_setup import account, embedded, owner  # noqa: F401 - fixtures

EXPORT = (Path(__file__).parents[2] / "fixtures" / "shopify" / "customers_export.csv").read_bytes()
OURS = (
    b"id,email,first_name,subscription_status\n"
    b"1,ann@example.com,Ann,subscribed\n"
    b"2,bob@example.com,Bob,maybe\n"
)


@pytest.fixture
def api_headers(settings: Settings, account: dict[str, Any]) -> dict[str, str]:  # noqa: F811
    with session_scope(settings.database_url) as session:
        return bearer(session, account["account"])


def checked(
    client: FlaskClient, headers: dict[str, str], store_id: int, raw: bytes, kind: str = "customers"
) -> dict[str, Any]:
    """Upload a file to be checked through the API; return its answer."""
    answer = client.post(
        f"/api/v1/stores/{store_id}/imports/check",
        data={"kind": kind, "file": (io.BytesIO(raw), "people.csv")},
        headers=headers,
        content_type="multipart/form-data",
    )
    assert answer.status_code == 201, answer.get_data(as_text=True)
    found: dict[str, Any] = answer.get_json()
    return found


def detected(html: str) -> dict[str, str]:
    """The check's findings on the page: {name: text}."""
    found = re.finditer(r'data-check="(\w+)">([^<]*)<', html)
    return {m[1]: unescape(re.sub(r"\s+", " ", m[2]).strip()) for m in found}


def sample(html: str) -> list[list[str]]:
    table = re.search(r'<table id="check-sample">(.*?)</table>', html, re.S)
    assert table is not None
    body = table[1].split("<tbody>")[1]
    return [
        [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


def page_of(client: FlaskClient, store_id: int, import_id: int, query: str = "") -> str:
    answer = client.get(f"/admin/setup/stores/{store_id}/import?import={import_id}{query}")
    assert answer.status_code == 200
    return answer.get_data(as_text=True)


def test_a_storepulse_file_shows_what_was_detected_and_waits_for_the_import(
    owner: FlaskClient,  # noqa: F811
    api_headers: dict[str, str],
    account: dict[str, Any],  # noqa: F811
) -> None:
    found = checked(owner, api_headers, account["store"], OURS)
    html = page_of(owner, account["store"], found["id"])
    assert detected(html) == {
        "kind": "Customers",
        "layout": "storepulse's own columns",
        "encoding": "UTF-8",
        "delimiter": "comma (,)",
        "rows": str(found["check"]["rows"]),
        "matched": ", ".join(found["check"]["matched"]),
        "unrecognized": "None",
    }
    assert found["check"]["rows"] == 2
    assert sample(html) == found["check"]["sample"]
    assert 'id="check-ready"' in html
    form = re.search(r'<form id="start-form"[^>]*>', html)
    assert form is not None
    assert f'data-action="/api/v1/imports/{found["id"]}/start"' in form[0]
    assert f'data-next="/admin/setup/stores/{account["store"]}/import?import={{id}}"' in form[0]
    assert 'id="import-form"' not in html  # one file at a time: the upload form is back once it is done


def test_a_shopify_customer_export_is_recognized_with_its_columns(
    owner: FlaskClient,  # noqa: F811
    api_headers: dict[str, str],
    account: dict[str, Any],  # noqa: F811
) -> None:
    found = checked(owner, api_headers, account["store"], EXPORT)
    seen = detected(page_of(owner, account["store"], found["id"]))
    assert (seen["layout"], seen["encoding"], seen["delimiter"], seen["rows"]) == (
        "Shopify customer export",
        "UTF-8",
        "comma (,)",
        "3",
    )
    assert (
        seen["matched"] == "Customer ID, First Name, Last Name, Email, Accepts Email Marketing, Phone, Tags"
    )
    assert "Total Spent" in seen["unrecognized"]
    assert seen["unrecognized"] == ", ".join(found["check"]["unrecognized"])


@pytest.mark.parametrize(
    ("encoding", "name", "text"),
    [
        ("cp1250", "Windows-1250 (Central European)", "Zofia;Wójcik-Żółć"),
        ("cp1252", "Windows-1252 (Western European, Latin-1)", "José;Muñoz-Peña"),
        ("latin-1", "Windows-1252 (Western European, Latin-1)", "François;Ibáñez"),
    ],
)
def test_a_semicolon_file_in_a_windows_code_page_is_read_right(
    owner: FlaskClient,  # noqa: F811
    api_headers: dict[str, str],
    account: dict[str, Any],  # noqa: F811
    encoding: str,
    name: str,
    text: str,
) -> None:
    raw = f"id;first_name;last_name;email\n7;{text};a@example.com\n".encode(encoding)
    found = checked(owner, api_headers, account["store"], raw)
    html = page_of(owner, account["store"], found["id"])
    seen = detected(html)
    assert (seen["encoding"], seen["delimiter"]) == (name, "semicolon (;)")
    assert sample(html) == [["2", "7", *text.split(";"), "a@example.com"]]
    # The encoding can be chosen: the check reads the file again that way, and the import starts so.
    assert 'id="check-problem"' in page_of(owner, account["store"], found["id"], "&encoding=utf-8")
    other = "cp1252" if encoding == "cp1250" else "cp1250"
    again = page_of(owner, account["store"], found["id"], f"&encoding={other}")
    assert sample(again) != sample(html)
    assert f'name="encoding" value="{other}"' in again


def test_a_file_of_another_kind_says_why_and_offers_its_kind(
    owner: FlaskClient,  # noqa: F811
    api_headers: dict[str, str],
    account: dict[str, Any],  # noqa: F811
) -> None:
    found = checked(owner, api_headers, account["store"], EXPORT, kind="orders")
    html = page_of(owner, account["store"], found["id"])
    assert "Columns this kind of file needs are missing: id, line_item_title." in html
    assert 'id="start-form"' not in html
    link = re.search(r'<a href="([^"]+)" id="check-as-suggested">Check it as: Customers</a>', html)
    assert link is not None
    fixed = owner.get(link[1].replace("&amp;", "&")).get_data(as_text=True)
    assert detected(fixed)["layout"] == "Shopify customer export"
    assert 'name="kind" value="customers"' in fixed  # the import starts as the kind checked


def test_an_empty_file_says_why_it_cannot_be_read(
    owner: FlaskClient,  # noqa: F811
    api_headers: dict[str, str],
    account: dict[str, Any],  # noqa: F811
) -> None:
    found = checked(owner, api_headers, account["store"], b"")
    html = page_of(owner, account["store"], found["id"])
    assert "This file cannot be imported: The file is empty." in html
    assert 'id="start-form"' not in html


def test_the_bad_rows_listed_are_the_ones_reported_and_downloaded(
    owner: FlaskClient,  # noqa: F811
    api_headers: dict[str, str],
    account: dict[str, Any],  # noqa: F811
    run_worker: Any,
) -> None:
    found = checked(owner, api_headers, account["store"], EXPORT + b"'9,Ewa,Bad,not-an-email,maybe\n")
    assert owner.post(f"/api/v1/imports/{found['id']}/start", json={}, headers=api_headers).status_code == 202
    run_worker()
    report = owner.get(f"/api/v1/imports/{found['id']}", headers=api_headers).get_json()
    assert report["rows_failed"] == 2
    html = page_of(owner, account["store"], found["id"])
    assert 'id="import-finished"' in html
    table = re.search(r'<table id="import-errors">(.*?)</table>', html, re.S)
    assert table is not None
    listed = [
        [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
        for row in re.findall(r"<tr>(.*?)</tr>", table[1].split("<tbody>")[1], re.S)
    ]
    with owner.application.test_request_context():  # reasons are shown in the admin's words
        expected = [[str(e["row"]), e["column"], translated(e["reason"])] for e in report["errors"]]
    assert listed == expected
    download = owner.get(f"/admin/setup/imports/{found['id']}/bad-rows.csv")
    assert download.mimetype == "text/csv"
    assert "attachment" in download.headers["Content-Disposition"]
    lines = list(csv.reader(io.StringIO(download.get_data(as_text=True))))
    header, rows = lines[0], lines[1:]
    assert header[:3] == ["row", "column", "reason"]
    assert [row[:3] for row in rows] == expected
    first = [list(pair) for pair in zip(header[3:], rows[0][3:], strict=True)]
    assert first == report["errors"][0]["cells"]


def test_past_imports_are_listed_newest_first_each_opening_its_result(
    owner: FlaskClient,  # noqa: F811
    settings: Settings,
    account: dict[str, Any],  # noqa: F811
) -> None:
    empty = owner.get(f"/admin/setup/stores/{account['store']}/import").get_data(as_text=True)
    assert "No file uploaded to this store yet." in empty
    assert 'id="import-form"' in empty
    names = ("first.csv", "second.csv", "third.csv")
    with session_scope(settings.database_url) as session:
        ids = []
        for number, name in enumerate(names):
            job = Import(
                store_id=account["store"],
                kind="orders",
                filename=name,
                status=ImportStatus.FINISHED,
                rows_read=10 + number,
                records_written=9 + number,
                rows_failed=1,
            )
            session.add(job)
            session.flush()
            ids.append(job.id)
        other = make_store(session)
        session.add(Import(store_id=other.id, kind="orders", filename="elsewhere.csv"))
    html = owner.get(f"/admin/setup/stores/{account['store']}/import").get_data(as_text=True)
    table = re.search(r'<table id="past-imports">(.*?)</table>', html, re.S)
    assert table is not None
    links = re.findall(r'<a href="/admin/setup/stores/\d+/import\?import=(\d+)">([^<]+)</a>', table[1])
    assert links == [(str(i), n) for i, n in reversed(list(zip(ids, names, strict=True)))]
    assert "elsewhere.csv" not in html
    assert ">Done<" in table[1]
    assert ">Orders<" in table[1]


def test_the_import_page_renders_embedded(embedded: tuple[Flask, str], shop: int) -> None:  # noqa: F811
    app, query = embedded
    html = app.test_client().get(f"/admin/setup/stores/{shop}/import?{query}").get_data(as_text=True)
    assert "<s-page" in html
    assert "<main" not in html
    assert 'id="import-form"' in html
    # The page's links carry Shopify's parameters: the upload's next page opens embedded too.
    assert re.search(r'data-next="/admin/setup/stores/\d+/import\?import=\{id\}&amp;embedded=1', html)


def test_the_check_and_the_bad_rows_render_embedded(
    embedded: tuple[Flask, str],  # noqa: F811
    shopify_settings: Settings,
    shop: int,
    run_worker: Any,
) -> None:
    app, query = embedded
    client = app.test_client()
    with session_scope(shopify_settings.database_url) as session:
        headers = bearer(session, session.get(Store, shop).account_id)  # type: ignore[union-attr]
    found = checked(client, headers, shop, OURS)
    url = f"/admin/setup/stores/{shop}/import?import={found['id']}&{query}"
    html = client.get(url).get_data(as_text=True)
    assert "<s-page" in html
    assert detected(html)["encoding"] == "UTF-8"
    # The check-again form keeps Shopify's parameters, so its answer opens embedded.
    form = re.search(r'<form method="get".*?</form>', html, re.S)
    assert form is not None
    assert '<input type="hidden" name="embedded" value="1">' in form[0]
    assert '<input type="hidden" name="shop" value="' in form[0]
    client.post(f"/api/v1/imports/{found['id']}/start", json={}, headers=headers)
    run_worker()
    done = client.get(url).get_data(as_text=True)
    assert 'id="import-finished"' in done
    assert re.search(r'<s-button [^>]*href="/admin/setup/imports/\d+/bad-rows.csv\?embedded=1', done)


STOPPED = "the import stopped on an error (OperationalError); the records stored before it are kept"


@pytest.mark.parametrize(
    ("failure", "language", "said"),
    [
        (
            STOPPED,
            "en",
            "The import failed. An error stopped it (OperationalError). The records stored until then"
            " are kept.",
        ),
        (
            STOPPED,
            "pl",
            "Import nie powiódł się. Przerwał go błąd (OperationalError). Rekordy zapisane wcześniej"
            " zostają zachowane.",
        ),
        (
            "missing column(s) email for customers",
            "pl",
            "Import nie powiódł się. Brakuje kolumn wymaganych dla tego rodzaju pliku: email.",
        ),
        (
            "unsupported encoding 'latin-2' (use utf-8, cp1250 or cp1252)",
            "es",
            "La importación falló. La codificación latin-2 no es compatible: usa UTF-8, Windows-1250 o"
            " Windows-1252.",
        ),
        (
            "row 5012: the file cannot be read further: 'utf-8' codec can't decode byte 0xe9",
            "pl",
            "Import nie powiódł się. Pliku nie można odczytać od wiersza 5012.",
        ),
        # A reason no catalog knows (one stored by another version) is shown as it is, as a sentence.
        ("a reason no catalog knows", "en", "The import failed. A reason no catalog knows"),
    ],
)
def test_a_failed_import_says_why_in_the_merchants_language(
    owner: FlaskClient,  # noqa: F811
    settings: Settings,
    account: dict[str, Any],  # noqa: F811
    failure: str,
    language: str,
    said: str,
) -> None:
    with session_scope(settings.database_url) as session:
        job = Import(
            store_id=account["store"],
            kind="customers",
            filename="people.csv",
            status=ImportStatus.FAILED,
            failure=failure,
            rows_read=1200,
            records_written=1000,
        )
        session.add(job)
        session.flush()
        import_id = job.id
    html = owner.get(
        f"/admin/setup/stores/{account['store']}/import?import={import_id}",
        headers={"Accept-Language": language},
    ).get_data(as_text=True)
    failed = re.search(r'id="import-failed"[^>]*>(.*?)</', html, re.S)
    assert failed is not None, html
    assert unescape(re.sub(r"\s+", " ", failed[1])).strip() == said
    assert 'data-poll="' not in html  # it is over: the page no longer asks for progress
