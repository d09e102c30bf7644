"""An import's bad rows as a CSV file: row, column, reason, then the row's own cells."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

LEADING_COLUMNS = ("row", "column", "reason")


def bad_rows_csv(errors: Iterable[dict[str, Any]]) -> str:
    """Write the reported bad rows, one line per reason, with the file's columns in their first order."""
    errors = list(errors)
    columns: dict[str, None] = {}
    for error in errors:
        columns.update(dict.fromkeys(name for name, _ in error.get("cells") or ()))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([*LEADING_COLUMNS, *(_safe(c) for c in columns)])
    for error in errors:
        values = dict(error.get("cells") or ())
        writer.writerow(
            [
                error.get("row", ""),
                _safe(error.get("column") or ""),
                _safe(error.get("reason") or ""),
                *(_safe(values.get(c, "")) for c in columns),
            ]
        )
    return out.getvalue()


def _safe(cell: str) -> str:
    """Keep a spreadsheet from reading a cell as a formula (CSV injection)."""
    return "'" + cell if cell[:1] in ("=", "+", "-", "@", "\t", "\r") else cell
