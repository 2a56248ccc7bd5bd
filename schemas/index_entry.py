"""One published module version as a registry's index lists it (``index_entry.schema.json``).

An :class:`IndexEntry` is derived from a verified manifest at publish time and is all a search, a
listing or the resolver needs, so none of them downloads a package. It is a summary, never the source
of truth: installs re-check every file against the manifest, whose sha256 the entry pins.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, NamedTuple

from nnparts.schemas.errors import ManifestError
from nnparts.schemas.manifest import Kind, ModuleManifest
from nnparts.schemas.validate import validate

SCHEMA_VERSION = 1
#: Keys of ``metrics.overall`` read as the module's accuracy, in order of preference.
ACCURACY_KEYS = ("accuracy", "top1")


class IndexedClass(NamedTuple):
    """A class a module provides: its name and the aliases it also answers to."""

    name: str
    aliases: tuple[str, ...] = ()

    def matches(self, query: str) -> bool:
        q = query.strip().casefold()
        return q == self.name.casefold() or any(q == a.casefold() for a in self.aliases)


@dataclass(frozen=True)
class IndexEntry:
    """Summary of one ``id@version``; ``location`` is backend-specific (a folder, ``repo@commit/path``)."""

    id: str
    version: str
    kind: Kind
    classes: tuple[IndexedClass, ...]
    origin: str
    dataset: str
    method: str
    granularity: str
    density: float
    accuracy: float
    bytes: int
    input: tuple[int, int, int]
    manifest_sha256: str
    published: str
    location: str
    yanked: bool = False
    yank_reason: str = ""

    @property
    def ref(self) -> str:
        """``id@version``, the form used in messages."""
        return f"{self.id}@{self.version}"

    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.classes)

    def matches(self, class_query: str) -> bool:
        """True if any provided class has this name or alias (case-insensitive)."""
        return any(c.matches(class_query) for c in self.classes)

    def matched_class(self, class_query: str) -> str | None:
        """The canonical name of the class that ``class_query`` names, or None."""
        return next((c.name for c in self.classes if c.matches(class_query)), None)

    def with_yank(self, reason: str) -> IndexEntry:
        return replace(self, yanked=True, yank_reason=reason)

    @classmethod
    def from_manifest(
        cls, manifest: ModuleManifest, *, manifest_sha256: str, published: str, location: str
    ) -> IndexEntry:
        """Summarise a (verified) manifest.

        Raises:
            ManifestError: ``metrics.overall`` records no accuracy (one of ``ACCURACY_KEYS``); a
                trunk, which answers no class, may record none (its entry says 0.0).
        """
        overall = manifest.metrics.get("overall", {})
        key = next((k for k in ACCURACY_KEYS if k in overall), None)
        if key is None and manifest.kind == "trunk":
            overall, key = {"accuracy": 0.0}, "accuracy"  # a trunk answers no class: nothing to score
        if key is None:
            raise ManifestError(
                f"metrics.overall has no accuracy (keys: {sorted(overall)})",
                pointer="/metrics/overall",
                hint=f"record one of {', '.join(ACCURACY_KEYS)} as a fraction in [0, 1]",
            )
        entry = cls(
            id=manifest.id,
            version=manifest.version,
            kind=manifest.kind,
            classes=tuple(IndexedClass(c.name, tuple(c.aliases)) for c in manifest.classes),
            origin=manifest.origin.name,
            dataset=manifest.origin.dataset,
            method=manifest.method,
            granularity=manifest.mask.granularity,
            density=manifest.mask.density,
            accuracy=float(overall[key]),
            bytes=manifest.total_bytes,
            input=(manifest.input.channels, manifest.input.height, manifest.input.width),
            manifest_sha256=manifest_sha256,
            published=published,
            location=location,
        )
        validate(entry.to_dict(), "index_entry", source=f"index entry for {entry.ref}")
        return entry

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, source: str = "") -> IndexEntry:
        """Validate ``d`` against ``index_entry.schema.json``, then parse it."""
        validate(d, "index_entry", source=source)
        return cls(
            id=d["id"],
            version=d["version"],
            kind=d["kind"],
            classes=tuple(IndexedClass(c["name"], tuple(c["aliases"])) for c in d["classes"]),
            origin=d["origin"],
            dataset=d["dataset"],
            method=d["method"],
            granularity=d["granularity"],
            density=float(d["density"]),
            accuracy=float(d["accuracy"]),
            bytes=int(d["bytes"]),
            input=(int(d["input"]["channels"]), int(d["input"]["height"]), int(d["input"]["width"])),
            manifest_sha256=d["manifest_sha256"],
            published=d["published"],
            location=d["location"],
            yanked=bool(d["yanked"]),
            yank_reason=d.get("yank_reason", ""),
        )

    def to_dict(self) -> dict[str, Any]:
        channels, height, width = self.input
        d: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "id": self.id,
            "version": self.version,
            "kind": self.kind,
            "classes": [{"name": c.name, "aliases": list(c.aliases)} for c in self.classes],
            "origin": self.origin,
            "dataset": self.dataset,
            "method": self.method,
            "granularity": self.granularity,
            "density": self.density,
            "accuracy": self.accuracy,
            "bytes": self.bytes,
            "input": {"channels": channels, "height": height, "width": width},
            "manifest_sha256": self.manifest_sha256,
            "published": self.published,
            "yanked": self.yanked,
            "location": self.location,
        }
        if self.yank_reason:
            d["yank_reason"] = self.yank_reason
        return d
