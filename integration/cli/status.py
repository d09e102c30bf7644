"""`storepulse status`: live workers and schedulers, queues, failed jobs and the inbox's backlog."""

from __future__ import annotations

from typing import Any

import click

from integration.cli.common import emit, json_option, read_settings
from jobs.status import snapshot


@click.command("status")
@json_option
def status(as_json: bool) -> None:
    """Show live workers and schedulers, queue lengths, failed jobs and the inbox's pending deliveries."""
    data = snapshot(read_settings())
    emit(as_json, data, status_text(data))


def status_text(data: dict[str, Any]) -> str:
    """The snapshot as lines for people: servers, processes, queues, then the inbox."""
    lines = [f"redis: {data['redis']}", f"database: {data['database']}"]
    processes = data["processes"]
    lines.append(f"processes: {len(processes) or 'none alive'}")
    for p in processes:
        job = f", running {p['job']}" if p["job"] else ""
        last = f", last job {p['last_job']} at {p['last_job_at']}" if p["last_job"] else ""
        lines.append(
            f"  {p['kind']:<9} {p['host']}:{p['pid']}  {p['state']} since {p['since']}"
            f"{job}, {p['jobs']} jobs{last}"
        )
    if data["queues"]:
        lines.append("queues:")
        for q in data["queues"]:
            lines.append(
                f"  {q['name']:<8} {q['waiting']} waiting, {q['running']} running, "
                f"{q['scheduled']} scheduled for retry, {q['failed']} failed"
            )
    inbox = data["inbox"]
    if inbox is not None:
        if inbox["pending"]:
            lines.append(f"inbox: {inbox['pending']} pending, oldest {inbox['oldest_age_seconds']} s old")
            for s in inbox["sources"]:
                lines.append(
                    f"  {s['source']:<10} {s['pending']} pending, oldest received {s['oldest_received_at']}"
                )
        else:
            lines.append("inbox: nothing pending")
    return "\n".join(lines)
