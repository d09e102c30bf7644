"""The web server's access log, without the secrets some URLs carry.

A Mailchimp source's URL holds its secret (`/webhooks/email/mailchimp/<id>/<secret>`), an export's
download link is its own credential (`/exports/<token>`), the Shopify install callback's query
carries a one-time authorization code, and a contact search names a person. Whoever reads the log
must not be able to use the first, nor learn the last; the page a request came from (the Referer)
is written the same way.

Each line follows `LOG_FORMAT` like every other line (JSON with the request's fields, or text),
carries the request's id, and goes through the same scrubbing: an email address in a query, the
user of Basic authentication, a token in any header named in a custom format.
"""

from __future__ import annotations

import re
from typing import Any

from gunicorn.glogging import Logger

from integration.operations.logs import ENVIRON_REQUEST_ID, prepare_handler, scrub_value
from integration.settings import log_format_from_env

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
    """gunicorn's logger, writing request lines with their secrets replaced, in our format."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        self.log_format = log_format = log_format_from_env()
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                if getattr(handler, "_gunicorn", False):  # not those of a --log-config
                    prepare_handler(handler, log_format)

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        for name in URL_ATOMS:
            if isinstance(atoms.get(name), str):
                atoms[name] = redact(atoms[name])
        for name, value in atoms.items():
            if name.endswith("}i") and isinstance(value, str):  # a request header, in a custom format
                atoms[name] = scrub_value(name, value)
        return atoms

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        """Write one line for a request: gunicorn's format as the message, its parts as fields."""
        if not getattr(self, "access_log_enabled", bool(self.cfg.accesslog)):
            return
        atoms = self.atoms(resp, req, environ, request_time)
        fields = {
            "request_id": environ.get(ENVIRON_REQUEST_ID),
            "method": atoms.get("m"),
            "path": atoms.get("U"),
            "query": atoms.get("q") or None,
            "status": _number(atoms.get("s")),
            "bytes": _number(atoms.get("B")),
            "duration_ms": round(request_time.total_seconds() * 1000, 1),
            "remote_addr": atoms.get("h"),
            "user_agent": atoms.get("a"),
            "referer": atoms.get("f"),
        }
        if getattr(self, "log_format", "text") != "json":
            fields = {"request_id": fields["request_id"]}  # the text line holds the rest already
        try:
            line = self.cfg.access_log_format % self.atoms_wrapper_class(atoms)
            self.access_log.info(line, extra=fields)
        except Exception:  # noqa: BLE001 - as gunicorn's own: a bad format must not fail the request
            self.exception("access log line not written")


def _number(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
