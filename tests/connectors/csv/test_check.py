"""The dry read of a file's head: what it finds agrees with what the import then reads."""

from __future__ import annotations

import codecs
import csv
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.csv.check import check_file
from connectors.csv.reader import SAMPLE_BYTES, read_rows

CELLS = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)


def test_a_utf8_file_with_a_bom_names_its_columns_without_the_mark() -> None:
    raw = codecs.BOM_UTF8 + b"id,email\n1,a@example.com\n"
    found = check_file("customers", io.BytesIO(raw), len(raw))
    assert (found.encoding, found.header, found.matched, found.problem) == (
        "utf-8-sig",
        ["id", "email"],
        ["id", "email"],
        None,
    )


def test_a_large_file_has_its_rows_estimated_from_its_head() -> None:
    raw = b"id,email\n" + b"".join(b"%06d,buyer%06d@example.com\n" % (i, i) for i in range(20_000))
    found = check_file("customers", io.BytesIO(raw), len(raw))
    assert not found.rows_exact
    assert abs(found.rows - 20_000) <= 20  # rows of one length: the estimate is all but exact
    assert found.sample[0] == ["2", "000000", "buyer000000@example.com"]


def test_a_letter_cut_at_the_end_of_the_head_is_no_encoding_problem() -> None:
    row = "1,żółć@example.pl\n".encode()
    raw = b"id,email\n" + row * (SAMPLE_BYTES // len(row) + 10)
    found = check_file("customers", io.BytesIO(raw), len(raw))
    assert (found.encoding, found.problem) == ("utf-8", None)


@pytest.mark.parametrize(
    ("raw", "kind", "problem"),
    [
        (b"", "customers", "empty"),
        (b"\n\n", "customers", "empty"),
        (b"id,id\n1,2\n", "customers", "duplicate_column"),
        (b"id,email\n", "customers", "no_rows"),
        (b"email\na@example.com\n", "customers", "missing_columns"),
        ("id;email\n1;zoé@example.com\n".encode("cp1252"), "customers", None),
    ],
)
def test_problems_are_named(raw: bytes, kind: str, problem: str | None) -> None:
    assert check_file(kind, io.BytesIO(raw), len(raw)).problem == problem


def test_a_chosen_encoding_the_text_is_not_in_is_said() -> None:
    raw = "id;email\n1;zoé@example.com\n".encode("cp1252")
    assert check_file("customers", io.BytesIO(raw), len(raw), "utf-8").problem == "encoding"


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(
            st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12), min_size=2, max_size=2
        ),
        min_size=1,
        max_size=8,
    ),
    st.sampled_from([",", ";"]),
)
def test_the_check_reads_the_header_and_rows_the_import_reads(rows: list[list[str]], delimiter: str) -> None:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter)
    writer.writerow(["id", "email"])
    writer.writerows(rows)
    raw = out.getvalue().encode("utf-8")
    found = check_file("customers", io.BytesIO(raw), len(raw))
    header, read, _ = read_rows(io.BytesIO(raw))
    records = list(read)
    assert found.header == header
    assert found.rows == len(records)
    assert [row[0] for row in found.sample] == [str(r.number) for r in records[:5]]
