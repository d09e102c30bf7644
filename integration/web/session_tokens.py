"""Shopify session (ID) tokens: the short JWTs App Bridge gives the app's pages inside the admin.

A token is HS256-signed with the app's secret (or the previous secret during a rotation), names the
app's client id as its audience, and carries `iss` (`https://{shop}/admin`), `dest`
(`https://{shop}`), `sub` (the staff member), `exp` and `nbf`. App Bridge often stamps `nbf` a few
seconds ahead of the server's clock, so times are checked with LEEWAY_SECONDS of slack.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from urllib.parse import urlsplit

import jwt

from connectors.shopify.client import shop_domain

LEEWAY_SECONDS = 10
REQUIRED_CLAIMS = ("exp", "nbf", "iss", "dest", "aud", "sub")


class InvalidSessionToken(Exception):
    """The token is not one Shopify issued for this app and shop just now; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class SessionToken:
    """What a verified token says: the shop and the staff member using the app."""

    shop: str
    user: str
    session: str | None


def verify_session_token(token: str, *, client_id: str, secrets: tuple[str, ...]) -> SessionToken:
    """Return the shop and user of a valid session token, else raise InvalidSessionToken."""
    if not secrets or not client_id:
        raise InvalidSessionToken("the Shopify app is not configured")
    claims: dict[str, object] | None = None
    for index, secret in enumerate(secrets):
        try:
            with warnings.catch_warnings():
                # A short secret is the operator's to fix; its warning would fill the log on every page.
                warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
                claims = jwt.decode(
                    token,
                    secret,
                    algorithms=["HS256"],
                    audience=client_id,
                    leeway=LEEWAY_SECONDS,
                    options={"require": list(REQUIRED_CLAIMS), "verify_iat": False},
                )
            break
        except jwt.InvalidSignatureError:
            if index == len(secrets) - 1:
                raise InvalidSessionToken("signature") from None
        except jwt.ExpiredSignatureError:
            raise InvalidSessionToken("expired") from None
        except jwt.ImmatureSignatureError:
            raise InvalidSessionToken("not_yet_valid") from None
        except jwt.InvalidAudienceError:
            raise InvalidSessionToken("audience") from None
        except jwt.MissingRequiredClaimError as exc:
            raise InvalidSessionToken(f"missing_{exc.claim}") from None
        except jwt.InvalidTokenError:
            raise InvalidSessionToken("malformed") from None
    assert claims is not None  # noqa: S101 - the loop either decodes or raises
    dest_host = urlsplit(str(claims["dest"])).hostname
    iss = urlsplit(str(claims["iss"]))
    shop = shop_domain(dest_host)
    if shop is None:
        raise InvalidSessionToken("shop")
    if iss.hostname != shop or iss.scheme != "https" or urlsplit(str(claims["dest"])).scheme != "https":
        raise InvalidSessionToken("issuer")
    session = claims.get("sid")
    return SessionToken(shop=shop, user=str(claims["sub"]), session=str(session) if session else None)
