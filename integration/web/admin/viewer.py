"""Who is looking at an admin page: a Shopify staff member inside the admin, or a signed-in user.

Inside the Shopify admin every page load carries a session token (`id_token`); a load without a
valid one goes to the bounce page, whose App Bridge reloads it with a fresh token. Outside Shopify
the page needs a signed-in user (Flask-Login's cookie session). Either way the view finds the
account in `g.viewer`, and HTML answers say which frames may show them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar, cast
from urllib.parse import urlencode

from flask import Flask, Response, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import LoginManager, current_user
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from connectors.shopify.client import SessionTokenRefused
from connectors.shopify.connection import oauth
from integration.errors import ConfigError, ConnectorError
from integration.store.models import Platform, Role, Store, StoreState, User
from integration.web import replica
from integration.web.context import current_settings, db
from integration.web.install import MissingScopes, connect_shop
from integration.web.session_tokens import InvalidSessionToken, SessionToken, verify_session_token

logger = logging.getLogger(__name__)

# Query parameters Shopify puts on an embedded app's page loads.
EMBEDDED_MARKERS = ("embedded", "id_token", "host", "shop")
RETRY_HEADER = "X-Shopify-Retry-Invalid-Session-Request"

View = TypeVar("View", bound=Callable[..., Any])


@dataclass(frozen=True)
class Viewer:
    """The account an admin page shows, and who is looking at it."""

    account_id: int
    role: Role
    embedded: bool
    shop: str | None = None
    user_id: int | None = None
    email: str | None = None
    locale: str | None = None
    # The Shopify staff member (the session token's `sub`) when embedded.
    staff_id: str | None = None

    @property
    def manages(self) -> bool:
        """Whether the viewer may manage users, API keys and destinations."""
        return self.role is Role.OWNER


def bearer_token() -> str | None:
    """The token of an `Authorization: Bearer` header (App Bridge adds one to the page's fetches)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def embedded_request() -> bool:
    """Whether the page was opened inside the Shopify admin (Shopify's parameters are on the URL)."""
    return any(name in request.args for name in EMBEDDED_MARKERS)


def retry_with_fresh_token() -> Response:
    """Answer a fetch whose token failed: App Bridge retries it once with a fresh token."""
    answer = Response('{"code": "unauthorized", "message": "the session token is not valid"}', 401)
    answer.mimetype = "application/json"
    answer.headers[RETRY_HEADER] = "1"
    return answer


def session_token_of(token: str) -> SessionToken:
    """Verify a session token against this app's client id and secrets."""
    settings = current_settings()
    return verify_session_token(
        token, client_id=settings.shopify_api_key or "", secrets=settings.shopify_secrets
    )


def connected_shop(shop: str) -> Store | None:
    """The connected Shopify store of `shop`, if storepulse holds a token for it."""
    return db.session.scalar(
        select(Store).where(
            Store.platform == Platform.SHOPIFY,
            Store.shop_domain == shop,
            Store.state == StoreState.CONNECTED,
            Store.credentials.is_not(None),
        )
    )


def bounce() -> Response:
    """Send a page load without a valid token to the bounce page, which reloads it with one."""
    query: dict[str, Any] = {k: v for k, v in request.args.items() if k != "id_token"}
    reload = request.path + ("?" + urlencode(query) if query else "")  # without the spent token
    query["shopify-reload"] = reload
    return cast(Response, redirect(url_for("admin.bounce", **query)))


def admin_page(view: View) -> View:
    """Let only a verified Shopify session or a signed-in user see the page; set `g.viewer`."""

    @wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        fetched = bearer_token()
        if fetched is not None or embedded_request():
            token = fetched if fetched is not None else request.args.get("id_token", "")
            try:
                verified = session_token_of(token)
            except InvalidSessionToken:
                return retry_with_fresh_token() if fetched is not None else bounce()
            g.embedded_shop = verified.shop  # the frame may be Shopify's from here on
            store = connected_shop(verified.shop)
            if store is None:
                installed = first_load(verified, token)
                if not isinstance(installed, Store):
                    return installed
                store = installed
                replica.wrote(store.account_id)  # the page's reads wait until a replica has it
            g.viewer = Viewer(
                account_id=store.account_id,
                role=Role.OWNER,  # Shopify decides which staff may open the app
                embedded=True,
                shop=verified.shop,
                locale=request.args.get("locale"),
                staff_id=verified.user,
            )
        else:
            if not current_user.is_authenticated:
                return redirect(url_for("admin.sign_in", next=request.full_path.rstrip("?")))
            user = cast(User, current_user.user)
            g.viewer = Viewer(
                account_id=user.account_id,
                role=user.role,
                embedded=False,
                user_id=user.id,
                email=user.email,
                locale=user.locale,
            )
        if replica.start_reads(current_settings()):
            db.commit()  # the viewer was settled on the primary; the page reads from the replica
        return view(*args, **kwargs)

    return cast(View, guarded)


def first_load(verified: SessionToken, token: str) -> Store | ResponseReturnValue:
    """Connect a shop that opens the app before storepulse holds a token for it; return its store.

    Shopify installs an embedded app without calling it (managed installation), so the first page
    load (or fetch) is where storepulse exchanges the verified session token for an expiring offline
    token and connects the store as an install does: account, webhooks, backfill. A reinstalled shop
    gets its disconnected store back. When it cannot, the answer says what to do instead.
    """
    settings = current_settings()
    fetched = bearer_token() is not None
    try:
        tokens = oauth(settings).exchange_session_token(verified.shop, token)
        connect_shop(settings, verified.shop, tokens)
    except SessionTokenRefused:
        # Shopify did not take the token as current (its clock, a spent token): App Bridge brings a new one.
        return retry_with_fresh_token() if fetched else bounce()
    except MissingScopes as exc:
        logger.warning("shop %s granted too few permissions: %s", verified.shop, ", ".join(exc.scopes))
        return _not_connected(verified.shop, fetched, 403, missing=exc.scopes)
    except (ConnectorError, ConfigError) as exc:
        logger.warning("connecting %s on its first load failed: %s", verified.shop, exc)
        return _not_connected(verified.shop, fetched, 502)
    except IntegrityError:
        # Two first loads at once (App Bridge may load the page twice): the other one connected it.
        db.session.rollback()
    store = connected_shop(verified.shop)
    if store is None:
        return _not_connected(verified.shop, fetched, 502)
    return store


def _not_connected(
    shop: str, fetched: bool, status: int, missing: list[str] | None = None
) -> ResponseReturnValue:
    """Say that the shop could not be connected, and what to do: a page, or JSON to a fetch."""
    db.session.rollback()
    if fetched:
        message = (
            f"the app needs these permissions: {', '.join(missing)}"
            if missing
            else "Shopify did not let storepulse connect the store; reload the app to try again"
        )
        code = "missing_scopes" if missing else "install_failed"
        return {"code": code, "message": message}, status
    return render_template("admin/not_connected.html", shop=shop, missing=missing or []), status


class SignedIn:
    """Flask-Login's view of a user: `get_id` carries the session version, so a password change
    ends the sessions signed in before it."""

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def __init__(self, user: User) -> None:
        self.user = user

    def get_id(self) -> str:
        return f"{self.user.id}:{self.user.session_version}"


def _load_user(identity: str) -> SignedIn | None:
    user_id, _, version = identity.partition(":")
    if not user_id.isdigit() or not version.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    if user is None or user.disabled_at is not None or user.session_version != int(version):
        return None
    return SignedIn(user)


def frame_ancestors(response: Response) -> Response:
    """Let Shopify's admin frame a page of the verified shop, and nobody frame any other page."""
    if response.mimetype == "text/html":
        shop = g.get("embedded_shop")
        policy = (
            f"frame-ancestors https://{shop} https://admin.shopify.com;"
            if shop
            else "frame-ancestors 'none';"
        )
        # A view with a policy of its own (a sent preview) keeps it; it names its ancestors or gets these.
        own = response.headers.get("Content-Security-Policy")
        if own is None:
            response.headers["Content-Security-Policy"] = policy
        elif "frame-ancestors" not in own:
            response.headers["Content-Security-Policy"] = f"{own.rstrip('; ')}; {policy}"
    return response


def init_app(app: Flask) -> None:
    """Sign-in sessions and the frame policy of every HTML answer."""
    logins = LoginManager()
    logins.login_view = "admin.sign_in"
    logins.user_loader(_load_user)
    logins.init_app(app)
    app.after_request(frame_ancestors)
