"""The account's API keys: `GET`/`POST /api/v1/keys` and `DELETE /api/v1/keys/<id>` (owners only).

A key is shown whole only in the answer that creates it; afterwards only its prefix. A request
cannot revoke the key it is made with: revoke it with another key or from the admin, so that a
slip does not lock the caller out mid-way.
"""

from __future__ import annotations

from typing import Any

from flask import g, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from integration import accounts
from integration.crypto import hash_api_key
from integration.store.models import ApiKey
from integration.web.context import db
from integration.web.views.auth import BEARER, fail, require_api_key, require_owner
from integration.web.views.inputs import ONE_LINE

blueprint = Blueprint("keys", __name__, url_prefix="/api/v1", description="API keys")
require_api_key(blueprint)


@blueprint.before_request
def _owners_only() -> None:
    if not request.path.endswith("/openapi.json"):
        require_owner()


class ApiKeySchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    prefix = fields.String(required=True, metadata={"description": "the key's first characters"})
    created_at = fields.DateTime(required=True)
    last_used_at = fields.DateTime(allow_none=True)
    revoked_at = fields.DateTime(allow_none=True)


class ApiKeyListSchema(Schema):
    keys = fields.List(fields.Nested(ApiKeySchema), required=True)


class NewApiKeySchema(Schema):
    name = fields.String(required=True, validate=[validate.Length(min=1, max=200), ONE_LINE])


class MadeApiKeySchema(ApiKeySchema):
    token = fields.String(required=True, metadata={"description": "the key itself, shown only this once"})


def shown(key: ApiKey) -> dict[str, Any]:
    """A key as listed: never the key itself."""
    return {
        "id": key.id,
        "name": key.name,
        "prefix": key.prefix,
        "created_at": key.created_at,
        "last_used_at": key.last_used_at,
        "revoked_at": key.revoked_at,
    }


@blueprint.route("/keys")
class Keys(MethodView):
    @blueprint.doc(security=BEARER)
    @blueprint.response(200, ApiKeyListSchema)
    def get(self) -> dict[str, Any]:
        """The account's API keys, revoked ones too, oldest first (prefixes only)."""
        return {"keys": [shown(k) for k in accounts.api_keys(db.session, g.account_id)]}

    @blueprint.doc(security=BEARER)
    @blueprint.arguments(NewApiKeySchema)
    @blueprint.response(201, MadeApiKeySchema)
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Create an API key; the answer holds the key itself, which is never shown again."""
        key, token = accounts.create_api_key(db.session, g.account_id, data["name"].strip())
        return {**shown(key), "token": token}


@blueprint.route("/keys/<int:key_id>")
class Key(MethodView):
    @blueprint.doc(security=BEARER)
    @blueprint.response(200, ApiKeySchema)
    def delete(self, key_id: int) -> dict[str, Any]:
        """Revoke a key of the account (not the one making this request); it authenticates nothing after."""
        key = db.session.get(ApiKey, key_id)
        if key is None or key.account_id != g.account_id:
            fail(404, f"no API key {key_id}", "not_found")
        if key.key_hash == hash_api_key(_bearer()):
            fail(409, "a key cannot revoke itself: use another key or the admin", "current_key")
        return shown(accounts.revoke_account_key(db.session, g.account_id, key_id))


def _bearer() -> str:
    """The token this request is made with ('' when it is not made with one)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""
