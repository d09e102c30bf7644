"""`storepulse woocommerce`: connected WooCommerce shops' backfill, status and webhook check."""

from __future__ import annotations

from typing import Any

import click

from connectors.woocommerce import backfill
from connectors.woocommerce.connection import connected
from integration.accounts import get_store
from integration.cli.common import emit, json_option, opened, read_settings
from integration.errors import ConnectorError
from integration.ingest.backfill import store_backfill
from integration.store.models import Platform
from jobs.queues import INGEST, enqueue
from jobs.woocommerce import backfill_job, reconcile_store_job


@click.group("woocommerce")
def woocommerce() -> None:
    """Connected WooCommerce shops: backfill, its progress, and the webhook check."""


def _shop(store_id: int) -> None:
    with opened(read_settings()) as session:
        if get_store(session, store_id).platform is not Platform.WOOCOMMERCE:
            raise click.ClickException(f"store {store_id} is not a WooCommerce store")


@woocommerce.command("backfill")
@click.argument("store_id", type=int)
@click.option(
    "--now", is_flag=True, help="Read every page from here, showing the progress, instead of a job."
)
@json_option
def woocommerce_backfill(store_id: int, now: bool, as_json: bool) -> None:
    """Read a shop's customers and orders again through its REST API, page by page."""
    _shop(store_id)
    settings = read_settings()
    try:
        shop = connected(settings, store_id)
    except ConnectorError as exc:
        raise click.ClickException(str(exc)) from exc
    stage_id: int | None = backfill.start(settings, store_id)
    if not now:
        assert stage_id is not None  # noqa: S101 - just made
        job = enqueue(settings, INGEST, backfill_job, stage_id)
        emit(
            as_json,
            {"store_id": store_id, "backfill_id": stage_id, "job_id": job.id},
            f"backfill queued (job {job.id})",
        )
        return
    status = "pending"
    while stage_id is not None:
        try:
            status, following = backfill.run(settings, shop.client, stage_id)
        except ConnectorError as exc:
            raise click.ClickException(f"backfill stage {stage_id} stopped: {exc}") from exc
        if not as_json:
            click.echo("  " + _line(settings, store_id, stage_id))
        stage_id = following
    emit(as_json, {"store_id": store_id, "status": status}, f"backfill of store {store_id} {status}")


def _line(settings: Any, store_id: int, stage_id: int) -> str:
    with opened(settings) as session:
        stages = store_backfill(session, get_store(session, store_id))["backfill"]
    s = next(stage for stage in stages if stage["id"] == stage_id)
    page = min(s["page"] or 1, s["pages"] or 1)
    return (
        f"{s['stage']:<10} {s['status']:<10} page {page} of {s['pages'] or '?'}, "
        f"{s['records']} records, {s['invalid']} invalid"
    )


@woocommerce.command("status")
@click.argument("store_id", type=int)
@json_option
def woocommerce_status(store_id: int, as_json: bool) -> None:
    """Show a shop's backfill stages with their pages, and when its orders were last reconciled."""
    _shop(store_id)
    with opened(read_settings()) as session:
        data = store_backfill(session, get_store(session, store_id))
    lines = [f"store {store_id}: {data['state']}, reconciled at {data['reconciled_at'] or 'never'}"]
    for s in data["backfill"]:
        pages = (
            f"page {s['page'] or 1} of {s['pages'] or '?'}"
            if s["status"] != "completed"
            else f"{s['pages'] or 0} pages"
        )
        lines.append(
            f"  {s['stage']:<10} {s['status']:<10} {pages}, {s['records']} records, {s['invalid']} invalid"
        )
        if s["error"]:
            lines.append(
                f"             {'error' if s['status'] == 'failed' else 'first invalid'}: {s['error']}"
            )
    emit(as_json, data, "\n".join(lines))


@woocommerce.command("check")
@click.argument("store_id", type=int)
@click.option("--customers", is_flag=True, help="Read every customer page too (otherwise done daily).")
def woocommerce_check(store_id: int, customers: bool) -> None:
    """Now, not at the next hour: switch the shop's webhooks on again and re-read modified orders."""
    _shop(store_id)
    read = reconcile_store_job(store_id, customers)
    click.echo(f"store {store_id}: webhooks checked, {read} records read again")
