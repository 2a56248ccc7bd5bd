"""What a module runs on: the optional top-level ``requires`` of a manifest, read defensively.

A class module may pin the shared trunk package it runs on::

    "requires": [{"id": "acme/trunk", "version": "1.0.0", "manifest_sha256": "…", "kind": "trunk"}]

The field is optional and newer than some readers, so it is read from the raw manifest document:
anything that is not a list of objects with string ``id`` and ``version`` is left out, never an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

_SHA256 = re.compile(r"[0-9a-f]{64}")
MAX_SHOWN = 32


@dataclass(frozen=True)
class Requirement:
    """One pinned dependency: ``url`` is its module page at that version."""

    id: str
    version: str
    manifest_sha256: str
    kind: str

    @property
    def url(self) -> str:
        return f"/modules/{quote(self.id)}?{urlencode({'version': self.version})}"

    @property
    def short_sha(self) -> str:
        return self.manifest_sha256[:12]


def requirements(doc: Any) -> tuple[Requirement, ...]:
    """The well-formed entries of ``doc["requires"]`` (at most :data:`MAX_SHOWN`)."""
    items = doc.get("requires") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        return ()
    out: list[Requirement] = []
    for item in items[:MAX_SHOWN]:
        if not isinstance(item, dict):
            continue
        rid, version = item.get("id"), item.get("version")
        if not isinstance(rid, str) or not isinstance(version, str) or not rid or not version:
            continue
        sha = item.get("manifest_sha256")
        kind = item.get("kind")
        out.append(
            Requirement(
                id=rid[:200],
                version=version[:100],
                manifest_sha256=sha if isinstance(sha, str) and _SHA256.fullmatch(sha) else "",
                kind=kind[:40] if isinstance(kind, str) else "",
            )
        )
    return tuple(out)
