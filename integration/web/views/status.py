"""Operator pages: health for load balancers and a status page of queues and the inbox."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from rq import Worker
from rq.registry import FailedJobRegistry
from sqlalchemy import func, select
from werkzeug.wrappers import Response

from integration import __version__
from integration.operations.health import OK, readiness
from integration.store.models import InboxDelivery
from integration.store.redis import connection
from integration.web.context import current_settings, db
from jobs.queues import QUEUES, queue

logger = logging.getLogger(__name__)
blueprint = Blueprint("status", __name__)


@blueprint.route("/ping", methods=["GET", "POST"])
def ping() -> tuple[str, int]:
    """Answer 200 without touching the database or Redis: the process is up."""
    return "", 200


@blueprint.get("/health")
def health() -> tuple[dict[str, Any], int]:
    """Answer 200 when the database and Redis both answer, else 503 naming what failed.

    The older probe, kept for load balancers set up with it: the same short-limit checks as
    `/readyz` (which also checks migrations), in this endpoint's own shape.
    """
    states = readiness(current_settings())
    checks = {
        "database": "ok" if states.get("postgres", states.get("sqlite")) == OK else "unreachable",
        "redis": "ok" if states["redis"] == OK else "unreachable",
    }
    healthy = all(v == "ok" for v in checks.values())
    return {"status": "ok" if healthy else "degraded", "checks": checks, "version": __version__}, (
        200 if healthy else 503
    )


@blueprint.get("/")
def home() -> Response:
    """The app's URL: the admin's home, keeping Shopify's parameters of an embedded load."""
    query = request.query_string.decode()
    return redirect(url_for("admin.contacts") + ("?" + query if query else ""))


@blueprint.get("/status")
def index() -> str:
    """Show the service status: queues, failed jobs and the inbox; no merchant data."""
    settings = current_settings()
    queues = []
    for name in QUEUES:
        q = queue(settings, name)
        failed = FailedJobRegistry(queue=q)
        queues.append({"name": name, "waiting": q.count, "failed": failed.count})
    inbox = dict(
        db.session.execute(select(InboxDelivery.status, func.count()).group_by(InboxDelivery.status)).all()
    )
    return render_template(
        "status.html",
        version=__version__,
        embedded=settings.embedded_database,
        redis="embedded" if settings.embedded_redis else "external",
        queues=queues,
        inbox={status.value: count for status, count in inbox.items()},
        app_url=settings.app_url,
        workers=len(_workers(settings)),
    )


def _workers(settings: Any) -> list[Any]:
    return list(Worker.all(connection=connection(settings)))
