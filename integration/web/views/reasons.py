"""The input errors of the JSON API in the admin's language, for the pages that show them by a field.

The API answers programs in English. A page of the admin names its language in the
`X-Storepulse-Locale` header of its fetches; then the reasons marshmallow and our schemas give per
field are translated, keeping the numbers and names they carry.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from flask import request
from flask_babel import gettext as _

from jobs.imports import STOPPED_ON_ERROR, STOPPED_WITH_PROCESS

LOCALE_HEADER = "X-Storepulse-Locale"

# Each pattern matches one English reason whole; its groups fill the translation.
REASONS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
    (re.compile(r"Missing data for required field\."), lambda m: _("Required.")),
    (re.compile(r"Field may not be null\."), lambda m: _("Required.")),
    (re.compile(r"Not a valid integer\."), lambda m: _("Enter a whole number.")),
    (re.compile(r"Not a valid number\."), lambda m: _("Enter a number.")),
    (re.compile(r"Not a valid string\."), lambda m: _("Enter text.")),
    (re.compile(r"Not a valid email address\."), lambda m: _("Enter a valid email address.")),
    (re.compile(r"Not a valid boolean\."), lambda m: _("Choose yes or no.")),
    (re.compile(r"Unknown field\."), lambda m: _("This field is not known here.")),
    (
        re.compile(r"Must be greater than or equal to (\S+) and less than or equal to (\S+)\."),
        lambda m: _("Enter a number from %(low)s to %(high)s.", low=m[1], high=m[2]),
    ),
    (re.compile(r"Must be greater than or equal to (\S+)\."), lambda m: _("At least %(low)s.", low=m[1])),
    (re.compile(r"Must be less than or equal to (\S+)\."), lambda m: _("At most %(high)s.", high=m[1])),
    (
        re.compile(r"Length must be between (\d+) and (\d+)\."),
        lambda m: _("Enter from %(low)s to %(high)s characters.", low=m[1], high=m[2]),
    ),
    (
        re.compile(r"Shorter than minimum length (\d+)\."),
        lambda m: _("At least %(low)s characters.", low=m[1]),
    ),
    (
        re.compile(r"Longer than maximum length (\d+)\."),
        lambda m: _("At most %(high)s characters.", high=m[1]),
    ),
    (re.compile(r"Must be one of: (.+)\."), lambda m: _("Choose one of: %(choices)s.", choices=m[1])),
    (
        re.compile(r"not an ISO 4217 currency code such as EUR"),
        lambda m: _("Enter a currency code such as EUR, PLN or USD."),
    ),
    (
        re.compile(r"(.*) is not an origin such as https://shop\.example\.com"),
        lambda m: _("%(value)s is not a shop address such as https://shop.example.com.", value=m[1]),
    ),
    (re.compile(r"at most (\d+) origins"), lambda m: _("At most %(count)s addresses.", count=m[1])),
    (re.compile(r"Enter the shop's https address\."), lambda m: _("Enter the shop's https address.")),
    (
        re.compile(r"A WooCommerce consumer key starts with ck_\."),
        lambda m: _("A WooCommerce consumer key starts with ck_."),
    ),
    (
        re.compile(r"A WooCommerce consumer secret starts with cs_\."),
        lambda m: _("A WooCommerce consumer secret starts with cs_."),
    ),
    (
        re.compile(r"WooCommerce refused these keys: .*"),
        lambda m: _("WooCommerce refused these keys: make Read/Write keys and paste both again."),
    ),
    (
        re.compile(r"Billbee refused this login and API password: .*"),
        lambda m: _(
            "Billbee refused this login and API password: check both, and the API password in Billbee."
        ),
    ),
    (
        re.compile(r"No WooCommerce REST API answers at this address\."),
        lambda m: _("No WooCommerce REST API answers at this address."),
    ),
    (
        re.compile(r"(?:not an IANA time zone such as Europe/Warsaw|unknown time zone .*)"),
        lambda m: _("Enter a time zone such as Europe/Warsaw."),
    ),
    # Why an import failed (jobs.imports, connectors.csv.reader), as its page says it.
    (
        re.compile(re.escape(STOPPED_WITH_PROCESS)),
        lambda m: _(
            "The process running it ended before the file's end. The records stored until then are kept."
        ),
    ),
    (
        re.compile(re.escape(STOPPED_ON_ERROR).replace(re.escape("{error}"), r"(\w+)")),
        lambda m: _("An error stopped it (%(error)s). The records stored until then are kept.", error=m[1]),
    ),
    (
        re.compile(r"the file is empty or its first line is blank"),
        lambda m: _("The file is empty or its first line is blank."),
    ),
    (re.compile(r"the header names a column twice"), lambda m: _("The header names a column twice.")),
    (
        re.compile(r"unsupported encoding '(.*)' \(use utf-8, cp1250 or cp1252\)"),
        lambda m: _(
            "The encoding %(encoding)s is not supported: use UTF-8, Windows-1250 or Windows-1252.",
            encoding=m[1],
        ),
    ),
    (re.compile(r"cannot read the header: .*", re.S), lambda m: _("The header cannot be read.")),
    (
        re.compile(r"row (\d+): the file cannot be read further: .*", re.S),
        lambda m: _("The file cannot be read from row %(row)s on.", row=m[1]),
    ),
    (
        re.compile(r"missing column\(s\) (.+) for \w+"),
        lambda m: _("Columns this kind of file needs are missing: %(columns)s.", columns=m[1]),
    ),
)


def from_admin() -> bool:
    """Whether a page of the admin made this request (it names its language)."""
    return bool(request.headers.get(LOCALE_HEADER))


def translated(details: Any) -> Any:
    """The per-field reasons of an error answer, each in the admin's language where it is known."""
    if isinstance(details, dict):
        return {key: translated(value) for key, value in details.items()}
    if isinstance(details, list):
        return [translated(value) for value in details]
    if isinstance(details, str):
        for pattern, say in REASONS:
            match = pattern.fullmatch(details)
            if match:
                return say(match)
    return details
