"""Read a CSV file of any size as rows, in constant memory, whatever its encoding and delimiter.

Encodings: UTF-8 with or without BOM, Windows-1250 and Windows-1252. The first block of the file
decides: a BOM or valid UTF-8 means UTF-8; otherwise the single-byte code page whose letters the
bytes spell more of (Czech and Polish for 1250, Western European for 1252). The delimiter is the
one of `,` and `;` that the header line uses more. Quoted fields may hold delimiters and newlines.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from integration.errors import InvalidValue

SAMPLE_BYTES = 64 * 1024
ENCODINGS = ("utf-8", "utf-8-sig", "cp1250", "cp1252")
# Letters that one code page spells and the other does not (the same bytes read differently).
CP1250_LETTERS = set("ěščřžťďňůĺľŕąćęłńśźżőűĚŠČŘŽŤĎŇŮĹĽŔĄĆĘŁŃŚŹŻŐŰ")
CP1252_LETTERS = set("èìòùàâêîôûãõåøæœçñëïÿšžŠŽÈÌÒÙÀÂÊÎÔÛÃÕÅØÆŒÇÑËÏŸ") - CP1250_LETTERS


class ByteStream(Protocol):
    """Anything with a binary `read` (a file, an upload, the stored parts of one)."""

    def read(self, size: int = ..., /) -> bytes | None: ...


@dataclass(frozen=True)
class Dialect:
    encoding: str
    delimiter: str


class CsvError(InvalidValue):
    """The file cannot be read as CSV at all (not a row-level problem)."""


def detect(sample: bytes, encoding: str | None = None) -> Dialect:
    """Decide the encoding (unless given) and the delimiter from the first block of a file."""
    if encoding is None:
        encoding = _encoding(sample)
    elif codecs.lookup(encoding).name not in {codecs.lookup(e).name for e in ENCODINGS}:
        raise CsvError(f"unsupported encoding {encoding!r} (use utf-8, cp1250 or cp1252)")
    text = sample.decode(encoding, errors="replace")
    header = next(iter(text.splitlines()), "")
    if not header.strip():
        raise CsvError("the file is empty or its first line is blank")
    delimiter = ";" if _outside_quotes(header, ";") > _outside_quotes(header, ",") else ","
    return Dialect(encoding=encoding, delimiter=delimiter)


def _encoding(sample: bytes) -> str:
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        # A multi-byte character may be cut at the end of the block: only a final one may be partial.
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    as1250, as1252 = sample.decode("cp1250", errors="replace"), sample.decode("cp1252", errors="replace")
    score1250 = sum(ch in CP1250_LETTERS for ch in as1250)
    score1252 = sum(ch in CP1252_LETTERS for ch in as1252)
    return "cp1250" if score1250 > score1252 else "cp1252"


def _outside_quotes(line: str, char: str) -> int:
    count, quoted = 0, False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        elif ch == char and not quoted:
            count += 1
    return count


class CountingReader(io.RawIOBase):
    """A binary stream that counts the bytes read through it (for progress)."""

    def __init__(self, raw: ByteStream) -> None:
        self.raw = raw
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.raw.read(len(buffer)) or b""
        buffer[: len(data)] = data
        self.consumed += len(data)
        return len(data)


@dataclass
class Row:
    """One record of the file: its row number (the header is row 1) and its cells by column name."""

    number: int
    cells: dict[str, str]


def read_rows(
    stream: ByteStream, encoding: str | None = None
) -> tuple[list[str], Iterator[Row], CountingReader]:
    """Return the header, an iterator of rows and the byte counter, reading `stream` lazily."""
    counter = CountingReader(stream)
    buffered = io.BufferedReader(counter, buffer_size=SAMPLE_BYTES)
    dialect = detect(buffered.peek(SAMPLE_BYTES)[:SAMPLE_BYTES], encoding)
    text = io.TextIOWrapper(buffered, encoding=dialect.encoding, newline="", errors="strict")
    reader = csv.reader(text, delimiter=dialect.delimiter)
    try:
        header = [h.strip().lstrip("\ufeff") for h in next(reader)]
    except (StopIteration, UnicodeDecodeError, csv.Error) as exc:
        raise CsvError(f"cannot read the header: {exc}") from exc
    if len(set(header)) != len(header):
        raise CsvError("the header names a column twice")

    def rows() -> Iterator[Row]:
        number = 1
        try:
            for values in reader:
                number += 1
                if not any(v.strip() for v in values):
                    continue  # blank lines, such as a trailing one, are no records
                yield Row(number, {h: v.strip() for h, v in zip(header, values, strict=False)})
        except (UnicodeDecodeError, csv.Error) as exc:
            raise CsvError(f"row {number + 1}: the file cannot be read further: {exc}") from exc

    return header, rows(), counter
