"""The `storepulse` command line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from cryptography.fernet import Fernet
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from integration import __version__
from integration.errors import ConfigError
from integration.operations.logs import configure_logging
from integration.settings import Settings, get_settings
from integration.store import session_scope

console = Console(stderr=True)


def _emit(as_json: bool, data: Any, text: str) -> None:
    click.echo(json.dumps(data, default=str, indent=2) if as_json else text)


def _settings(quiet: bool = False) -> Settings:
    """Read settings and set up logging (`quiet`: warnings only, for commands that show progress)."""
    settings = get_settings()
    configure_logging(settings, quiet)
    return settings


json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")


@click.group()
@click.version_option(__version__, prog_name="storepulse")
def cli() -> None:
    """storepulse: customers, orders, checkouts and engagement of your stores, in one place."""


# ---- db ---------------------------------------------------------------------------------------


@cli.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@json_option
def db_upgrade(as_json: bool) -> None:
    """Create or migrate the schema to this version (safe to run again)."""
    from integration.store.db import upgrade

    settings = _settings(quiet=True)
    before, after = upgrade(settings.database_url)
    _emit(
        as_json,
        {"from": before, "to": after, "changed": before != after},
        f"database at {after}" + ("" if before != after else " (already up to date)"),
    )


# ---- accounts, stores, keys -------------------------------------------------------------------


@cli.group()
def accounts() -> None:
    """Merchant accounts."""


@accounts.command("create")
@click.argument("name")
@click.option("--time-zone", default=None, help="IANA time zone (default: STOREPULSE_TIME_ZONE).")
@json_option
def accounts_create(name: str, time_zone: str | None, as_json: bool) -> None:
    """Create an account."""
    from integration.accounts import create_account

    settings = _settings(quiet=True)
    with session_scope(settings.database_url) as session:
        account = _checked(lambda: create_account(session, name, time_zone or settings.default_time_zone))
        data = {"id": account.id, "name": account.name, "time_zone": account.time_zone}
    _emit(as_json, data, f"account {data['id']} created: {data['name']}")


@accounts.command("list")
@json_option
def accounts_list(as_json: bool) -> None:
    """List accounts."""
    from sqlalchemy import select

    from integration.store.models import Account

    with session_scope(_settings(quiet=True).database_url) as session:
        rows = [
            {"id": a.id, "name": a.name, "time_zone": a.time_zone}
            for a in session.scalars(select(Account).order_by(Account.id))
        ]
    _emit(
        as_json, rows, "\n".join(f"{r['id']}\t{r['name']}\t{r['time_zone']}" for r in rows) or "no accounts"
    )


@cli.group()
def stores() -> None:
    """Stores (connected sources) of an account."""


@stores.command("add")
@click.argument("account_id", type=int)
@click.option("--platform", type=click.Choice(["shopify", "csv", "api"]), default="api", show_default=True)
@click.option("--name", required=True)
@click.option("--currency", required=True, help="ISO 4217 code, e.g. EUR.")
@click.option("--time-zone", default="UTC", show_default=True)
@click.option("--shop-domain", default=None, help="The shop's myshopify.com domain (Shopify).")
@json_option
def stores_add(
    account_id: int,
    platform: str,
    name: str,
    currency: str,
    time_zone: str,
    shop_domain: str | None,
    as_json: bool,
) -> None:
    """Add a store to an account."""
    from integration.accounts import add_store
    from integration.store.models import Platform

    with session_scope(_settings(quiet=True).database_url) as session:
        store = _checked(
            lambda: add_store(
                session,
                account_id,
                platform=Platform(platform),
                name=name,
                currency=currency,
                time_zone=time_zone,
                shop_domain=shop_domain,
            )
        )
        data = {"id": store.id, "account_id": account_id, "platform": platform, "name": store.name}
    _emit(as_json, data, f"store {data['id']} added to account {account_id}")


@cli.group()
def sources() -> None:
    """Email tools that post their events (opens, clicks, bounces, consent) to storepulse."""


@sources.command("add")
@click.argument("account_id", type=int)
@click.option("--kind", type=click.Choice(["sendgrid", "mailchimp"]), required=True)
@click.option("--name", default=None, help="A name to tell sources apart (default: the kind).")
@click.option(
    "--verification-key",
    default=None,
    help="SendGrid's signed Event Webhook public key (PEM or base64 DER); required for SendGrid.",
)
@json_option
def sources_add(
    account_id: int, kind: str, name: str | None, verification_key: str | None, as_json: bool
) -> None:
    """Connect an email tool; prints the webhook URL to enter in the tool (shown once for Mailchimp)."""
    from integration.accounts import add_email_source, email_webhook_path
    from integration.store.models import EmailTool

    if kind == "sendgrid" and not (verification_key or "").strip():
        raise click.UsageError(
            "--verification-key is required for SendGrid: turn on Signature Verification in "
            "SendGrid's Event Webhook settings and pass the public key it shows"
        )
    settings = _settings(quiet=True)
    with session_scope(settings.database_url) as session:
        source, secret = _checked(
            lambda: add_email_source(session, account_id, EmailTool(kind), name or kind, verification_key)
        )
        url = settings.app_url + email_webhook_path(source, secret)
        data = {"id": source.id, "account_id": account_id, "kind": kind, "url": url}
    _emit(as_json, data, f"email source {data['id']}: set the webhook URL in {kind} to\n{url}")


@sources.command("list")
@click.argument("account_id", type=int, required=False)
@json_option
def sources_list(account_id: int | None, as_json: bool) -> None:
    """List email sources (of one account, or all) and whether each accepts deliveries."""
    from integration.accounts import describe_email_source, email_sources

    settings = _settings(quiet=True)
    with session_scope(settings.database_url) as session:
        rows = [describe_email_source(s) for s in email_sources(session, account_id)]
    for row in rows:
        row["url"] = settings.app_url + row.pop("path")
    lines = [
        f"{r['id']}\t{r['account_id']}\t{r['kind']}\t{r['name']}\t{r['url']}\t"
        + (
            "accepts signed deliveries"
            if r["signed"]
            else "accepts deliveries"
            if r["accepts_deliveries"]
            else f"REFUSES DELIVERIES: {r['problem']} (storepulse sources set-key {r['id']} KEY)"
        )
        for r in rows
    ]
    _emit(as_json, {"sources": rows}, "\n".join(lines) or "no email sources")


@sources.command("set-key")
@click.argument("source_id", type=int)
@click.argument("verification_key")
@json_option
def sources_set_key(source_id: int, verification_key: str, as_json: bool) -> None:
    """Set or replace a SendGrid source's verification key (the signed Event Webhook's public key)."""
    from integration.accounts import describe_email_source, set_verification_key

    settings = _settings(quiet=True)
    with session_scope(settings.database_url) as session:
        source = _checked(lambda: set_verification_key(session, source_id, verification_key))
        data = describe_email_source(source)
    data["url"] = settings.app_url + data.pop("path")
    _emit(as_json, data, f"email source {source_id}: only deliveries signed with this key are accepted")


@cli.group()
def keys() -> None:
    """API keys."""


@keys.command("create")
@click.argument("account_id", type=int)
@click.option("--name", default="default", show_default=True)
@json_option
def keys_create(account_id: int, name: str, as_json: bool) -> None:
    """Create an API key; the key is printed only this once."""
    from integration.accounts import create_api_key

    with session_scope(_settings(quiet=True).database_url) as session:
        key, token = _checked(lambda: create_api_key(session, account_id, name))
        data = {"prefix": key.prefix, "key": token, "account_id": account_id, "name": name}
    _emit(as_json, data, f"{token}\n(prefix {data['prefix']}; store it now, it is not shown again)")


@keys.command("revoke")
@click.argument("prefix")
@json_option
def keys_revoke(prefix: str, as_json: bool) -> None:
    """Revoke the API key with this prefix."""
    from integration.accounts import revoke_api_key

    with session_scope(_settings(quiet=True).database_url) as session:
        key = _checked(lambda: revoke_api_key(session, prefix))
        data = {"prefix": key.prefix, "revoked_at": key.revoked_at}
    _emit(as_json, data, f"key {prefix} revoked")


@keys.command("encryption-key")
def keys_encryption_key() -> None:
    """Print a new value for STOREPULSE_ENCRYPTION_KEY."""
    click.echo(Fernet.generate_key().decode())


def _checked(action: Callable[[], Any]) -> Any:
    try:
        return action()
    except (LookupError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc


# ---- shopify ------------------------------------------------------------------------------------


@cli.group()
def shopify() -> None:
    """Connected Shopify stores: backfill, reconciliation and customers' data requests."""


