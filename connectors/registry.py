"""The connector registry: every source and destination storepulse knows, and how each is opened.

SOURCES maps an inbox delivery's `source` to the connector that normalizes it. DESTINATIONS maps a
destination kind to its declaration: the schema of its settings, the schema of its credentials
(stored encrypted), the function that opens its client for a sync run, and any check its settings
need when saved. A new connector is one package and one line here; `tests/connectors/test_contract.py`
runs the contract's tests over every entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from marshmallow import Schema
from redis import Redis

from connectors.api.source import ApiSource
from connectors.billbee.source import BillbeeSource
from connectors.http import Http
from connectors.klaviyo.destination import KlaviyoCredentials, KlaviyoSettings, open_list
from connectors.mailchimp.destination import MailchimpCredentials, MailchimpSettings, open_audience
from connectors.mailchimp.source import MailchimpSource
from connectors.opening import Opening
from connectors.sendgrid.source import SendGridSource
from connectors.shopify.source import ShopifySource
from connectors.shopify.tags import NoCredentials, ShopifySettings, open_tags
from connectors.storefront.source import StorefrontSource
from connectors.webhook import destination as webhook
from connectors.woocommerce.source import WooCommerceSource
from integration.contract import DestinationClient, Source, Target
from integration.crypto import decrypt_json
from integration.errors import ConfigError, CredentialsRejected
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import Destination, DestinationKind

SOURCES: dict[str, Source] = {
    source.name: source
    for source in (
        ApiSource(),
        SendGridSource(),
        MailchimpSource(),
        ShopifySource(),
        StorefrontSource(),
        WooCommerceSource(),
        BillbeeSource(),
    )
}


@dataclass(frozen=True)
class Declared:
    """A destination kind: what it needs (settings, credentials) and how its client is opened."""

    kind: DestinationKind
    settings: type[Schema]
    credentials: type[Schema]
    open_client: Callable[[Opening], DestinationClient]
    # Checks settings beyond their schema when they are saved (raises); None: the schema suffices.
    check: Callable[[dict[str, Any], Settings], None] | None = None


DESTINATIONS: dict[DestinationKind, Declared] = {
    d.kind: d
    for d in (
        Declared(DestinationKind.SHOPIFY, ShopifySettings, NoCredentials, open_tags),
        Declared(DestinationKind.MAILCHIMP, MailchimpSettings, MailchimpCredentials, open_audience),
        Declared(DestinationKind.KLAVIYO, KlaviyoSettings, KlaviyoCredentials, open_list),
        Declared(
            DestinationKind.WEBHOOK,
            webhook.WebhookSettings,
            webhook.WebhookCredentials,
            webhook.open_webhook,
            webhook.check_settings,
        ),
    )
}


def check_settings(kind: DestinationKind, config: dict[str, Any], settings: Settings) -> None:
    """Refuse settings a sync could not send to (a webhook URL outside the allowed addresses)."""
    check = DESTINATIONS[kind].check
    if check is not None:
        check(config, settings)


def opener(
    settings: Settings, http: Callable[[str], Http] | None = None, redis: Redis | None = None
) -> Callable[[Target], DestinationClient]:
    """Return the factory a sync run uses to reach its destination (`http` builds test clients).

    `redis` holds the vendors' limits per API key for every process; without it they hold within
    this process only.
    """

    def make_http(vendor: str) -> Http:
        return http(vendor) if http is not None else Http(vendor)

    def open_destination(sync: Target) -> DestinationClient:
        with session_scope(settings.database_url) as session:
            destination = session.get(Destination, sync.destination_id)
            if destination is None:
                raise CredentialsRejected("the sync's destination is gone")
            kind, config = destination.kind, dict(destination.config)
            sealed = destination.credentials
        try:
            secrets: dict[str, Any] = decrypt_json(settings.encryption_keys, sealed) if sealed else {}
        except ConfigError as exc:
            raise CredentialsRejected(str(exc)) from exc
        opening = Opening(settings, sync, config, secrets, make_http, redis)
        return DESTINATIONS[kind].open_client(opening)

    return open_destination
