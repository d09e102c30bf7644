"""Bearer authentication, per-key rate limits and JSON errors shared by the API blueprints.

A bearer value is an API key, or a Shopify session token (a JWT) sent by the fetches of an
embedded admin page, which stands for the account of the shop's connected store. A request without
an Authorization header may come from a signed-in user of the standalone admin (the cookie
session): it acts with the user's account and role, and a change needs the page's CSRF token. An API
key or a session token may do what an owner may (`require_owner`).

Each API key has a token bucket in Redis (`API_RATE_LIMIT_BURST` requests at once, refilled at
`API_RATE_LIMIT_PER_SECOND`), keyed by the key's id (`shop:<domain>` for session tokens): beyond it
a request answers 429 with `Retry-After`. The bucket outlives the web process. With Redis
unreachable or slow, requests go through unlimited (the API keeps answering; Redis is tried again
every REDIS_PAUSE_SECONDS) and the change is logged once each way.
"""

from __future__ import annotations

import logging
import math
import re
from functools import cache
from typing import Any, NoReturn

from flask import Response, current_app, g, request
from flask_login import current_user
from flask_smorest import Api, Blueprint, abort
from flask_wtf.csrf import CSRFError
from marshmallow import Schema, fields
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from connectors.limits import Take
from integration.accounts import authenticate
from integration.store.db import account_row
from integration.store.models import Platform, Role, Store, StoreState
from integration.web.admin.frame import csrf
from integration.web.admin.viewer import RETRY_HEADER
from integration.web.context import current_settings, db
from integration.web.limiter import Limiter, app_limiter
from integration.web.session_tokens import InvalidSessionToken, verify_session_token
from integration.web.views import reasons
from integration.web.views.bodies import buffer_body

logger = logging.getLogger(__name__)

BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
# The largest body an API call takes but a CSV upload (STOREPULSE_MAX_UPLOAD_MB): a batch of
# MAX_RECORDS orders with their line items is a few megabytes.
API_MAX_BODY_BYTES = 32 * 1024 * 1024
# U+0000 in a JSON string: the escape \u0000 after an even number of backslashes (raw NUL is no JSON).
JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def require_api_key(blueprint: Blueprint) -> None:
    """Make every endpoint of `blueprint` (but the OpenAPI document) need a live API key.

    Text holding U+0000 is then refused whole, except by views that refuse it record by record
    (`reports_nul_per_record`).
    """

    @blueprint.before_request
    def _authenticate() -> None:
        if request.path.endswith("/openapi.json"):
            return
        # Without an Authorization header, a page of the standalone admin may call with its cookie session.
        if "Authorization" in request.headers or not _signed_in():
            scheme, _, token = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                fail(401, "send an API key as 'Authorization: Bearer <key>'", "unauthorized")
            bucket: int | str
            if _is_jwt(token.strip()):
                g.account_id, shop = _session_token_account(token.strip())
                g.role = Role.OWNER  # Shopify decides which of the shop's staff may open the app
                bucket = f"shop:{shop}"  # the shop's pages share one bucket, whoever of its staff is looking
            else:
                with db.scope() as session:  # a hook runs before the view's session: its own unit of work
                    key = authenticate(session, token.strip())
                    if key is None:
                        fail(401, "unknown or revoked API key", "unauthorized")
                    g.account_id = key.account_id
                    g.api_key_id = key.id
                    g.role = Role.OWNER  # an API key may do whatever its account may
                    bucket = key.id
            _limit_rate(bucket)
        if request.method not in ("GET", "HEAD") and request.mimetype != "multipart/form-data":
            # Only uploads may reach MAX_CONTENT_LENGTH; any other body, chunked too, stops here.
            buffer_body(API_MAX_BODY_BYTES)
        _check_csrf()
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

    @blueprint.after_request
    def _rate_limit_headers(response: Response) -> Response:
        take: Take | None = g.get("rate_limit")
        if take is not None:
            limit = str(current_settings().api_rate_limit_burst)
            remaining = str(take.remaining)
            response.headers["RateLimit-Limit"] = response.headers["X-RateLimit-Limit"] = limit
            response.headers["RateLimit-Remaining"] = response.headers["X-RateLimit-Remaining"] = remaining
            response.headers["RateLimit-Reset"] = str(math.ceil(take.full_in))
        return response


