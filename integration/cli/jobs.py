"""`storepulse jobs`: failed jobs listed with their errors, and put back on their queues."""

from __future__ import annotations

import click

from integration.cli.common import emit, json_option, read_settings
from jobs.failed import failed_jobs, requeue_failed


@click.group("jobs")
def jobs() -> None:
    """Queued and failed jobs."""


@jobs.command("failed")
@json_option
def jobs_failed(as_json: bool) -> None:
    """List failed jobs with their errors (kept 30 days)."""
    rows = failed_jobs(read_settings())
    emit(
        as_json,
        rows,
        "\n".join(f"{r['id']}\t{r['queue']}\t{r['function']}\t{r['error']}" for r in rows)
        or "no failed jobs",
    )


@jobs.command("requeue")
@click.argument("job_ids", nargs=-1)
@click.option("--all", "everything", is_flag=True, help="Requeue every failed job.")
def jobs_requeue(job_ids: tuple[str, ...], everything: bool) -> None:
    """Put failed jobs back on their queues."""
    count = requeue_failed(read_settings(), job_ids, every=everything)
    click.echo(f"requeued {count} job(s)")