@shopify.command("backfill")
@click.argument("store_id", type=int)
@click.option("--now", is_flag=True, help="Start the first stage from here instead of queueing a job.")
@json_option
def shopify_backfill(store_id: int, now: bool, as_json: bool) -> None:
    """Read a store's existing customers, orders and abandoned checkouts from Shopify again."""
    from jobs.queues import INGEST, enqueue
    from jobs.shopify import start_backfill_job

    settings = _settings(quiet=True)
    if now:
        from integration.store.models import Backfill

        backfill_id = start_backfill_job(store_id)
        if backfill_id is None:
            raise click.ClickException(f"store {store_id} is not a connected Shopify store")
        with session_scope(settings.database_url) as session:
            stage = session.get(Backfill, backfill_id)
            status, error = (stage.status, stage.error) if stage is not None else ("pending", None)
        if status == "failed":
            raise click.ClickException(f"backfill {backfill_id}: Shopify refused its first stage: {error}")
        data: dict[str, Any] = {"store_id": store_id, "backfill_id": backfill_id, "status": status}
        _emit(as_json, data, f"backfill {backfill_id} {status}; Shopify reports when each stage finishes")
        return
    job = enqueue(settings, INGEST, start_backfill_job, store_id)
    data = {"store_id": store_id, "job_id": job.id}
    _emit(as_json, data, f"backfill of store {store_id} queued (job {job.id})")


