"""Queries over index entries: class-name and alias matching, version ordering, nearest names.

Pure functions over a sequence of :class:`IndexEntry`; every backend shares them, so a class query
means the same thing against a folder and against a Hub. Cost: one linear pass over the entries given.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence

from nnparts.schemas.errors import ModuleNotFound, UnknownClass
from nnparts.schemas.index_entry import IndexEntry
from nnparts.schemas.version import VersionKey, version_key

__all__ = [
    "entry_key",
    "known_classes",
    "match_class",
    "nearest_classes",
    "nearest_names",
    "require_class",
    "select_version",
    "sort_entries",
    "version_key",
]


def entry_key(entry: IndexEntry) -> tuple[str, VersionKey]:
    """The canonical order of entries: id, then version."""
    return (entry.id, version_key(entry.version))


def sort_entries(entries: Iterable[IndexEntry]) -> list[IndexEntry]:
    return sorted(entries, key=entry_key)


def match_class(
    entries: Iterable[IndexEntry], class_query: str, *, include_yanked: bool = False
) -> list[IndexEntry]:
    """Entries providing ``class_query`` (name or alias, case-insensitive), in canonical order."""
    return sort_entries(e for e in entries if e.matches(class_query) and (include_yanked or not e.yanked))


def known_classes(entries: Iterable[IndexEntry]) -> list[str]:
    """Sorted canonical class names provided by any entry (yanked ones included)."""
    return sorted({c.name for e in entries for c in e.classes}, key=lambda n: (n.casefold(), n))


def nearest_names(query: str, names: Mapping[str, str] | Iterable[str], *, limit: int = 3) -> list[str]:
    """Up to ``limit`` names close to ``query`` (difflib ratio >= 0.6, case-insensitive), closest
    first: the one "did you mean" of class names, for a registry's classes and an origin's alike.

    Args:
        query: the name as the user typed it.
        names: the canonical names, or a mapping of each accepted spelling (a name or an alias) to
            its canonical name; the answer lists canonical names, each once.
        limit: the most names returned.
    """
    spelled: dict[str, str] = {}
    pairs = names.items() if isinstance(names, Mapping) else ((n, n) for n in names)
    for word, canonical in pairs:
        spelled.setdefault(word.casefold(), canonical)
    close = difflib.get_close_matches(query.strip().casefold(), list(spelled), n=limit * 2)
    found: list[str] = []
    for word in close:
        if spelled[word] not in found:
            found.append(spelled[word])
    return found[:limit]


def nearest_classes(class_query: str, entries: Iterable[IndexEntry], *, limit: int = 3) -> list[str]:
    """Up to ``limit`` known class names close to ``class_query`` (:func:`nearest_names`), aliases too."""
    spelled: dict[str, str] = {}
    for e in entries:
        for c in e.classes:
            for word in (c.name, *c.aliases):
                spelled.setdefault(word, c.name)
    return nearest_names(class_query, spelled, limit=limit)


def require_class(class_query: str, entries: Sequence[IndexEntry]) -> None:
    """Raise :class:`UnknownClass` (with the nearest names) unless some entry, yanked or not, has it."""
    if not any(e.matches(class_query) for e in entries):
        raise UnknownClass(class_query, nearest_classes(class_query, entries))


def select_version(entries: Iterable[IndexEntry], module_id: str, version: str | None = None) -> IndexEntry:
    """The entry ``module_id@version``; with ``version=None`` the latest non-yanked version.

    An explicit version is returned even when yanked (an exact pin still resolves, as in pip).

    Raises:
        ModuleNotFound: no such id, no such version, or every version is yanked.
    """
    versions = sort_entries(e for e in entries if e.id == module_id)
    if not versions:
        raise ModuleNotFound(module_id)
    if version is not None:
        for e in versions:
            if e.version == version:
                return e
        known = ", ".join(e.version for e in versions)
        raise ModuleNotFound(f"{module_id}@{version}", hint=f"published versions: {known}")
    live = [e for e in versions if not e.yanked]
    if not live:
        known = ", ".join(e.version for e in versions)
        raise ModuleNotFound(
            module_id, hint=f"every version is yanked ({known}); name one explicitly with --version"
        )
    return live[-1]
