"""`storepulse syncs`: syncs of segments to destinations: made, previewed, started, paused and run."""

from __future__ import annotations

from typing import Any

import click

from integration.audiences import destinations
from integration.audiences import sync as syncing
from integration.audiences.sync import SyncError
from integration.cli.common import emit, json_option, opened, read_settings
from integration.settings import Settings
from jobs.sync import request_sync, run_sync_job

QUEUE_DOWN = "the queue is unavailable; the scheduled run will send it"


@click.group("syncs")
def syncs() -> None:
    """Syncs of segments to Shopify tags, Mailchimp, Klaviyo and signed webhooks."""


@syncs.command("list")
@click.argument("account_id", type=int)
@json_option
def syncs_list(account_id: int, as_json: bool) -> None:
    """Show an account's syncs: status, contacts delivered and failing, last run."""
    with opened(read_settings()) as session:
        data = [
            destinations.describe_sync(session, s) for s in destinations.account_syncs(session, account_id)
        ]
    lines = [
        f"sync {d['id']}: segment {d['segment_id']} → destination {d['destination_id']} ({d['mode']}, "
        f"{d['tag']}) {d['status']}{'' if d['enabled'] or d['status'] == 'paused' else ', paused'}: "
        f"{d['delivered']} delivered, {d['failing']} failing"
        f"{'' if d['last_run_at'] else ', never run'}{'; ' + d['last_error'] if d['last_error'] else ''}"
        for d in data
    ]
    emit(as_json, {"syncs": data}, "\n".join(lines) or "no syncs")


@syncs.command("create")
@click.argument("account_id", type=int)
@click.argument("segment_id", type=int)
@click.argument("destination_id", type=int)
@click.option("--tag", default=None, help="The tag's name after the prefix (default: from the segment).")
@click.option("--start", is_flag=True, help="Start at once: queue the first run (default: made paused).")
@json_option
def syncs_create(
    account_id: int, segment_id: int, destination_id: int, tag: str | None, start: bool, as_json: bool
) -> None:
    """Keep a segment in step with a destination; made paused, to be previewed and started."""
    settings = read_settings()
    with opened(settings) as session:
        try:
            made = destinations.create_sync(
                session,
                account_id,
                segment_id=segment_id,
                destination_id=destination_id,
                tag_prefix=settings.tag_prefix,
                tag=tag,
                start=start,
            )
        except SyncError as exc:
            raise click.ClickException(str(exc)) from exc
        data = destinations.describe_sync(session, made)
    sync_id = data["id"]
    if start:
        data["queued"] = request_sync(settings, sync_id)
        text = f"sync {sync_id} created and started ({data['tag']}): " + _queued_text(
            data["queued"], account_id
        )
    else:
        text = (
            f"sync {sync_id} created, paused ({data['tag']}): nothing is sent until it is started.\n"
            f"  see what its first run would send: storepulse syncs preview {sync_id}\n"
            f"  then start it:                     storepulse syncs start {sync_id}"
        )
    emit(as_json, data, text)


def _queued_text(queued: bool, account_id: int) -> str:
    if queued:
        return f"a run is queued (storepulse syncs list {account_id} shows how it went)"
    return QUEUE_DOWN


def _set_enabled(settings: Settings, sync_id: int, enabled: bool) -> tuple[dict[str, Any], int]:
    """Start or pause a sync; return it described, and its account."""
    with opened(settings) as session:
        found = destinations.set_sync_enabled(session, sync_id, enabled)
        return destinations.describe_sync(session, found), found.account_id


@syncs.command("start")
@click.argument("sync_id", type=int)
@json_option
def syncs_start(sync_id: int, as_json: bool) -> None:
    """Start (or resume) a sync: queue a run now, and let the schedule and data changes run it."""
    settings = read_settings()
    data, account_id = _set_enabled(settings, sync_id, True)
    data["queued"] = request_sync(settings, sync_id)
    text = f"sync {sync_id} started: " + _queued_text(data["queued"], account_id)
    if data["status"] == "stopped":
        text = f"sync {sync_id} started, but stopped by its destination: {data['last_error']}"
    emit(as_json, data, text)


@syncs.command("pause")
@click.argument("sync_id", type=int)
@json_option
def syncs_pause(sync_id: int, as_json: bool) -> None:
    """Pause a sync: no run starts until it is started again (a run under way finishes)."""
    data, _ = _set_enabled(read_settings(), sync_id, False)
    emit(as_json, data, f"sync {sync_id} paused; storepulse syncs start {sync_id} resumes it")


@syncs.command("preview")
@click.argument("sync_id", type=int)
@json_option
def syncs_preview(sync_id: int, as_json: bool) -> None:
    """Dry run: what the next run would send, sending nothing."""
    with opened(read_settings()) as session:
        found = destinations.find_sync(session, sync_id)
        data = syncing.preview(session, found)
        paused = not found.enabled
    text = (
        f"{data['adds']} adds, {data['updates']} updates, {data['removes']} removes, "
        f"{data['unchanged']} unchanged"
    )
    if paused:
        text += f"\nthe sync is paused: storepulse syncs start {sync_id} sends this"
    emit(as_json, data, text)


@syncs.command("run")
@click.argument("sync_id", type=int)
@click.option("--now", is_flag=True, help="Run here and wait, instead of queueing a job.")
@json_option
def syncs_run(sync_id: int, now: bool, as_json: bool) -> None:
    """Send a sync's difference to its destination."""
    settings = read_settings()
    with opened(settings) as session:
        if not destinations.find_sync(session, sync_id).enabled:
            raise click.ClickException(
                f"sync {sync_id} is paused: storepulse syncs start {sync_id} starts it (and queues a run)"
            )
    if not now:
        if not request_sync(settings, sync_id):
            raise click.ClickException(QUEUE_DOWN)
        emit(as_json, {"sync_id": sync_id, "queued": True}, f"sync {sync_id} queued")
        return
    run_id = run_sync_job(sync_id)
    if run_id is None:
        raise click.ClickException(
            f"sync {sync_id} did not run: it is stopped, already running, or its destination is busy"
        )
    with opened(settings) as session:
        data = destinations.runs(session, sync_id, limit=1)[0]
    text = (
        f"run {data['id']} {data['status']}: {data['adds']} adds, {data['updates']} updates, "
        f"{data['removes']} removes, {data['failed']} failed{'; ' + data['error'] if data['error'] else ''}"
    )
    emit(as_json, data, text)
