"""Shopify session tokens for tests: minted as App Bridge would, signed with the test app's secrets.

PyJWT warns about HS256 secrets shorter than 32 bytes (and warnings fail the tests), so the app of
an embedded test is made with the longer secrets here: mark the test (or module) with EMBEDDED.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt
import pytest

from tests.support.shopify import API_KEY, SHOP

SECRET = "shpss_current_secret_of_the_embedded_app_tests"
OLD_SECRET = "shpss_previous_secret_of_the_embedded_app_tests"
EMBEDDED = pytest.mark.shopify_app(shopify_api_secret=SECRET, shopify_api_secret_previous=OLD_SECRET)
DROP = object()  # a claim given this value is left out of the token


def claims(shop: str = SHOP, **changes: Any) -> dict[str, Any]:
    """A session token's claims as Shopify issues them for `shop`, changed by `changes`."""
    now = int(time.time())
    made: dict[str, Any] = {
        "iss": f"https://{shop}/admin",
        "dest": f"https://{shop}",
        "aud": API_KEY,
        "sub": "42",
        "exp": now + 60,
        "nbf": now,
        "iat": now,
        "jti": str(uuid.uuid4()),
        "sid": "f8a5b2c7e1d94c3aa7c5d2e8b9f0a1c3",
    }
    made.update(changes)
    return {name: value for name, value in made.items() if value is not DROP}


def mint(shop: str = SHOP, *, secret: str = SECRET, algorithm: str = "HS256", **changes: Any) -> str:
    """A session token of `shop` signed with `secret` (the app's current one by default)."""
    return jwt.encode(claims(shop, **changes), secret, algorithm=algorithm)


def fetch_headers(token: str) -> dict[str, str]:
    """The headers App Bridge adds to a page's fetch."""
    return {"Authorization": f"Bearer {token}"}