@shopify.command("status")
@click.argument("store_id", type=int)
@json_option
def shopify_status(store_id: int, as_json: bool) -> None:
    """Show a store's backfill stages (a failed one with its error) and when it was last reconciled."""
    from integration.ingest.backfill import store_backfill
    from integration.store.models import Store

    with session_scope(_settings(quiet=True).database_url) as session:
        store = session.get(Store, store_id)
        if store is None:
            raise click.ClickException(f"no store {store_id}")
        data = store_backfill(session, store)
    lines = [f"store {store_id}: {data['state']}, reconciled at {data['reconciled_at'] or 'never'}"]
    for s in data["backfill"]:
        lines.append(f"  {s['stage']:<10} {s['status']:<10} {s['records']} records, {s['invalid']} invalid")
        if s["error"]:
            lines.append(f"             error: {s['error']}")
    _emit(as_json, data, "\n".join(lines))


@shopify.command("data-requests")
@click.argument("account_id", type=int)
@click.option("--show", "export_id", type=int, default=None, help="Print one export in full (JSON).")
@json_option
def shopify_data_requests(account_id: int, export_id: int | None, as_json: bool) -> None:
    """List customers' data requests prepared for the merchant, or print one export."""
    from integration import privacy

    with session_scope(_settings(quiet=True).database_url) as session:
        if export_id is not None:
            export = privacy.get_export(session, account_id, export_id)
            if export is None:
                raise click.ClickException(f"no data export {export_id} in account {account_id}")
            click.echo(json.dumps(export, indent=2))
            return
        exports = privacy.list_exports(session, account_id)
    text = "\n".join(
        f"{e['id']:>6}  {e['created_at']}  store {e['store_id']}  customer {e['customer_id']}"
        for e in exports
    )
    _emit(as_json, exports, text or "no data requests")


# ---- imports ------------------------------------------------------------------------------------


@cli.group()
def syncs() -> None:
    """Syncs of segments to Shopify tags, Mailchimp, Klaviyo and signed webhooks."""


@syncs.command("list")
@click.argument("account_id", type=int)
@json_option
def syncs_list(account_id: int, as_json: bool) -> None:
    """Show an account's syncs: status, contacts delivered and failing, last run."""
    from sqlalchemy import select

    from integration.audiences import destinations
    from integration.store.models import Sync

    with session_scope(_settings(quiet=True).database_url) as session:
        rows = session.scalars(select(Sync).where(Sync.account_id == account_id).order_by(Sync.id))
        data = [destinations.describe_sync(session, s) for s in rows]
    lines = [
        f"sync {d['id']}: segment {d['segment_id']} → destination {d['destination_id']} ({d['mode']}, "
        f"{d['tag']}) {d['status']}{'' if d['enabled'] or d['status'] == 'paused' else ', paused'}: "
        f"{d['delivered']} delivered, {d['failing']} failing"
        f"{'' if d['last_run_at'] else ', never run'}{'; ' + d['last_error'] if d['last_error'] else ''}"
        for d in data
    ]
    _emit(as_json, {"syncs": data}, "\n".join(lines) or "no syncs")


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
    from integration.audiences import destinations
    from integration.audiences.sync import SyncError
    from jobs.sync import request_sync

    settings = _settings(quiet=True)
    with session_scope(settings.database_url) as session:
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
        except (LookupError, SyncError) as exc:
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
    _emit(as_json, data, text)


