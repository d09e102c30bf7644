"""The account's stores: `GET` and `POST /api/v1/stores` (a CSV or API store; Shopify stores install),
`POST /api/v1/stores/woocommerce` (a WooCommerce shop with REST keys entered by hand),
`POST /api/v1/stores/billbee` (a Billbee account with its login and API password), and one
store's storefront settings: `GET` and `PATCH /api/v1/stores/<id>` (the origins its tracking
snippet may post from; its public key is shown, never changed here)."""

from __future__ import annotations

from typing import Any

import redis
from babel.numbers import is_currency
from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates

from connectors.billbee import sync as billbee_sync
from connectors.http import Http
from connectors.storefront.schemas import MAX_ORIGINS, origin_of
from connectors.woocommerce import connection, setup
from connectors.woocommerce.client import KEY, SECRET, WooClient, shop_url
from connectors.woocommerce.connection import Keys, ShopTaken
from integration import accounts
from integration.errors import (
    AddressRefused,
    ConfigError,
    CredentialsRejected,
    FatalConnectorError,
    RetriableConnectorError,
)
from integration.store.models import Account, Platform, Store
from integration.web.context import current_settings, db
from integration.web.views.auth import BEARER, fail, owned_store, require_api_key
from integration.web.views.inputs import ONE_LINE
from jobs.billbee import billbee_upkeep_job
from jobs.queues import INGEST, enqueue
from jobs.woocommerce import set_up_store_job

blueprint = Blueprint("stores", __name__, url_prefix="/api/v1", description="Stores")
require_api_key(blueprint)

# Shopify stores are connected by installing the app from Shopify, never by this endpoint.
ADDABLE = (Platform.CSV, Platform.API)


class StoreSchema(Schema):
    id = fields.Integer(required=True)
    platform = fields.String(required=True, metadata={"description": "shopify, csv, api, …"})
    name = fields.String(required=True)
    shop_domain = fields.String(allow_none=True)
    currency = fields.String(required=True, metadata={"description": "ISO 4217 code"})
    time_zone = fields.String(required=True, metadata={"description": "IANA time zone"})
    state = fields.String(required=True, metadata={"description": "connected or disconnected"})
    created_at = fields.DateTime(required=True)
    connected_at = fields.DateTime(allow_none=True)
    disconnected_at = fields.DateTime(allow_none=True)
    public_key = fields.String(
        required=True,
        metadata={"description": "the storefront collector's key: public, it can only add events"},
    )
    allowed_origins = fields.List(
        fields.String(),
        required=True,
        metadata={"description": "origins the tracking snippet may post from (a Shopify pixel needs none)"},
    )


class StoreListSchema(Schema):
    stores = fields.List(fields.Nested(StoreSchema), required=True)


class NewStoreSchema(Schema):
    name = fields.String(required=True, validate=[validate.Length(min=1, max=200), ONE_LINE])
    platform = fields.String(
        load_default=Platform.CSV.value,
        validate=validate.OneOf([p.value for p in ADDABLE]),
        metadata={"description": "csv (files imported) or api (records posted); csv unless given"},
    )
    currency = fields.String(
        required=True, metadata={"description": "ISO 4217 code of the store's prices, e.g. EUR"}
    )
    time_zone = fields.String(
        load_default="UTC", metadata={"description": "IANA time zone, e.g. Europe/Warsaw"}
    )

    @validates("currency")
    def _currency(self, value: str, **_: Any) -> None:
        if not is_currency(value.upper()):
            raise ValidationError("not an ISO 4217 currency code such as EUR")

    @validates("time_zone")
    def _zone(self, value: str, **_: Any) -> None:
        try:
            accounts.check_time_zone(value)
        except ValueError as exc:
            raise ValidationError("not an IANA time zone such as Europe/Warsaw") from exc


class StoreChangeSchema(Schema):
    allowed_origins = fields.List(
        fields.String(validate=validate.Length(max=300)),
        required=True,
        validate=validate.Length(max=MAX_ORIGINS, error="at most {max} origins"),
        metadata={"description": f"at most {MAX_ORIGINS}, such as https://shop.example.com"},
    )

    @validates("allowed_origins")
    def _origins(self, value: list[str], **_: Any) -> None:
        wrong = {
            str(i): [f"{v[:100]} is not an origin such as https://shop.example.com"]
            for i, v in enumerate(value)
            if origin_of(v) is None
        }
        if wrong:
            raise ValidationError(wrong)


