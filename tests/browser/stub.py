"""Test-only routes of the browser tests' server: the App Bridge stand-in and what it talks to.

Registered by the `live_server` fixture on the app it serves, never by the product's app factory.
Under `/_test/`: the stand-in scripts (static/), a session-token minting endpoint signed with the
test app secret, an echo of what a request carried, an endpoint refusing a session token once,
and a minimal embedded page that loads the
scripts the settings name, as the product's embedded pages do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, abort, render_template_string, request

from integration.web.context import current_settings
from tests.support.session_tokens import session_token

PREFIX = "/_test"
STATIC = Path(__file__).parent / "static"
APP_BRIDGE_PATH = f"{PREFIX}/static/app-bridge-stub.js"
POLARIS_PATH = f"{PREFIX}/static/polaris-offline.js"

blueprint = Blueprint("browser_stub", __name__, url_prefix=PREFIX, static_folder=STATIC)

EMBEDDED_PAGE = """<!doctype html>
<html lang="{{ locale }}">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta name="shopify-api-key" content="{{ api_key }}">
  <script src="{{ app_bridge_src }}"></script>
  <script src="{{ polaris_src }}"></script>
  <title>Embedded harness page</title>
  <style>pre { white-space: pre-wrap; overflow-wrap: anywhere; }</style>
</head>
<body>
  <main>
    <h1>Embedded harness page</h1>
    <p><label for="note">Note</label> <input id="note" name="note" type="text"></p>
    <p><button type="button" id="call">Call the echo endpoint</button></p>
    <pre id="answer" aria-live="polite"></pre>
  </main>
  <script>
    document.getElementById("call").addEventListener("click", async () => {
      const note = document.getElementById("note").value;
      const answer = await fetch("{{ echo_url }}", {method: "POST", body: note});
      document.getElementById("answer").textContent = JSON.stringify(await answer.json());
      shopify.toast.show("Echoed");
    });
  </script>
</body>
</html>
"""


@blueprint.get("/session-token")
def mint() -> dict[str, str]:
    """Mint a session token of `?shop=` for the configured app, as App Bridge hands one out."""
    settings = current_settings()
    shop = request.args.get("shop")
    if not shop or not settings.shopify_api_key or not settings.shopify_api_secret:
        abort(400, "a shop, and a Shopify app configured with a key and secret, are needed")
    token = session_token(
        settings.shopify_api_secret,
        api_key=settings.shopify_api_key,
        shop=shop,
        sub=request.args.get("sub", "1"),
    )
    return {"token": token}


@blueprint.route("/echo", methods=["GET", "POST"])
def echo() -> dict[str, Any]:
    """Answer with what the request carried: method, Authorization header and body."""
    return {
        "method": request.method,
        "authorization": request.headers.get("Authorization"),
        "body": request.get_data(as_text=True),
    }


# Keys of `/_test/reject-once` already rejected (the test server serves one test at a time).
_rejected: set[str] = set()


@blueprint.get("/reject-once/<key>")
def reject_once(key: str) -> tuple[dict[str, Any], int, dict[str, str]]:
    """Answer the first request for `key` as an expired session token is answered (401 asking App
    Bridge to retry), and the next with the Authorization header it carried."""
    if key not in _rejected:
        _rejected.add(key)
        return {"code": "invalid_session"}, 401, {"X-Shopify-Retry-Invalid-Session-Request": "1"}
    return {"authorization": request.headers.get("Authorization")}, 200, {}


@blueprint.get("/embedded")
def embedded() -> str:
    """A minimal embedded page loading the App Bridge and Polaris scripts the settings name."""
    settings = current_settings()
    return render_template_string(
        EMBEDDED_PAGE,
        locale=request.args.get("locale", "en"),
        api_key=settings.shopify_api_key,
        app_bridge_src=settings.shopify_app_bridge_src,
        polaris_src=settings.shopify_polaris_src,
        echo_url=f"{PREFIX}/echo",
    )


# A merchant's shop page on another platform, as a test wrote it (`SHOP_PAGES[name] = head`):
# served from the same loopback server under another host name, so from another origin.
SHOP_PAGES: dict[str, str] = {}


@blueprint.get("/shop/<name>")
def shop_page(name: str) -> tuple[str, int, dict[str, str]]:
    """A shop's product page whose <head> holds what the merchant pasted into it."""
    head = SHOP_PAGES.get(name)
    if head is None:
        abort(404)
    page = (
        f"<!doctype html><html lang=en><head><title>Linen shirt</title>{head}</head>"
        "<body><h1>Linen shirt</h1></body></html>"
    )
    return page, 200, {"Content-Type": "text/html; charset=utf-8"}
