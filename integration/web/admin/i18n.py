"""The admin's languages (English, Polish, Spanish) and the locale's ways of writing numbers.

The locale is Shopify's `locale` parameter inside the admin, else the signed-in user's choice, else
the browser's `Accept-Language`. Times are shown in the account's time zone.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from babel import Locale, negotiate_locale
from babel.dates import format_datetime as babel_format_datetime
from babel.dates import format_skeleton
from flask import Flask, g, request
from flask_babel import Babel, format_currency, format_date, format_datetime, format_decimal, get_locale

from integration.web.views.reasons import translated as translated_reason

LOCALES = ("en", "pl", "es")
LANGUAGE_NAMES = {"en": "English", "pl": "Polski", "es": "Español"}
TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"


def supported(tag: str | None) -> str | None:
    """The supported locale a language tag such as `pl-PL` or `es_ES` asks for, if any."""
    if not tag:
        return None
    return negotiate_locale([tag.replace("-", "_")], LOCALES, sep="_")


def select_locale() -> str:
    """The locale of this request."""
    viewer = g.get("viewer")
    named = supported(request.headers.get("X-Storepulse-Locale"))  # a page's fetch names its language
    if named is not None:
        return named
    if viewer is not None and viewer.embedded:
        chosen = supported(request.args.get("locale") or request.headers.get("X-Shopify-Locale"))
    elif viewer is not None:
        chosen = supported(viewer.locale)
    else:
        chosen = None
    return chosen or request.accept_languages.best_match(LOCALES) or "en"


def select_time_zone() -> str:
    """The account's time zone (set on `g` by the page that shows the account)."""
    return str(g.get("time_zone") or "UTC")


def number(value: int | Decimal | str) -> str:
    """A count or amount the locale's way: 1,234 in English, 1 234 in Polish."""
    return str(format_decimal(Decimal(value) if isinstance(value, str) else value))


def percent(value: Decimal | str) -> str:
    """A share given in percent (`62.50`) with two decimals the locale's way: 62.50% or 62,50%."""
    return str(format_decimal(Decimal(value), format="#,##0.00")) + _percent_sign()


def signed(value: int) -> str:
    """A change with its sign: +12, −3, 0."""
    return ("+" if value > 0 else "−" if value < 0 else "") + number(abs(value))


def signed_percent(value: Decimal | str) -> str:
    """A change in percent with its sign, as `signed` writes counts: +19.57%, −11.49%, 0.00%."""
    amount = Decimal(value)
    sign = "+" if amount > 0 else "−" if amount < 0 else ""
    return sign + percent(abs(amount))


def decimals(value: Decimal | str) -> str:
    """A ratio with its two decimals kept, the locale's way: 1.50 or 1,50 (never 1.5)."""
    return str(format_decimal(Decimal(value), format="#,##0.00"))


def on_day(value: datetime | str) -> str:
    """The calendar day of a time in the account's time zone, the locale's way: Nov 3, 2026."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return str(format_date(moment, "medium"))


def money(amount: Decimal | str, currency: str) -> str:
    """An amount in its currency the locale's way: €1,234.50 or 1 234,50 €."""
    return str(format_currency(Decimal(amount), currency))


def when(value: datetime | str | None, style: str = "medium") -> str:
    """A time in the account's time zone, the locale's way."""
    if value is None:
        return ""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return str(format_datetime(moment, style))


def store_time(value: str | None, style: str = "medium") -> str:
    """A time as the store's clock showed it (an ISO time carrying the store's offset), the locale's way."""
    if value is None:
        return ""
    moment = datetime.fromisoformat(value)
    return str(babel_format_datetime(moment, style, tzinfo=moment.tzinfo, locale=get_locale()))


def day_label(day: str, long: bool = False) -> str:
    """A calendar day (`2026-12-03`) the locale's way: "Dec 3" (or "Dec 3, 2026" when `long`)."""
    return str(format_skeleton("yMMMd" if long else "MMMd", date.fromisoformat(day), locale=get_locale()))


def _percent_sign() -> str:
    # Babel's percent pattern for the locale decides the spacing: "62,50%" in Polish, "62,50 %" in Spanish.
    locale: Locale = get_locale() or Locale("en")
    pattern = locale.percent_formats[None].pattern
    return "\u00a0%" if "\u00a0%" in pattern or " %" in pattern else "%"


def init_app(app: Flask) -> None:
    """Translations, the locale and time zone of each request, and the formatting filters."""
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS))
    Babel(app, locale_selector=select_locale, timezone_selector=select_time_zone)
    app.jinja_env.filters.update(
        number=number,
        percent=percent,
        signed=signed,
        signed_percent=signed_percent,
        decimals=decimals,
        on_day=on_day,
        reason=translated_reason,
        money=money,
        when=when,
        store_time=store_time,
    )
    app.jinja_env.globals.update(LANGUAGE_NAMES=LANGUAGE_NAMES, current_locale=get_locale)
