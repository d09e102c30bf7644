"""`storepulse shopify`: connected Shopify stores' backfill, reconciliation and customers' data requests."""

from __future__ import annotations

import json
from typing import Any

import click

from integration import privacy
from integration.accounts import get_store
from integration.cli.common import emit, json_option, opened, read_settings
from integration.ingest.backfill import stage_status, store_backfill
from jobs.queues import INGEST, enqueue
from jobs.shopify import start_backfill_job


@click.group("shopify")
def shopify() -> None:
    """Connected Shopify stores: backfill, reconciliation and customers' data requests."""


@shopify.command("backfill")
@click.argument("store_id", type=int)
@click.option("--now", is_flag=True, help="Start the first stage from here instead of queueing a job.")
@json_option
def shopify_backfill(store_id: int, now: bool, as_json: bool) -> None:
    """Read a store's existing customers, orders and abandoned checkouts from Shopify again."""
    settings = read_settings()
    if not now:
        job = enqueue(settings, INGEST, start_backfill_job, store_id)
        emit(
            as_json,
            {"store_id": store_id, "job_id": job.id},
            f"backfill of store {store_id} queued (job {job.id})",
        )
        return
    backfill_id = start_backfill_job(store_id)
    if backfill_id is None:
        raise click.ClickException(f"store {store_id} is not a connected Shopify store")
    with opened(settings) as session:
        status, error = stage_status(session, backfill_id)
    if status == "failed":
        raise click.ClickException(f"backfill {backfill_id}: Shopify refused its first stage: {error}")
    data: dict[str, Any] = {"store_id": store_id, "backfill_id": backfill_id, "status": status}
    emit(as_json, data, f"backfill {backfill_id} {status}; Shopify reports when each stage finishes")


@shopify.command("status")
@click.argument("store_id", type=int)
@json_option
def shopify_status(store_id: int, as_json: bool) -> None:
    """Show a store's backfill stages (a failed one with its error) and when it was last reconciled."""
    with opened(read_settings()) as session:
        data = store_backfill(session, get_store(session, store_id))
    lines = [f"store {store_id}: {data['state']}, reconciled at {data['reconciled_at'] or 'never'}"]
    for s in data["backfill"]:
        lines.append(f"  {s['stage']:<10} {s['status']:<10} {s['records']} records, {s['invalid']} invalid")
        if s["error"]:
            lines.append(f"             error: {s['error']}")
    emit(as_json, data, "\n".join(lines))


@shopify.command("data-requests")
@click.argument("account_id", type=int)
@click.option("--show", "export_id", type=int, default=None, help="Print one export in full (JSON).")
@json_option
def shopify_data_requests(account_id: int, export_id: int | None, as_json: bool) -> None:
    """List customers' data requests prepared for the merchant, or print one export."""
    with opened(read_settings()) as session:
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
    emit(as_json, exports, text or "no data requests")
