"""Probes and metrics: `/healthz` (alive), `/readyz` (can serve) and `/metrics` (Prometheus).

The probes need no credentials and show no merchant data. `/metrics` answers 404 unless metrics
are enabled (`STOREPULSE_METRICS`); with `STOREPULSE_METRICS_TOKEN` set it asks for
`Authorization: Bearer <token>`.
"""

from __future__ import annotations

import hmac
import time
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST

from integration.operations import health, metrics
from integration.web.context import current_settings, settings_of
from jobs.queues import QUEUES

blueprint = Blueprint("health", __name__)

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Webhook endpoints, and the source each one's deliveries are counted under.
WEBHOOK_SOURCES = {
    "shopify_webhooks.receive": "shopify",
    "email_webhooks.sendgrid": "sendgrid",
    "email_webhooks.mailchimp": "mailchimp",
}


@blueprint.get("/healthz")
def healthz() -> tuple[dict[str, str], int]:
    """Answer 200 while the process serves requests; touches neither the database nor Redis."""
    return {"status": "ok"}, 200


@blueprint.get("/readyz")
def readyz() -> tuple[dict[str, str], int]:
    """Answer 200 when the database and Redis answer and the schema is current, else 503 saying which."""
    checks = health.readiness(current_settings())
    return checks, 200 if health.ready(checks) else 503


@blueprint.get("/metrics")
def metrics_view() -> Response:
    """Serve every process's metrics in Prometheus's text format."""
    settings = current_settings()
    if not settings.metrics_enabled:
        abort(404)
    if settings.metrics_token is not None:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), settings.metrics_token.encode()
        ):
            return Response(
                "a bearer token is required\n",
                401,
                {"WWW-Authenticate": 'Bearer realm="metrics"'},
                mimetype="text/plain",
            )
    return Response(metrics.render(settings, QUEUES), 200, {"Content-Type": CONTENT_TYPE_LATEST})


def init_app(app: Flask) -> None:
    """Add the probes and, when metrics are enabled, the per-request counting."""
    app.register_blueprint(blueprint)
    if not settings_of(app).metrics_enabled:
        return

    @app.before_request
    def _start_clock() -> None:
        g.storepulse_request_started = time.perf_counter()
        metrics.forget_delivery()

    @app.after_request
    def _count(response: Response) -> Response:
        _count_response(response.status_code)
        return response


def _count_response(status: int) -> None:
    started: Any = g.pop("storepulse_request_started", None)
    if started is None:
        return
    # The route's pattern, never the path: /contacts/<int:contact_id>, not one series per contact.
    route = request.url_rule.rule if request.url_rule is not None else "unmatched"
    try:
        method = request.method if request.method in METHODS else "other"
        metrics.request_finished(method, route, status, time.perf_counter() - started)
        source = WEBHOOK_SOURCES.get(request.endpoint or "")
        if source is not None and request.method == "POST":
            metrics.count_webhook_response(source, status)
    except Exception:  # noqa: BLE001 - counting never fails the answer
        current_app.logger.exception("metrics: could not count a request")