def _queued_text(queued: bool, account_id: int) -> str:
    if queued:
        return f"a run is queued (storepulse syncs list {account_id} shows how it went)"
    return "the queue is unavailable; the scheduled run will send it"


def _set_enabled(settings: Settings, sync_id: int, enabled: bool) -> tuple[dict[str, Any], int]:
    """Start or pause a sync; return it described, and its account."""
    from integration.audiences import destinations
    from integration.store.models import Sync

    with session_scope(settings.database_url) as session:
        found = session.get(Sync, sync_id)
        if found is None:
            raise click.ClickException(f"no sync {sync_id}")
        found.enabled = enabled
        session.flush()
        return destinations.describe_sync(session, found), found.account_id


@syncs.command("start")
@click.argument("sync_id", type=int)
@json_option
def syncs_start(sync_id: int, as_json: bool) -> None:
    """Start (or resume) a sync: queue a run now, and let the schedule and data changes run it."""
    from jobs.sync import request_sync

    settings = _settings(quiet=True)
    data, account_id = _set_enabled(settings, sync_id, True)
    data["queued"] = request_sync(settings, sync_id)
    text = f"sync {sync_id} started: " + _queued_text(data["queued"], account_id)
    if data["status"] == "stopped":
        text = f"sync {sync_id} started, but stopped by its destination: {data['last_error']}"
    _emit(as_json, data, text)


@syncs.command("pause")
@click.argument("sync_id", type=int)
@json_option
def syncs_pause(sync_id: int, as_json: bool) -> None:
    """Pause a sync: no run starts until it is started again (a run under way finishes)."""
    data, _ = _set_enabled(_settings(quiet=True), sync_id, False)
    _emit(as_json, data, f"sync {sync_id} paused; storepulse syncs start {sync_id} resumes it")


@syncs.command("preview")
@click.argument("sync_id", type=int)
@json_option
def syncs_preview(sync_id: int, as_json: bool) -> None:
    """Dry run: what the next run would send, sending nothing."""
    from integration.audiences import sync
    from integration.store.models import Sync

    with session_scope(_settings(quiet=True).database_url) as session:
        found = session.get(Sync, sync_id)
        if found is None:
            raise click.ClickException(f"no sync {sync_id}")
        data = sync.preview(session, found)
        paused = not found.enabled
    text = (
        f"{data['adds']} adds, {data['updates']} updates, {data['removes']} removes, "
        f"{data['unchanged']} unchanged"
    )
    if paused:
        text += f"\nthe sync is paused: storepulse syncs start {sync_id} sends this"
    _emit(as_json, data, text)


@syncs.command("run")
@click.argument("sync_id", type=int)
@click.option("--now", is_flag=True, help="Run here and wait, instead of queueing a job.")
@json_option
def syncs_run(sync_id: int, now: bool, as_json: bool) -> None:
    """Send a sync's difference to its destination."""
    from integration.store.models import Sync
    from jobs.sync import request_sync, run_sync_job

    settings = _settings(quiet=True)
    with session_scope(settings.database_url) as session:
        found = session.get(Sync, sync_id)
        if found is None:
            raise click.ClickException(f"no sync {sync_id}")
        if not found.enabled:
            raise click.ClickException(
                f"sync {sync_id} is paused: storepulse syncs start {sync_id} starts it (and queues a run)"
            )
    if not now:
        if not request_sync(settings, sync_id):
            raise click.ClickException("the queue is unavailable; the scheduled run will send it")
        _emit(as_json, {"sync_id": sync_id, "queued": True}, f"sync {sync_id} queued")
        return
    from integration.audiences import destinations

    run_id = run_sync_job(sync_id)
    if run_id is None:
        raise click.ClickException(
            f"sync {sync_id} did not run: it is stopped, already running, or its destination is busy"
        )
    with session_scope(settings.database_url) as session:
        data = destinations.runs(session, sync_id, limit=1)[0]
    text = (
        f"run {data['id']} {data['status']}: {data['adds']} adds, {data['updates']} updates, "
        f"{data['removes']} removes, {data['failed']} failed{'; ' + data['error'] if data['error'] else ''}"
    )
    _emit(as_json, data, text)