def _signed_in() -> bool:
    """Let a signed-in user of the standalone admin call the API with the cookie session.

    Set the user's account and role; a change (any unsafe method) needs the page's CSRF token in
    the `X-CSRFToken` header, since the browser sends the cookie with forged requests too.
    """
    if not current_user.is_authenticated:
        return False
    user = current_user.user
    g.account_id = user.account_id
    g.role = user.role
    g.user_id = user.id
    g.cookie_session = True
    return True


def _check_csrf() -> None:
    """Refuse a change by the cookie session without the page's CSRF token (after the body is buffered:
    the check reads the form, which would otherwise keep the unread stream)."""
    if not g.get("cookie_session") or request.method in SAFE_METHODS:
        return
    try:
        csrf.protect()
    except CSRFError as exc:
        fail(403, f"the CSRF token is missing or not valid: {exc.description}", "csrf_failed")


def require_owner() -> None:
    """Answer 403 unless the caller may manage users, API keys and destinations (an owner or a key)."""
    if g.get("role") is not Role.OWNER:
        fail(403, "only an owner of the account may do this", "forbidden")


def _is_jwt(token: str) -> bool:
    """Whether a bearer value has a JWT's shape (three dot-separated parts): an API key has no dot."""
    return token.count(".") == 2


def _session_token_account(token: str) -> tuple[int, str]:
    """The account and shop of a Shopify session token sent by an embedded page's fetch.

    A token that does not verify answers 401 with the header that makes App Bridge retry the
    fetch once with a fresh token; a valid one of a shop storepulse does not hold answers 401.
    """
    settings = current_settings()
    try:
        verified = verify_session_token(
            token, client_id=settings.shopify_api_key or "", secrets=settings.shopify_secrets
        )
    except InvalidSessionToken as exc:
        logger.info("session token refused: %s", exc.reason)
        fail(401, "the session token is not valid", "unauthorized", headers={RETRY_HEADER: "1"})
    g.shopify_staff = verified.user  # whose notifications are read (staff have no user row)
    with db.scope() as session:
        account_id = session.scalar(
            select(Store.account_id).where(
                Store.platform == Platform.SHOPIFY,
                Store.shop_domain == verified.shop,
                Store.state == StoreState.CONNECTED,
                Store.credentials.is_not(None),
            )
        )
    if account_id is None:
        fail(
            401,
            "storepulse is not connected to this shop; open the app in the Shopify admin",
            "not_connected",
        )
    return account_id, verified.shop


def _limit_rate(key_id: int | str) -> None:
    """Take a token of the bucket (an API key's id, or `shop:<domain>` for session tokens), or answer
    429 with the seconds until there is one."""
    settings = current_settings()
    if settings.api_rate_limit_per_second <= 0:
        return
    limiter = app_limiter(
        "api",
        lambda: Limiter(
            settings,
            "api-key",
            settings.api_rate_limit_per_second,
            settings.api_rate_limit_burst,
            "API rate limits",
        ),
    )
    take = limiter.take(key_id)
    if take is None:
        return
    g.rate_limit = take
    if not take.allowed:
        seconds = max(1, math.ceil(take.retry_after))
        sender = "from this shop" if isinstance(key_id, str) else "with this API key"
        fail(
            429,
            f"too many requests {sender}; retry in {seconds} s",
            "rate_limited",
            headers={"Retry-After": str(seconds)},
        )


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


def fail(
    status: int, message: str, reason: str, errors: Any = None, headers: dict[str, str] | None = None
) -> NoReturn:
    """Answer with a JSON error (`code` is `reason`) and stop the view."""
    extra: dict[str, Any] = {"errors": errors} if errors is not None else {}
    if headers:
        extra["headers"] = headers
    abort(status, message=message, reason=reason, **extra)
    raise AssertionError("abort() returned")  # pragma: no cover - abort always raises


def owned_store(store_id: int) -> Store:
    """Return the key's account's store, or answer 404 (another account's store does not exist here)."""
    store = account_row(db.session, Store, store_id, g.account_id)
    if store is None:
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
            payload["details"] = _text_keys(reasons.translated(details) if reasons.from_admin() else details)
        return payload, error.code, data.get("headers", {})


def _text_keys(details: Any) -> Any:
    """Give every key of the error details as text: positions of list items are numbers, and a
    malformed multipart part has no name at all (None), which JSON with sorted keys cannot order."""
    if isinstance(details, dict):
        return {str(key): _text_keys(value) for key, value in details.items()}
    if isinstance(details, list):
        return [_text_keys(value) for value in details]
    return details
