"""The progress of a Shopify or WooCommerce store's backfill, shown on the admin's pages until it
has finished.

A store just connected reads its history from its platform in stages (customers, orders and, from
Shopify, abandoned checkouts). Pages show a banner while that runs (`backfill_progress()` in every
admin template) and poll `/admin/backfill/progress`, which reloads the page once nothing is left to import.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import g, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import select

from integration.ingest.backfill import store_backfill
from integration.store.models import BackfillStatus, Platform, Store, StoreState
from integration.web.admin.frame import blueprint
from integration.web.admin.i18n import number
from integration.web.admin.viewer import admin_page
from integration.web.context import db

# Stages per platform: connectors.shopify.backfill.STAGES and connectors.woocommerce.backfill.STAGES.
STAGE_COUNTS = {Platform.SHOPIFY: 3, Platform.WOOCOMMERCE: 2, Platform.BILLBEE: 2}
PLATFORMS = {Platform.SHOPIFY: "Shopify", Platform.WOOCOMMERCE: "WooCommerce", Platform.BILLBEE: "Billbee"}
FINISHED = frozenset({BackfillStatus.COMPLETED.value, BackfillStatus.FAILED.value})


@dataclass(frozen=True)
class Progress:
    """Where the viewer's stores are in their backfills: still `running`, with the text to show."""

    running: bool
    text: str
    poll_url: str


def stage_name(stage: str) -> str:
    """A backfill stage's name in the page's language."""
    names = {
        "customers": _("customers"),
        "orders": _("orders"),
        "checkouts": _("abandoned checkouts"),
    }
    return str(names.get(stage, stage))


def store_progress(store: Store) -> tuple[bool, str]:
    """Whether the store's backfill still runs, and what to tell the merchant about it."""
    # The first import's stages; Billbee's passes over changed orders are no import to wait for.
    stages = [s for s in store_backfill(db.session, store)["backfill"] if s["stage"] != "updates"]
    platform = PLATFORMS[store.platform]
    if not stages:
        # Connected but not started yet: queued, or left to the periodic upkeep while Redis was down.
        return True, _(
            "storepulse is about to import the history of %(store)s from %(platform)s.",
            store=store.name,
            platform=platform,
        )
    last = stages[-1]
    imported = sum(int(stage["records"]) for stage in stages)
    if last["status"] == BackfillStatus.FAILED.value:
        return False, _(
            "Importing the %(stage)s of %(store)s from %(platform)s stopped: %(error)s",
            stage=stage_name(last["stage"]),
            store=store.name,
            platform=platform,
            error=last["error"] or "",
        )
    if last["status"] == BackfillStatus.COMPLETED.value:
        return False, ""
    steps = STAGE_COUNTS[store.platform]
    step = min(len(stages), steps)
    return True, " ".join(
        (
            _(
                "Importing the history of %(store)s from %(platform)s: "
                "step %(step)s of %(steps)s, %(stage)s.",
                store=store.name,
                platform=platform,
                step=step,
                steps=steps,
                stage=stage_name(last["stage"]),
            ),
            ngettext(
                "%(count)s record imported so far.",
                "%(count)s records imported so far.",
                imported,
                count=number(imported),
            ),
        )
    )


def progress() -> Progress | None:
    """The viewer's stores' backfill progress; None when there is nothing to say."""
    viewer = g.get("viewer")
    if viewer is None:
        return None
    query = select(Store).where(
        Store.account_id == viewer.account_id,
        Store.platform.in_(tuple(PLATFORMS)),
        Store.state == StoreState.CONNECTED,
        Store.credentials.is_not(None),
    )
    if viewer.shop:
        query = query.where(Store.shop_domain == viewer.shop)
    reports = [store_progress(store) for store in db.session.scalars(query.order_by(Store.id))]
    said = [(running, text) for running, text in reports if text]
    if not said:
        return None
    # A poll is a fetch without Shopify's parameters: it carries the page's language itself.
    locale: dict[str, Any] = (
        {"locale": request.args["locale"]} if viewer.embedded and "locale" in request.args else {}
    )
    return Progress(
        running=any(running for running, _text in said),
        text=" ".join(text for _running, text in said),
        poll_url=url_for("admin.backfill_progress", **locale),
    )


@blueprint.get("/backfill/progress")
@admin_page
def backfill_progress() -> dict[str, Any]:
    """Whether the viewer's backfills have finished, and their progress (pages poll this)."""
    now = progress()
    return {"ready": now is None or not now.running, "text": now.text if now else ""}


@blueprint.context_processor
def _progress() -> dict[str, Any]:
    # A function: only templates that show the banner pay for its queries.
    return {"backfill_progress": progress}
