"""Destinations: what each kind needs (settings and credentials) and how a sync reaches it.

DESTINATIONS maps a destination kind to its declaration: the schema of its settings and the schema
of its credentials (stored encrypted); `opener` builds the object that delivers a sync's changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from marshmallow import Schema, fields, validate
from redis import Redis

from connectors.addresses import check_url
from connectors.http import Http
from connectors.klaviyo.destination import KlaviyoList
from connectors.mailchimp.destination import MailchimpAudience, data_center
from connectors.shopify.connection import client_for
from connectors.shopify.tags import ShopifyTags
from connectors.webhook.destination import SignedWebhook
from integration.audiences.sync import Destination as Deliverer
from integration.audiences.sync import Target
from integration.crypto import decrypt_json
from integration.errors import ConfigError, CredentialsRejected
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import Destination, DestinationKind

# A person waits for the answer to a save: a resolver slower than this answers `url_unresolvable`.
SAVE_RESOLVE_TIMEOUT_SECONDS = 3.0


class MailchimpSettings(Schema):
    list_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    on_leave = fields.String(load_default="untag", validate=validate.OneOf(["untag", "archive"]))


class MailchimpCredentials(Schema):
    api_key = fields.String(required=True, validate=validate.Regexp(r"^[^\s]+-[a-z]+\d+$"))


class KlaviyoSettings(Schema):
    list_id = fields.String(required=True, validate=validate.Length(min=1, max=64))


class KlaviyoCredentials(Schema):
    api_key = fields.String(required=True, validate=validate.Length(min=8, max=200))


class WebhookSettings(Schema):
    # Which hosts and schemes are allowed is decided by `check_settings`, by the addresses.
    url = fields.Url(
        required=True,
        schemes={"https", "http"},
        require_tld=False,
        validate=validate.Length(max=2000),
        metadata={"description": "https URL whose host resolves to public addresses only"},
    )


class WebhookCredentials(Schema):
    secret = fields.String(required=True, validate=validate.Length(min=16, max=200))


class ShopifySettings(Schema):
    store_id = fields.Integer(required=True)


class NoCredentials(Schema):
    pass


@dataclass(frozen=True)
class Declared:
    kind: DestinationKind
    settings: type[Schema]
    credentials: type[Schema]


DESTINATIONS: dict[DestinationKind, Declared] = {
    d.kind: d
    for d in (
        Declared(DestinationKind.SHOPIFY, ShopifySettings, NoCredentials),
        Declared(DestinationKind.MAILCHIMP, MailchimpSettings, MailchimpCredentials),
        Declared(DestinationKind.KLAVIYO, KlaviyoSettings, KlaviyoCredentials),
        Declared(DestinationKind.WEBHOOK, WebhookSettings, WebhookCredentials),
    )
}


def check_settings(kind: DestinationKind, config: dict[str, Any], settings: Settings) -> None:
    """Refuse settings a sync could not send to: a webhook URL outside the allowed addresses.

    Raises AddressRefused. The same check runs again at every request (names can resolve anew).
    The name's lookup is bounded: a web worker is not held for as long as the resolver likes.
    """
    if kind == DestinationKind.WEBHOOK:
        check_url(
            str(config["url"]),
            allow_private=settings.webhook_allow_private,
            resolve_timeout_seconds=SAVE_RESOLVE_TIMEOUT_SECONDS,
        )


def opener(
    settings: Settings, http: Callable[[str], Http] | None = None, redis: Redis | None = None
) -> Callable[[Target], Deliverer]:
    """Return the factory a sync run uses to reach its destination (`http` builds test clients).

    `redis` holds the vendors' limits per API key for every process; without it they hold within
    this process only.
    """

    def make_http(vendor: str) -> Http:
        return http(vendor) if http is not None else Http(vendor)

    def open_destination(sync: Target) -> Deliverer:
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
        tag = str(sync.config.get("tag") or "")
        if kind == DestinationKind.SHOPIFY:
            return ShopifyTags(client_for(settings, int(config["store_id"])), tag)
        if kind == DestinationKind.MAILCHIMP:
            try:
                data_center(secrets.get("api_key", ""))
            except ConfigError as exc:
                raise CredentialsRejected(str(exc)) from exc
            return MailchimpAudience(
                secrets["api_key"],
                config["list_id"],
                tag,
                tag_id=sync.config.get("tag_id"),
                on_leave=config.get("on_leave", "untag"),
                http=make_http("Mailchimp"),
                base_url=config.get("base_url"),
                redis=redis,
            )
        if kind == DestinationKind.KLAVIYO:
            return KlaviyoList(
                secrets["api_key"],
                config["list_id"],
                http=make_http("Klaviyo"),
                redis=redis,
                **({"base_url": config["base_url"]} if config.get("base_url") else {}),
            )
        return SignedWebhook(
            config["url"],
            secrets["secret"],
            sync.id,
            http=make_http("the webhook endpoint"),
            allow_private=settings.webhook_allow_private,
            ca_bundle=settings.ca_bundle,
        )

    return open_destination