@cli.command("import")
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
    from connectors.csv.importer import import_csv
    from connectors.csv.reader import CsvError
    from integration.store.models import Store

    settings = _settings(quiet=True)
    with session_scope(settings.database_url) as session:
        if session.get(Store, store_id) is None:
            raise click.ClickException(f"no store {store_id}")
    size = path.stat().st_size
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
        task = progress.add_task(f"Importing {path.name}", total=size)
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
        from integration.analytics import stats
        from integration.store.models import Store

        with session_scope(settings.database_url) as session:
            store = session.get(Store, store_id)
            if store is not None:
                stats.refresh_stats(session, store.account_id)
    data = {
        "layout": report.layout,
        "rows": report.rows_read,
        "written": report.written,
        "unchanged": report.unchanged,
        "duplicate": report.duplicate,
        "failed": report.failed,
        "errors": report.errors,
    }
    lines = [
        f"{report.rows_read} rows ({report.layout}): {report.written} records stored, "
        f"{report.unchanged} unchanged, {report.duplicate} duplicate, {report.failed} rows refused"
    ]
    lines += [f"  row {e['row']}, {e['column'] or '-'}: {e['reason']}" for e in report.errors[:50]]
    if report.failed > 50:
        lines.append(f"  … and {report.failed - 50} more (see --json)")
    _emit(as_json, data, "\n".join(lines))


# ---- processes --------------------------------------------------------------------------------


@cli.command()
@click.option("--burst", is_flag=True, help="Drain the queues, then exit.")
@click.option("--queue", "queues", multiple=True, help="Queues to work (default: ingest, compute, sync).")
def worker(burst: bool, queues: tuple[str, ...]) -> None:
    """Run a job worker (rides out Redis and database outages; SIGTERM finishes or returns its job)."""
    from jobs.worker import run

    # A SimpleWorker runs jobs in this process: jobs are short and batched, so a fork per job
    # would cost more than most jobs, and the engine's connection pool stays warm.
    run(_settings(), list(queues), burst=burst)


@cli.command()
def scheduler() -> None:
    """Run the periodic-job scheduler (rides out Redis outages; SIGTERM stops it at once)."""
    from jobs import schedule

    schedule.run(_settings())


@cli.command()
@json_option
def status(as_json: bool) -> None:
    """Show live workers and schedulers, queue lengths, failed jobs and the inbox's pending deliveries."""
    from jobs.status import snapshot

    data = snapshot(_settings(quiet=True))
    _emit(as_json, data, _status_text(data))


def _status_text(data: dict[str, Any]) -> str:
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


@cli.command()
@click.option("--port", type=int, default=None, help="Port (default: PORT, 8000).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--workers", "worker_count", type=int, default=1, show_default=True, help="Job workers.")
def serve(port: int | None, host: str, worker_count: int) -> None:
    """Run web, worker and scheduler on this machine until Ctrl-C."""
    _serve(_settings(), host, port, worker_count)