def shown(store: Store) -> dict[str, Any]:
    """A store as the API lists it."""
    return {
        "id": store.id,
        "platform": store.platform.value,
        "name": store.name,
        "shop_domain": store.shop_domain,
        "currency": store.currency,
        "time_zone": store.time_zone,
        "state": store.state.value,
        "created_at": store.created_at,
        "connected_at": store.connected_at,
        "disconnected_at": store.disconnected_at,
        "public_key": store.public_key,
        "allowed_origins": list(store.allowed_origins or []),
    }


@blueprint.route("/stores")
class Stores(MethodView):
    @blueprint.doc(security=BEARER)
    @blueprint.response(200, StoreListSchema)
    def get(self) -> dict[str, Any]:
        """The account's stores, oldest first."""
        return {"stores": [shown(s) for s in accounts.account_stores(db.session, g.account_id)]}

    @blueprint.doc(security=BEARER)
    @blueprint.arguments(NewStoreSchema)
    @blueprint.response(201, StoreSchema)
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Add a CSV or API store with its currency and time zone (a Shopify store installs the app)."""
        store = accounts.add_store(
            db.session,
            g.account_id,
            platform=Platform(data["platform"]),
            name=data["name"],
            currency=data["currency"].upper(),
            time_zone=data["time_zone"],
        )
        return shown(store)


@blueprint.route("/stores/<int:store_id>")
class OneStore(MethodView):
    @blueprint.doc(security=BEARER)
    @blueprint.response(200, StoreSchema)
    def get(self, store_id: int) -> dict[str, Any]:
        """One store of the account."""
        return shown(owned_store(store_id))

    @blueprint.doc(security=BEARER)
    @blueprint.arguments(StoreChangeSchema)
    @blueprint.response(200, StoreSchema)
    def patch(self, data: dict[str, Any], store_id: int) -> dict[str, Any]:
        """Set the origins the store's tracking snippet may post from (written as browsers send them:
        lower case, without a default port), each once, in the order given."""
        store = owned_store(store_id)
        origins = [origin_of(v) for v in data["allowed_origins"]]
        store.allowed_origins = list(dict.fromkeys(o for o in origins if o is not None))
        db.session.flush()
        return shown(store)


class WooCommerceKeysSchema(Schema):
    url = fields.String(
        required=True,
        validate=validate.Length(min=1, max=300),
        metadata={"description": "the shop's address, such as https://shop.example.com"},
    )
    consumer_key = fields.String(
        required=True,
        validate=validate.Regexp(KEY, error="A WooCommerce consumer key starts with ck_."),
        metadata={"description": "from WooCommerce → Settings → Advanced → REST API, Read/Write"},
    )
    consumer_secret = fields.String(
        required=True,
        validate=validate.Regexp(SECRET, error="A WooCommerce consumer secret starts with cs_."),
    )


@blueprint.route("/stores/woocommerce")
class WooCommerceStores(MethodView):
    @blueprint.doc(security=BEARER)
    @blueprint.arguments(WooCommerceKeysSchema)
    @blueprint.response(201, StoreSchema)
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Connect a WooCommerce shop with REST keys made by hand (Read/Write).

        The keys are tried at once: refused keys or an address without WooCommerce answer 422 by
        field, a shop that does not answer 502. The store takes the shop's name, currency and time
        zone; its webhooks and its backfill are set up in the background. Connecting a shop the
        account already has replaces its keys; a shop of another account answers 409.
        """
        settings = current_settings()
        url = shop_url(data["url"], allow_http=settings.webhook_allow_private)
        if url is None:
            fail(422, "not a shop address", "invalid_url", {"url": ["Enter the shop's https address."]})
        keys = Keys(data["consumer_key"], data["consumer_secret"])
        # Someone waits for the answer: one try, no back-off.
        trial = WooClient(
            url,
            keys.consumer_key,
            keys.consumer_secret,
            http=Http("WooCommerce", retries=0),
            allow_private=settings.webhook_allow_private,
            ca_bundle=settings.ca_bundle,
        )
        try:
            details = setup.shop_details(trial)
        except CredentialsRejected:
            fail(422, "WooCommerce refused the keys", "credentials_rejected", {"consumer_key": [REFUSED]})
        except AddressRefused as exc:
            fail(422, exc.detail, exc.reason, {"url": [exc.detail]})
        except RetriableConnectorError:
            fail(502, "the shop did not answer; try again in a minute", "shop_unreachable")
        except FatalConnectorError:
            fail(
                422, "no WooCommerce REST API at this address", "not_woocommerce", {"url": [NOT_WOOCOMMERCE]}
            )
        try:
            store, _ = connection.connect(
                db.session,
                settings,
                g.account_id,
                url,
                keys,
                name=details.name or url.split("://", 1)[1][:200],
                currency=details.currency,
                time_zone=_zone(details.time_zone) or _account_zone(),
            )
        except ShopTaken:
            fail(409, "this shop is connected to another storepulse account", "shop_taken")
        store.currency = details.currency
        shown_store = shown(store)
        db.commit()  # the keys are kept before the set-up job looks for them
        try:
            enqueue(settings, INGEST, set_up_store_job, store.id)
        except redis.RedisError:
            pass  # the WooCommerce upkeep sets up a connected store that has no backfill yet
        return shown_store


