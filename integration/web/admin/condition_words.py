"""What each condition of a filter selects, in words, placed by its position in the builder's tree.

The words come from `filter_words.describe` (the segment pages' wording); until that module is part
of the admin, a short wording of our own stands in, so the builder shows something useful.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from typing import Any

from flask_babel import gettext as _

from integration.web.admin.filter_catalog import labels


def _describer() -> Callable[[dict[str, Any]], dict[str, Any]]:
    try:
        module = importlib.import_module("integration.web.admin.filter_words")
    except ModuleNotFoundError:
        return _plain
    describe: Callable[[dict[str, Any]], dict[str, Any]] = module.describe
    return describe


def _plain(condition: dict[str, Any]) -> dict[str, Any]:
    """A condition's words without the segment pages' wording: its name and value."""
    key, value = next(iter(condition.items()))
    if isinstance(value, list):
        shown = ", ".join(str(v) for v in value)
    elif isinstance(value, dict):
        shown = ", ".join(f"{k} {v}" for k, v in value.items() if v is not None)
    else:
        shown = str(value)
    not_set = ""
    if key.startswith("not_") and key.endswith("_within_days"):
        not_set = _("Contacts without any such interaction are included.")
    elif key.endswith("_within_days") and key != "created_within_days":
        not_set = _("Contacts without any such interaction are left out.")
    return {
        "kind": "condition",
        "key": key,
        "path": "",
        "text": f"{labels().get(key, key)}: {shown}",
        "not_set": not_set,
        "parts": [],
    }


def leaves(condition: dict[str, Any], path: tuple[int, ...] = ()) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each leaf of a filter with its builder path: child positions, a `none of` group counting as one."""
    key, value = next(iter(condition.items()))
    if key in ("all", "any"):
        for n, part in enumerate(value):
            yield from leaves(part, (*path, n))
    elif key == "not":
        inner = value["any"] if len(value) == 1 and "any" in value else [value]
        for n, part in enumerate(inner):
            yield from leaves(part, (*path, n))
    else:
        yield ".".join(str(n) for n in path), condition


def words(condition: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Each leaf's words and its "not set" note, by builder path, for a parsed filter."""
    describe = _describer()
    found = {}
    for path, leaf in leaves(condition):
        said = describe(leaf)
        found[path] = {"text": str(said.get("text") or ""), "not_set": str(said.get("not_set") or "")}
    return found
