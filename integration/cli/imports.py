"""`storepulse import`: a CSV file of customers, orders, checkouts or events into a store, with progress."""

from __future__ import annotations

from pathlib import Path

import click
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

from connectors.csv.importer import Report, import_csv
from connectors.csv.reader import CsvError
from integration.accounts import get_store
from integration.analytics import rfm, stats
from integration.cli.common import console, emit, json_option, opened, read_settings

SHOWN_ERRORS = 50  # bad rows listed in the text answer; --json has them all


@click.command("import")
@click.argument("store_id", type=int)
@click.argument("kind", type=click.Choice(["customers", "orders", "checkouts", "events"]))
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--encoding",
    type=click.Choice(["utf-8", "cp1250", "cp1252"]),
    default=None,
    help="The file's encoding (default: detected).",
)
@json_option
def import_file(store_id: int, kind: str, path: Path, encoding: str | None, as_json: bool) -> None:
    """Import a CSV file of customers, orders, checkouts or events into a store."""
    settings = read_settings()
    with opened(settings) as session:
        account_id = get_store(session, store_id).account_id
    with (
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress,
        path.open("rb") as stream,
    ):
        task = progress.add_task(f"Importing {path.name}", total=path.stat().st_size)
        try:
            report = import_csv(
                settings.database_url,
                store_id,
                kind,
                stream,
                encoding=encoding,
                progress=lambda r: progress.update(task, completed=r.bytes_read),
            )
        except CsvError as exc:
            raise click.ClickException(str(exc)) from exc
    if report.written:
        with opened(settings) as session:
            if kind == "orders":  # the buyers were folded when the import ended: RFM scores follow
                rfm.compute(session, account_id)
            stats.refresh_stats(session, account_id)
    emit(as_json, _data(report), _text(report))


def _data(report: Report) -> dict[str, object]:
    return {
        "layout": report.layout,
        "rows": report.rows_read,
        "written": report.written,
        "unchanged": report.unchanged,
        "duplicate": report.duplicate,
        "failed": report.failed,
        "errors": report.errors,
    }


def _text(report: Report) -> str:
    lines = [
        f"{report.rows_read} rows ({report.layout}): {report.written} records stored, "
        f"{report.unchanged} unchanged, {report.duplicate} duplicate, {report.failed} rows refused"
    ]
    lines += [f"  row {e['row']}, {e['column'] or '-'}: {e['reason']}" for e in report.errors[:SHOWN_ERRORS]]
    if report.failed > SHOWN_ERRORS:
        lines.append(f"  … and {report.failed - SHOWN_ERRORS} more (see --json)")
    return "\n".join(lines)
