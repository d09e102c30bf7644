"""No page of the admin shows text that bypasses the catalogs.

The pages are rendered in a locale whose catalog wraps every translation in ⟦ ⟧; any visible text (or
label, heading or accessible name) left outside the brackets came from no catalog, so a Polish or
Spanish merchant would read it in English. Data (names, addresses, codes, numbers) is allowed.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask
from werkzeug.security import generate_password_hash

from integration.accounts import add_email_source, add_store, create_account, create_api_key
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import EmailTool, Platform, Role, User
from integration.web.admin.i18n import TRANSLATIONS
from tests.web.admin.test_setup import PASSWORD, sign_in

SHOWN_ATTRIBUTES = (
    "aria-label",
    "title",
    "placeholder",
    "heading",
    "label",
    "details",
    "accessibilitylabel",
    "alt",
)
# Words that are the same in every language: the product, platforms, formats, protocols.
NAMES = {
    "storepulse",
    "Shopify",
    "CSV",
    "API",
    "SendGrid",
    "Mailchimp",
    "SMTP",
    "STARTTLS",
    "TLS",
    "IANA",
    "English",
    "Polski",
    "Español",
    "OK",
}
# Months and days as Babel writes dates in Polish: data formatted for the locale, not text to translate.
CALENDAR = {
    name.strip(".")
    for context in ("format", "stand-alone")
    for width in ("abbreviated", "wide")
    for names in (Locale("pl").months[context][width], Locale("pl").days[context][width])
    for name in names.values()
}
# The words that join a list the locale's way ("A, B i C", "A lub B"): CLDR's, as babel gives them.
LIST_WORDS = {
    word
    for patterns in Locale("pl").list_patterns.values()
    for pattern in patterns.values()
    for word in re.findall(r"[^\W\d_]+", pattern)
}
SKIPPED = ("script", "style", "title")  # the document title is checked on its own below


def pseudo_catalog(directory: Path) -> Path:
    """Write a catalog for `pl` whose every translation is the Polish one inside ⟦ ⟧."""
    with (TRANSLATIONS / "pl" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle, locale="pl")
    for message in catalog:
        if not message.id:
            continue
        if isinstance(message.string, tuple):
            message.string = tuple(f"⟦{text}⟧" for text in message.string)
        else:
            message.string = f"⟦{message.string}⟧"
    target = directory / "pl" / "LC_MESSAGES"
    target.mkdir(parents=True)
    with (target / "messages.mo").open("wb") as handle:
        write_mo(handle, catalog)
    return directory


class ShownText(HTMLParser):
    """Collect what a person sees or hears of a page: text, and the attributes read out or shown."""

    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[str] = []
        self.skipping = 0
        self.code: list[str] = []  # the open elements marked translate="no" (code to copy), innermost last

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in SKIPPED:
            self.skipping += 1
        if ("translate", "no") in attrs:
            self.code.append(tag)
            self.skipping += 1
        for name, value in attrs:
            if name in SHOWN_ATTRIBUTES and value:
                self.chunks.append(value)
            if name == "data-messages" and value:
                self.chunks.extend(json.loads(value).values())

    def handle_endtag(self, tag: str) -> None:
        if tag in SKIPPED:
            self.skipping -= 1
        if self.code and self.code[-1] == tag:
            self.code.pop()
            self.skipping -= 1

    def handle_data(self, data: str) -> None:
        if not self.skipping and data.strip():
            self.chunks.append(data)


def untranslated(html: str, data: set[str]) -> list[str]:
    """The pieces of text a page shows outside every translation, data and names aside."""
    parser = ShownText()
    parser.feed(html)
    left = []
    for chunk in parser.chunks:
        text = re.sub(r"https?://[^\s⟦⟧]+", " ", chunk)  # an address may end a translation
        while "⟦" in text:  # innermost first: a translation may hold translated words in its blanks
            text, found = re.subn(r"⟦[^⟦⟧]*⟧", " ", text)
            if not found:
                break
        for value in sorted(data, key=len, reverse=True):
            text = re.sub(rf"(?<!\w){re.escape(value)}(?!\w)", " ", text)
        words = [w for w in re.findall(r"[^\W\d_][\w'’.-]*", text) if w.strip(".-") not in NAMES]
        # Codes and zones are data: EUR, Europe/Warsaw, a key's prefix, a file name.
        words = [
            w
            for w in words
            if not re.fullmatch(r"[A-Z]{3}|[A-Za-z_]+/[A-Za-z_/]+|\w+\.csv|.*\d.*", w)
            and w not in CALENDAR | LIST_WORDS
        ]
        if words:
            left.append(chunk.strip())
    return left


@pytest.fixture
def pseudo_app(app: Flask, tmp_path: Path) -> Flask:
    app.extensions["babel"].translation_directories[:] = [str(pseudo_catalog(tmp_path / "translations"))]
    return app


def admin_pages(app: Flask) -> list[str]:
    """Every page of the admin a signed-in owner can open without parameters."""
    pages = []
    for rule in app.url_map.iter_rules():
        if (
            rule.endpoint.startswith("admin.")
            and "GET" in (rule.methods or ())
            and not rule.arguments
            and rule.endpoint not in ("admin.static", "admin.bounce")
        ):
            pages.append(rule.rule)
    return sorted(pages)


def test_every_page_shows_only_translated_text(pseudo_app: Flask, settings: Settings) -> None:
    email = "owner@example.com"
    with session_scope(settings.database_url) as session:
        account_id = create_account(session, "Boutique Nord", "Europe/Warsaw").id
        store = add_store(session, account_id, platform=Platform.CSV, name="Boutique Nord", currency="EUR")
        public_key = store.public_key  # data: random letters, with a digit only by chance
        session.add(
            User(
                account_id=account_id,
                email=email,
                password_hash=generate_password_hash(PASSWORD),
                role=Role.OWNER,
            )
        )
        # data too: random hex, shown cut ("7532031478ee…"), whose letters may stand alone
        key_prefix = create_api_key(session, account_id, "warehouse")[0].prefix
        add_email_source(session, account_id, EmailTool.MAILCHIMP, "Newsletter")
    client = pseudo_app.test_client()
    sign_in(client, email)
    data = {email, "Boutique Nord", "warehouse", "Newsletter", public_key, key_prefix}
    pages = admin_pages(pseudo_app)
    assert "/admin/" in pages
    assert len(pages) >= 5
    found = {}
    for path in pages:
        answer = client.get(path, headers={"Accept-Language": "pl-PL,pl;q=0.9"})
        if answer.mimetype != "text/html" or answer.status_code == 302:
            continue  # the JSON a page polls; a step that sends the merchant on
        assert answer.status_code == 200, path
        html = answer.get_data(as_text=True)
        assert re.search(r"<title>⟦", html), f"{path}: the document title is not translated"
        left = untranslated(html, data)
        if left:
            found[path] = left
    assert not found, f"text outside the catalogs: {found}"


def test_the_check_finds_text_outside_the_catalogs() -> None:
    page = '<main><h1>⟦Kontakty⟧</h1><p>Recounting now</p><s-section heading="Trend"></s-section></main>'
    assert untranslated(page, set()) == ["Recounting now", "Trend"]
    assert untranslated("<p>⟦Okres: 180 dni⟧ · EUR · owner@example.com</p>", {"owner@example.com"}) == []
    # Code to copy is marked translate="no": not text to translate (its comments come translated).
    code = '<pre translate="no"><code>storepulse("page");</code></pre><p>Copy this</p>'
    assert untranslated(code, set()) == ["Copy this"]
