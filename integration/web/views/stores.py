"""The account's stores: `GET` and `POST /api/v1/stores` (a CSV or API store; Shopify stores install)."""

from __future__ import annotations

from typing import Any

from babel.numbers import is_currency
from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates

from integration import accounts
from integration.store.models import Platform, Store
from integration.web.context import db
from integration.web.views.auth import BEARER, require_api_key
from integration.web.views.inputs import ONE_LINE

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
