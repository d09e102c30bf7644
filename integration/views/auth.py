"""Bearer-key authentication and JSON errors shared by the API blueprints."""

from __future__ import annotations

import re
from functools import cache
from typing import Any, NoReturn

from flask import current_app, g, request
from flask_smorest import Api, Blueprint, abort
from marshmallow import Schema, fields
from werkzeug.exceptions import HTTPException

from integration.accounts import authenticate
from integration.app import settings_of
from integration.store import session_scope
from integration.store.models import Store
from webhooks.bodies import buffer_body

BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
# The largest body an API call takes but a CSV upload (STOREPULSE_MAX_UPLOAD_MB): a batch of
# MAX_RECORDS orders with their line items is a few megabytes.
API_MAX_BODY_BYTES = 32 * 1024 * 1024
# U+0000 in a JSON string: the escape \u0000 after an even number of backslashes (raw NUL is no JSON).
JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


def require_api_key(blueprint: Blueprint) -> None:
    """Make every endpoint of `blueprint` (but the OpenAPI document) need a live API key.

    Text holding U+0000 is then refused whole, except by views that refuse it record by record
    (`reports_nul_per_record`).
    """

    @blueprint.before_request
    def _authenticate() -> None:
        if request.path.endswith("/openapi.json"):
            return
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            fail(401, "send an API key as 'Authorization: Bearer <key>'", "unauthorized")
        with session_scope(settings_of(current_app).database_url) as session:
            key = authenticate(session, token.strip())
            if key is None:
                fail(401, "unknown or revoked API key", "unauthorized")
            g.account_id = key.account_id
        if request.method not in ("GET", "HEAD") and request.mimetype != "multipart/form-data":
            # Only uploads may reach MAX_CONTENT_LENGTH; any other body, chunked too, stops here.
            buffer_body(API_MAX_BODY_BYTES)
        view = current_app.view_functions.get(request.endpoint or "")
        unknown = sorted(set(request.args) - _query_parameters(view, request.method))
        if unknown:
            # A misspelt or unsupported parameter would otherwise be ignored and answer something else.
            fail(
                422,
                f"unknown query parameter{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}",
                "unknown_parameter",
                {"query": {name: ["Unknown parameter."] for name in unknown}},
            )
        if not getattr(getattr(view, "view_class", None), "reports_nul_per_record", False) and _has_nul():
            # No name, id or setting contains it, and PostgreSQL text cannot hold it.
            fail(422, "text may not contain the NUL character (U+0000)", "nul_character")


def _query_parameters(view: Any, method: str) -> frozenset[str]:
    """The query parameters the view's method declares with `@blueprint.arguments(location="query")`."""
    # HEAD is answered by GET's handler (Flask), and takes its parameters.
    name = "get" if method == "HEAD" else method.lower()
    handler = getattr(getattr(view, "view_class", None), name, view)
    return _declared(handler)


@cache
def _declared(handler: Any) -> frozenset[str]:
    names: set[str] = set()
    for parameter in getattr(handler, "_apidoc", {}).get("arguments", {}).get("parameters", []):
        if parameter["in"] == "query":
            schema = parameter["schema"]
            schema = schema() if isinstance(schema, type) else schema
            names.update(f.data_key or name for name, f in schema.fields.items())
    return frozenset(names)


def _has_nul() -> bool:
    """Whether the request's query, JSON body or form fields hold a NUL character."""
    if any("\x00" in key or "\x00" in value for key, value in request.args.items(multi=True)):
        return True
    if request.mimetype == "application/json":
        return JSON_NUL.search(request.get_data(cache=True)) is not None
    if request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        fields = [text for pair in request.form.items(multi=True) for text in pair]
        texts = [*fields, *(upload.filename for upload in request.files.values())]
        return any("\x00" in text for text in texts if text)  # a malformed part's name is None
    return False


def fail(status: int, message: str, reason: str, errors: Any = None) -> NoReturn:
    """Answer with a JSON error (`code` is `reason`) and stop the view."""
    abort(status, message=message, reason=reason, **({"errors": errors} if errors is not None else {}))
    raise AssertionError("abort() returned")  # pragma: no cover - abort always raises


def owned_store(store_id: int) -> Store:
    """Return the key's account's store, or answer 404 (another account's store does not exist here)."""
    with session_scope(settings_of(current_app).database_url) as session:
        store = session.get(Store, store_id)
        if store is None or store.account_id != g.account_id:
            fail(404, f"no store {store_id}", "not_found")
        return store


class ErrorSchema(Schema):
    code = fields.String(required=True, metadata={"description": "machine-readable, e.g. not_found"})
    message = fields.String(required=True)
    details = fields.Dict(metadata={"description": "per-field reasons, where there are any"})


class JsonErrorsApi(Api):  # type: ignore[misc]
    """Errors as `{"code": "<machine-readable>", "message": "...", "details": {...}}`."""

    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error: HTTPException) -> Any:
        data = getattr(error, "data", None) or {}
        name = error.name or "error"
        payload: dict[str, Any] = {
            "code": data.get("reason") or re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_"),
            "message": data.get("message") or error.description,
        }
        details = data.get("errors") or data.get("messages")
        if details:
            payload["details"] = _text_keys(details)
        return payload, error.code, data.get("headers", {})


def _text_keys(details: Any) -> Any:
    """Give every key of the error details as text: positions of list items are numbers, and a
    malformed multipart part has no name at all (None), which JSON with sorted keys cannot order."""
    if isinstance(details, dict):
        return {str(key): _text_keys(value) for key, value in details.items()}
    if isinstance(details, list):
        return [_text_keys(value) for value in details]
    return details