def _serve(settings: Settings, host: str, port: int | None, worker_count: int) -> None:
    from integration.store.db import upgrade
    from jobs.queues import connection

    upgrade(settings.database_url)
    connection(settings).ping()  # starts the embedded Redis first, so every process joins it
    port = port or settings.port
    me = [sys.executable, "-m", "integration.cli"]
    commands = [
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"{host}:{port}",
            "--workers",
            "2",
            "--access-logfile",
            "-",
            "--logger-class",
            "integration.web.access_log.AccessLogger",
            "integration.web.app:create_app()",
        ],
        *([*me, "worker"] for _ in range(worker_count)),
        [*me, "scheduler"],
    ]
    children = [subprocess.Popen(c) for c in commands]
    console.print(f"storepulse is up at [bold]http://{host}:{port}[/] — Ctrl-C stops it")
    stopping = False

    def _stop(_signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        while not stopping and all(c.poll() is None for c in children):
            time.sleep(0.5)
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                # A worker may take its shutdown grace to finish (or give back) the job under way.
                child.wait(timeout=settings.shutdown_grace_seconds + 10)
            except subprocess.TimeoutExpired:
                child.kill()


# ---- jobs ---------------------------------------------------------------------------------------


@cli.group()
def jobs() -> None:
    """Queued and failed jobs."""


@jobs.command("failed")
@json_option
def jobs_failed(as_json: bool) -> None:
    """List failed jobs with their errors (kept 30 days)."""
    from rq.registry import FailedJobRegistry

    from jobs.queues import QUEUES, queue

    settings = _settings(quiet=True)
    rows: list[dict[str, str]] = []
    for name in QUEUES:
        q = queue(settings, name)
        registry = FailedJobRegistry(queue=q)
        for job in q.job_class.fetch_many(
            registry.get_job_ids(), connection=q.connection, serializer=q.serializer
        ):
            if job is not None:
                result = job.latest_result()
                trace = ((result.exc_string if result else "") or "").strip().splitlines()
                rows.append(
                    {
                        "id": job.id,
                        "queue": name,
                        "function": job.func_name or "",
                        "error": trace[-1] if trace else "",  # the exception's own line
                    }
                )
    _emit(
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
    from rq.registry import FailedJobRegistry

    from jobs.queues import QUEUES, queue

    settings = _settings(quiet=True)
    count = 0
    for name in QUEUES:
        registry = FailedJobRegistry(queue=queue(settings, name))
        for job_id in registry.get_job_ids():
            if everything or job_id in job_ids:
                registry.requeue(job_id)
                count += 1
    click.echo(f"requeued {count} job(s)")


# ---- demo ---------------------------------------------------------------------------------------


@cli.command()
@click.option("--contacts", type=click.IntRange(100, 200_000), default=5000, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--serve", "then_serve", is_flag=True, help="Stay up at http://127.0.0.1:8000 afterwards.")
@json_option
def demo(contacts: int, seed: int, then_serve: bool, as_json: bool) -> None:
    """Build a demo account, feed it through the inbox and workers, and print its summary."""
    from integration.demo.run import run_demo

    settings = _settings(quiet=True)
    started = time.monotonic()
    summary, token = run_demo(settings, contacts=contacts, seed=seed, console=console)
    summary["seconds"] = round(time.monotonic() - started, 1)
    if as_json:
        click.echo(json.dumps({**summary, "api_key": token}, indent=2, default=str))
    else:
        _print_summary(summary, token)
    if then_serve:
        _serve(settings, "127.0.0.1", None, 1)


SUMMARY_WIDTH = 120  # characters, when the output is not a terminal (a file, a pipe)


def _print_summary(summary: dict[str, Any], token: str) -> None:
    out = Console()
    if not out.is_terminal:
        # Not the 80 columns rich assumes: the tables stay readable and the lines whole.
        out = Console(width=SUMMARY_WIDTH, soft_wrap=True)
    table = Table(title=f"{summary['account']['name']}: contacts by engagement and subscription")
    subs = ["subscribed", "unknown", "unsubscribed"]
    for column in ["engagement", *subs, "total"]:
        table.add_column(column, justify="left" if column == "engagement" else "right")
    for group in ("engaged", "unengaged", "blocked"):
        counts = summary["contacts"]["by_engagement"].get(group, {})
        table.add_row(group, *(str(counts.get(s, 0)) for s in subs), str(sum(counts.values())))
    out.print(table)
    orders = summary["orders"]
    revenue = ", ".join(f"{r['amount']} {r['currency']} ({r['orders']} orders)" for r in orders["revenue"])
    out.print(f"Orders: {orders['total']} in all; revenue (not cancelled, voided or refunded): {revenue}")
    carts = summary["checkouts"]
    out.print(
        "Checkouts: " + ", ".join(f"{carts.get(s, 0)} {s}" for s in ("completed", "abandoned", "recovered"))
    )
    out.print(
        f"Campaigns: {summary['campaigns']} with {summary['campaign_sends']} sends; "
        f"interactions stored: {summary['interactions']}"
    )
    out.print(_campaign_table(summary.get("campaign_results", [])))
    out.print(f"Built in {summary['seconds']} s. API key for this account (shown once): {token}")


def _campaign_table(results: list[dict[str, Any]]) -> Table:
    table = Table(title="Campaign results (orders within the attribution window)")
    for column in ("campaign", "channel", "sends", "opened", "clicked", "scanned", "ordered", "revenue"):
        table.add_column(column, justify="left" if column in ("campaign", "channel", "revenue") else "right")
    for r in results:
        revenue = "\n".join(f"{m['amount']} {m['currency']}" for m in r["revenue"]) or "-"
        counts = (str(r[k]) for k in ("sends", "opened", "clicked", "scanned", "ordered"))
        table.add_row(r["name"], r["channel"], *counts, revenue)
    return table


def main() -> None:
    """Console entry point: configuration errors become one line naming the variable."""
    try:
        cli(standalone_mode=True)
    except ConfigError as exc:
        click.echo(f"storepulse: configuration error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