REFUSED = "WooCommerce refused these keys: make Read/Write keys and paste both again."
NOT_WOOCOMMERCE = "No WooCommerce REST API answers at this address."


def _account_zone() -> str:
    account = db.session.get(Account, g.account_id)
    return account.time_zone if account is not None else "UTC"


def _zone(name: str | None) -> str | None:
    try:
        return accounts.check_time_zone(name) if name else None
    except ValueError:
        return None


class BillbeeAccountSchema(Schema):
    login = fields.String(
        required=True,
        validate=[validate.Length(min=1, max=200), ONE_LINE],
        metadata={"description": "the Billbee user's login (email)"},
    )
    api_password = fields.String(
        required=True,
        validate=validate.Length(min=1, max=200),
        metadata={"description": "the API password set in Billbee (Settings → API), not the login password"},
    )
    name = fields.String(load_default="Billbee", validate=[validate.Length(min=1, max=200), ONE_LINE])
    currency = fields.String(required=True, metadata={"description": "ISO 4217 code of the shops' prices"})
    time_zone = fields.String(load_default="UTC", metadata={"description": "IANA time zone"})

    _currency = NewStoreSchema._currency
    _zone = NewStoreSchema._zone


@blueprint.route("/stores/billbee")
class BillbeeStores(MethodView):
    @blueprint.doc(security=BEARER)
    @blueprint.arguments(BillbeeAccountSchema)
    @blueprint.response(201, StoreSchema)
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Connect a Billbee account with its login and API password (tried at once).

        Refused credentials answer 422 by field, Billbee unreachable 502, an installation without
        the operator's developer key (BILLBEE_API_KEY) 503, a login of another account 409.
        Orders and customers are then polled in the background.
        """
        settings = current_settings()
        try:
            trial = billbee_sync.client(settings, data["login"], data["api_password"])
        except ConfigError:
            fail(
                503, "this installation has no Billbee developer key (BILLBEE_API_KEY)", "billbee_not_set_up"
            )
        trial.http.retries = 0  # someone waits for the answer
        try:
            billbee_sync.check(trial)
        except CredentialsRejected:
            fail(
                422, "Billbee refused the login", "credentials_rejected", {"api_password": [BILLBEE_REFUSED]}
            )
        except RetriableConnectorError:
            fail(502, "Billbee did not answer; try again in a minute", "billbee_unreachable")
        except FatalConnectorError as exc:
            fail(422, str(exc)[:300], "billbee_refused", {"login": [str(exc)[:300]]})
        try:
            store, _ = billbee_sync.connect(
                db.session,
                settings,
                g.account_id,
                data["login"],
                data["api_password"],
                name=data["name"],
                currency=data["currency"].upper(),
                time_zone=data["time_zone"],
            )
        except billbee_sync.AccountTaken:
            fail(409, "this Billbee login is connected to another storepulse account", "billbee_taken")
        shown_store = shown(store)
        db.commit()  # the credentials are kept before the import looks for them
        try:
            enqueue(settings, INGEST, billbee_upkeep_job)
        except redis.RedisError:
            pass  # the scheduler's Billbee upkeep starts the first import within a minute
        return shown_store


BILLBEE_REFUSED = "Billbee refused this login and API password: check both, and the API password in Billbee."
