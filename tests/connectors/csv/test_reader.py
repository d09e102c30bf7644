"""Reading CSV files: encodings, delimiters, quoting, and files that are no CSV."""

from __future__ import annotations

import io

import pytest

from connectors.csv.reader import CsvError, detect, read_rows

CZECH = "jméno;příjmení;město\nŽofie;Řeháková;Česká Třebová\n"
FRENCH = "prénom,nom,ville\nFrançoise,Lefèvre,Besançon\n"


@pytest.mark.parametrize(
    ("raw", "encoding", "delimiter"),
    [
        (CZECH.encode("cp1250"), "cp1250", ";"),
        (FRENCH.encode("cp1252"), "cp1252", ","),
        (CZECH.encode("utf-8"), "utf-8", ";"),
        ("\ufeff".encode() + FRENCH.encode("utf-8"), "utf-8-sig", ","),
        (b'"a;b",c,d\n1,2,3\n', "utf-8", ","),  # a semicolon inside quotes is no delimiter
    ],
)
def test_encoding_and_delimiter_are_detected(raw: bytes, encoding: str, delimiter: str) -> None:
    dialect = detect(raw)
    assert (dialect.encoding, dialect.delimiter) == (encoding, delimiter)


def test_rows_keep_their_text_whatever_the_encoding() -> None:
    for encoding in ("cp1250", "utf-8"):
        header, rows, _ = read_rows(io.BytesIO(CZECH.encode(encoding)))
        assert header == ["jméno", "příjmení", "město"]
        assert [r.cells for r in rows] == [
            {"jméno": "Žofie", "příjmení": "Řeháková", "město": "Česká Třebová"}
        ]


def test_quoted_newlines_blank_lines_and_row_numbers() -> None:
    raw = b'id,note\r\n1,"two\r\nlines"\r\n\r\n2,plain\r\n'
    _, rows, counter = read_rows(io.BytesIO(raw))
    got = [(r.number, r.cells) for r in rows]
    assert got == [(2, {"id": "1", "note": "two\r\nlines"}), (4, {"id": "2", "note": "plain"})]
    assert counter.consumed == len(raw)


def test_an_explicit_encoding_wins() -> None:
    raw = "name\nŠárka\n".encode("cp1250")
    _, rows, _ = read_rows(io.BytesIO(raw), encoding="cp1250")
    assert next(rows).cells == {"name": "Šárka"}


@pytest.mark.parametrize(
    ("raw", "message"),
    [(b"", "empty"), (b"\n\n", "empty"), (b"a,a\n1,2\n", "twice")],
)
def test_a_file_that_is_no_csv_is_refused_whole(raw: bytes, message: str) -> None:
    def read() -> None:
        _, rows, _ = read_rows(io.BytesIO(raw))
        list(rows)

    with pytest.raises(CsvError, match=message):
        read()


def test_bytes_that_break_the_detected_encoding_stop_with_the_row() -> None:
    raw = b"name\nplain\n" + b"x" * 70_000 + b"\nbad \xff\xfe here\n"
    _, rows, _ = read_rows(io.BytesIO(raw), encoding="utf-8")
    with pytest.raises(CsvError, match="row"):
        list(rows)


def test_an_unsupported_encoding_is_refused() -> None:
    with pytest.raises(CsvError, match="unsupported encoding"):
        detect(b"a\n", encoding="utf-16")
