"""What each condition of a filter selects, in words, placed by its position in the builder's tree.

The words are the segment pages' (`filter_words.describe`); the builder places them by its own
paths, which count a `none of` group (not any) as one group.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from integration.web.admin import filter_words


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


def words(condition: dict[str, Any], store_names: dict[int, str]) -> dict[str, dict[str, str]]:
    """Each leaf's words and its "not set" note, by builder path, for a parsed filter."""
    found = {}
    for path, leaf in leaves(condition):
        said = filter_words.describe(leaf, store_names=store_names)
        found[path] = {"text": str(said["text"]), "not_set": str(said["not_set"] or "")}
    return found
