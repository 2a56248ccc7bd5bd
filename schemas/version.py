"""The one order of module versions, shared by registries (``index.search``) and the resolver.

``MAJOR.MINOR.PATCH`` compare numerically; a ``-pre`` release sorts before its release (its dotted
identifiers compare as SemVer says: numbers numerically, below words); a ``+build`` (or ``.post``)
suffix sorts after the release it extends, so every two distinct versions are ordered and "latest"
is the same everywhere. Unparseable versions sort first.
"""

from __future__ import annotations

import re

_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:[+.]([0-9A-Za-z.+-]+))?$")

VersionKey = tuple[tuple[int, ...], int, tuple[tuple[int, int, str], ...], str]


def version_key(version: str) -> VersionKey:
    """Sort key of ``version``: ``(numbers, release rank, pre-release identifiers, build)``."""
    m = _VERSION.match(version)
    if m is None:
        return ((-1,), 0, (), version)
    numbers = (int(m.group(1)), int(m.group(2)), int(m.group(3)))
    pre, build = m.group(4), m.group(5) or ""
    if pre is None:
        return (numbers, 1, (), build)
    ids = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))
    return (numbers, 0, ids, build)
