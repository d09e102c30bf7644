"""Check a CSV file before importing it: a dry read of its head, nothing stored.

The check reads the first block of the file the way the import will (the same encoding and
delimiter detection, the same layout recognition) and tells what it found: the layout, the
encoding, the delimiter, which header columns are read and which are left aside, the columns a
layout needs and the file lacks, an estimate of its rows and its first rows. A file that cannot be
read says why in `problem` (a short machine-readable reason) and `detail`.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from connectors.csv.formats import KINDS, known_columns, layout_of
from connectors.csv.reader import SAMPLE_BYTES, ByteStream, CsvError, detect

SAMPLE_ROWS = 5


@dataclass
class Check:
    """What a dry read of a file's head found; `problem` is set when the file cannot be imported."""

    kind: str
    size: int
    layout: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    header: list[str] = field(default_factory=list)
    matched: list[str] = field(default_factory=list)
    unrecognized: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    rows: int = 0
    rows_exact: bool = True
    # The first rows: each its row number in the file, then its cells.
    sample: list[list[str]] = field(default_factory=list)
    # Another kind whose columns the header has, when the chosen kind's are missing.
    suggested_kind: str | None = None
    problem: str | None = None
    detail: str | None = None


def check_file(kind: str, stream: ByteStream, size: int, encoding: str | None = None) -> Check:
    """Read the head of `stream` (a file of `size` bytes said to hold `kind` records) and describe it."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")
    result = Check(kind=kind, size=size)
    head = _head(stream)
    if not head.strip():
        result.problem, result.detail = "empty", "the file is empty"
        return result
    try:
        dialect = detect(head, encoding)
    except CsvError as exc:
        result.problem, result.detail = "unreadable", str(exc)
        return result
    result.encoding, result.delimiter = dialect.encoding, dialect.delimiter
    whole = len(head) >= size
    try:
        text = head.decode(dialect.encoding, errors="strict" if whole else "ignore")
    except UnicodeDecodeError as exc:
        result.problem, result.detail = "encoding", f"not {dialect.encoding} text: {exc.reason}"
        return result
    if not whole:  # the block may end inside a row: leave that row out of the sample and the count
        text = text[: text.rfind("\n") + 1] or text
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), delimiter=dialect.delimiter))
    except csv.Error as exc:
        result.problem, result.detail = "unreadable", f"not CSV: {exc}"
        return result
    header = [h.strip().lstrip("\ufeff") for h in records[0]] if records else []
    # Numbered as the import numbers rows: the header is row 1, blank lines count but hold no record.
    numbered = [(n, r) for n, r in enumerate(records[1:], start=2) if any(v.strip() for v in r)]
    rows = [r for _, r in numbered]
    result.header = header
    result.sample = [[str(n), *(v.strip() for v in r)] for n, r in numbered[:SAMPLE_ROWS]]
    result.rows = len(rows)
    if not whole and rows:
        result.rows_exact = False
        result.rows = round(len(rows) * size / len(text.encode(dialect.encoding, errors="replace")))
    if len(set(header)) != len(header):
        result.problem, result.detail = "duplicate_column", "the header names a column twice"
        return result
    _recognize(result, header)
    if result.problem is None and not rows:
        result.problem, result.detail = "no_rows", "the file has a header and no rows"
    return result


def _recognize(result: Check, header: list[str]) -> None:
    layout, missing = layout_of(result.kind, header)
    known = known_columns(result.kind, layout)
    result.layout, result.missing = layout, missing
    result.matched = [h for h in header if h in known]
    result.unrecognized = [h for h in header if h not in known]
    if missing:
        result.problem = "missing_columns"
        result.detail = f"missing column(s) {', '.join(missing)} for {result.kind}"
        result.suggested_kind = next(
            (k for k in KINDS if k != result.kind and _fits(k, header)),
            None,
        )


def _fits(kind: str, header: list[str]) -> bool:
    layout, missing = layout_of(kind, header)
    return not missing and (layout != "storepulse" or bool(set(header) & known_columns(kind, layout)))


def _head(stream: ByteStream) -> bytes:
    """The first SAMPLE_BYTES of the stream (fewer when the file is shorter)."""
    parts, left = [], SAMPLE_BYTES
    while left > 0:
        block = stream.read(left) or b""
        if not block:
            break
        parts.append(block)
        left -= len(block)
    return b"".join(parts)
