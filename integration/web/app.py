"""The Flask application factory."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from flask import Flask
from flask_smorest.spec.plugins import integerconverter2paramschema
from sqlalchemy.exc import OperationalError
from werkzeug.middleware.proxy_fix import ProxyFix

from integration import __version__
from integration.operations.logs import RequestIds, configure_logging
from integration.settings import Settings, configure
from integration.web import admin, replica, woocommerce_install
from integration.web import install as shopify_install
from integration.web.context import SETTINGS, db
from integration.web.views import api as api_views
from integration.web.views import batches, campaigns, carts, contacts, health, imports, keys, orders, status
from integration.web.views import leaderboard as leaderboard_views
from integration.web.views import notifications as notification_views
from integration.web.views import rfm as rfm_views
from integration.web.views import segments as segment_views
from integration.web.views import settings as settings_views
from integration.web.views import sources as source_views
from integration.web.views import stores as store_views
from integration.web.views import syncs as sync_views
from integration.web.views import users as user_views
from integration.web.views.auth import JsonErrorsApi
from integration.web.views.inputs import IdConverter, register_filter_language
from webhooks import billbee as billbee_webhooks
from webhooks import collector
from webhooks import email as email_webhooks
from webhooks import shopify as shopify_webhooks
from webhooks import woocommerce as woocommerce_webhooks

# The JSON API's blueprints, each module's `blueprint`.
API_VIEWS: tuple[ModuleType, ...] = (
    api_views,
    batches,
    imports,
    settings_views,
    contacts,
    carts,
    orders,
    campaigns,
    rfm_views,
    leaderboard_views,
    segment_views,
    sync_views,
    source_views,
    store_views,
    keys,
    user_views,
    notification_views,
)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the web application; `config` overrides settings read from the environment."""
    settings = Settings.from_env().with_overrides(config or {})
    configure(settings)
    configure_logging(settings)

    app = Flask(__name__, instance_path=str(settings.ensure_instance_path()))
    app.config.update(
        SECRET_KEY=settings.secret_key,
        API_TITLE="storepulse",
        API_VERSION=__version__,
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
        MAX_CONTENT_LENGTH=settings.max_upload_mb * 1024 * 1024,
    )
    app.extensions[SETTINGS] = settings
    db.init_app(app)  # each view's store session, committed before its response
    app.wsgi_app = RequestIds(app.wsgi_app)  # type: ignore[method-assign]
    if settings.trusted_proxies:
        # The client's address and scheme as the outermost trusted proxy saw them (rate limits,
        # sign-in attempts); more X-Forwarded-For entries than proxies are the client's to forge.
        hops = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    app.url_map.converters["int"] = IdConverter  # before any route is added

    app.register_blueprint(status.blueprint)
    health.init_app(app)  # /healthz, /readyz, /metrics and, when enabled, request metrics
    for pages in (
        email_webhooks.blueprint,
        shopify_webhooks.blueprint,
        woocommerce_webhooks.blueprint,
        billbee_webhooks.blueprint,
        collector.blueprint,
        shopify_install.blueprint,
        woocommerce_install.blueprint,
    ):
        app.register_blueprint(pages)
    app.register_blueprint(segment_views.downloads)
    admin.init_app(app)  # the merchant's pages, their languages and sign-in sessions
    api = JsonErrorsApi(app)
    api.register_converter(IdConverter, integerconverter2paramschema)
    api.spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    batches.register_schemas(api.spec)
    register_filter_language(api)  # before the blueprints whose schemas refer to it
    for views in API_VIEWS:  # in this order in the OpenAPI document
        api.register_blueprint(views.blueprint)
    # The merchant's pages and the API may read from a replica (DATABASE_REPLICA_URL).
    replica.init_app(app, {"admin", *(views.blueprint.name for views in API_VIEWS)})

    @app.errorhandler(OperationalError)
    def _database_unavailable(exc: OperationalError) -> tuple[dict[str, str], int]:
        # Connection trouble is passing: 503 tells clients and platforms to retry.
        logging.getLogger(__name__).warning("database unavailable: %s", exc.orig)
        return {"code": "database_unavailable", "message": "the database is unavailable; retry later"}, 503

    return app
