"""The web server's access log, without the secrets some URLs carry.

A Mailchimp source's URL holds its secret (`/webhooks/email/mailchimp/<id>/<secret>`), an export's
download link is its own credential (`/exports/<token>`), the Shopify install callback's query
carries a one-time authorization code, and a contact search names a person. Whoever reads the log
must not be able to use the first, nor learn the last; the page a request came from (the Referer)
is written the same way.
"""

from __future__ import annotations

import re
from typing import Any

from gunicorn.glogging import Logger

REDACTED = "[redacted]"
SECRET_PATHS = (
    re.compile(r"(/webhooks/email/mailchimp/[^/?#\s]+/)[^/?#\s]+"),
    re.compile(r"(/exports/)[^/?#\s]+"),
)
# Credentials (a grant's code, a nonce, a signature, a session token) and what may name a person (a
# contact search, a filter with an email or a tag).
SECRET_PARAMETERS = re.compile(
    r"((?:^|[?&])(?:code|state|hmac|id_token|session|q|filter)=)[^&#\s]*", re.IGNORECASE
)
# The atoms of gunicorn's log format that hold the request's URL, or the page it came from.
URL_ATOMS = (
    "r",
    "U",
    "q",
    "f",
    "{referer}i",
    "{raw_uri}e",
    "{path_info}e",
    "{query_string}e",
    "{request_uri}e",
)


def redact(text: str) -> str:
    """Replace the secrets a request line, path or query string may hold."""
    for pattern in SECRET_PATHS:
        text = pattern.sub(rf"\g<1>{REDACTED}", text)
    return SECRET_PARAMETERS.sub(rf"\g<1>{REDACTED}", text)


class AccessLogger(Logger):  # type: ignore[misc]
    """gunicorn's logger, writing request lines with their secrets replaced."""

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        for name in URL_ATOMS:
            if isinstance(atoms.get(name), str):
                atoms[name] = redact(atoms[name])
        return atoms
