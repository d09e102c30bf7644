"""The admin's translation catalogs: every string of the pages translated, and compiled as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from integration.web.admin.i18n import LOCALES, TRANSLATIONS

ROOT = Path(__file__).resolve().parents[3]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None}
PLACEHOLDER = re.compile(r"%\((\w+)\)s")
TRANSLATED = [locale for locale in LOCALES if locale != "en"]


def extracted() -> dict[str, tuple[str, int]]:
    """Every message of the web wing's code and templates, with where it is first used."""
    method_map = [("integration/web/**.py", "python"), ("integration/web/templates/admin/**.html", "jinja2")]
    found: dict[str, tuple[str, int]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map=method_map, keywords=KEYWORDS
    ):
        key = message if isinstance(message, str) else message[0]
        found.setdefault(key, (filename, lineno))
    return found


def _key(value: str | list[str] | tuple[str, ...]) -> str | tuple[str, ...]:
    """A message's id or string; plural forms as a tuple (compiled catalogs give lists)."""
    return value if isinstance(value, str) else tuple(value)


def catalog(locale: str):  # type: ignore[no-untyped-def]
    with (TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle, locale=locale)


def test_the_code_uses_strings_worth_translating() -> None:
    assert len(extracted()) > 40  # the pages' strings are found where the catalogs are made from


@pytest.mark.parametrize("locale", TRANSLATED)
def test_every_string_of_the_pages_is_translated(locale: str) -> None:
    messages = catalog(locale)
    missing = []
    for msgid, (filename, lineno) in extracted().items():
        entry = messages.get(msgid)
        if entry is None or not entry.string or entry.fuzzy:
            missing.append(f"{filename}:{lineno}: {msgid!r}")
            continue
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        for text in strings:
            assert set(PLACEHOLDER.findall(text)) == set(PLACEHOLDER.findall(msgid)), (msgid, text)
    assert not missing, f"not translated into {locale}:\n" + "\n".join(missing)


@pytest.mark.parametrize("locale", TRANSLATED)
def test_the_compiled_catalog_says_what_the_written_one_does(locale: str) -> None:
    written = catalog(locale)
    with (TRANSLATIONS / locale / "LC_MESSAGES" / "messages.mo").open("rb") as handle:
        compiled = read_mo(handle)
    expected = {_key(m.id): _key(m.string) for m in written if m.id and m.string and not m.fuzzy}
    actual = {_key(m.id): _key(m.string) for m in compiled if m.id}
    assert actual == expected, "compile the catalogs: pybabel compile -d integration/web/translations"


# Letters one of the two languages has and the other has not: a catalog holding them speaks the other one.
FOREIGN_LETTERS = {"es": re.compile("[ąęłżźśćńĄĘŁŻŹŚĆŃ]"), "pl": re.compile("[ñ¿¡áéíúÑ]")}
# Texts whose words are the same in Polish and Spanish ("Lista").
SAME_IN_BOTH = {"List %(list)s"}


def _words(text: str) -> str:
    """The text's words: without placeholders, digits and punctuation."""
    return re.sub(r"[\W\d_]+", " ", PLACEHOLDER.sub(" ", re.sub(r"%\(\w+\)d", " ", text))).strip()


def test_each_catalog_speaks_its_own_language() -> None:
    """A translation copied into the other language's catalog passes every other check: it is found here."""
    polish, spanish = catalog("pl"), catalog("es")
    shared, foreign = [], []
    for entry in spanish:
        if not entry.id:
            continue
        other = polish.get(entry.id)
        source = entry.id if isinstance(entry.id, str) else " ".join(entry.id)
        text = _key(entry.string)
        if (
            other is not None
            and _key(other.string) == text
            and _words(" ".join(text) if isinstance(text, tuple) else text)
        ):
            if text != _key(entry.id) and entry.id not in SAME_IN_BOTH:  # a name or code stays as written
                shared.append(source)
    for locale, messages in (("pl", polish), ("es", spanish)):
        for entry in messages:
            strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
            if entry.id and any(FOREIGN_LETTERS[locale].search(s or "") for s in strings):
                foreign.append(f"{locale}: {entry.id!r}")
    assert not shared, "the same text in Polish and Spanish:\n" + "\n".join(shared)
    assert not foreign, "letters of the other language:\n" + "\n".join(foreign)
