"""``nnparts.lock``: the exact modules an install chose, so a frozen install reproduces them offline.

Each module is pinned by logical coordinates (registry name and URL, repo, revision, path) and by
content (the manifest's sha256 and every file's sha256 and size). Written as sorted, indented JSON
through a temp file and rename; validated against ``lockfile.schema.json`` on read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nnparts.schemas.errors import FileMissing, ManifestError
from nnparts.schemas.integrity import atomic_write_bytes, pretty_json
from nnparts.schemas.manifest import FileEntry
from nnparts.schemas.signature import Signer
from nnparts.schemas.validate import validate


@dataclass(frozen=True)
class LockedModule:
    classes: tuple[str, ...]
    requested_as: tuple[str, ...]
    id: str
    version: str
    registry: str
    repo: str
    revision: str
    path: str
    manifest_sha256: str
    files: tuple[FileEntry, ...]
    signer: Signer | None = None  # the verified signer (trusted install); absent when unsigned

    def to_dict(self) -> dict[str, Any]:
        signer = {} if self.signer is None else {"signer": self.signer.to_dict()}
        return signer | {
            "classes": list(self.classes),
            "requested_as": list(self.requested_as),
            "id": self.id,
            "version": self.version,
            "registry": self.registry,
            "repo": self.repo,
            "revision": self.revision,
            "path": self.path,
            "manifest_sha256": self.manifest_sha256,
            "files": [{"path": f.path, "sha256": f.sha256, "bytes": f.bytes} for f in self.files],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LockedModule:
        return cls(
            classes=tuple(d["classes"]),
            requested_as=tuple(d.get("requested_as", d["classes"])),
            id=d["id"],
            version=d["version"],
            registry=d["registry"],
            repo=d["repo"],
            revision=d["revision"],
            path=d["path"],
            manifest_sha256=d["manifest_sha256"],
            files=tuple(FileEntry(f["path"], f["sha256"], int(f["bytes"])) for f in d["files"]),
            signer=Signer.from_dict(d["signer"]) if "signer" in d else None,
        )


@dataclass(frozen=True)
class Lockfile:
    requested: tuple[str, ...]
    registries: tuple[tuple[str, str], ...]  # (name, url) in priority order
    modules: tuple[LockedModule, ...]
    constraints: dict[str, Any]
    trunks: tuple[LockedModule, ...] = ()  # the trunks the modules run on, each once

    def registry_url(self, name: str) -> str:
        for n, url in self.registries:
            if n == name:
                return url
        raise ManifestError(f"module pinned to unknown registry {name!r}", pointer="/registries")

    def class_order(self) -> list[tuple[str, LockedModule]]:
        """(requested class, its module) in the order the classes were requested."""
        out = []
        for q in self.requested:
            for m in self.modules:
                if q in m.requested_as:
                    out.append((q, m))
                    break
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "requested": list(self.requested),
            "constraints": dict(self.constraints),
            "registries": [{"name": n, "url": u} for n, u in self.registries],
            "modules": [m.to_dict() for m in self.modules],
        } | ({"trunks": [t.to_dict() for t in self.trunks]} if self.trunks else {})

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, source: str = "") -> Lockfile:
        validate(d, "lockfile", source=source)
        return cls(
            requested=tuple(d["requested"]),
            registries=tuple((r["name"], r["url"]) for r in d["registries"]),
            modules=tuple(LockedModule.from_dict(m) for m in d["modules"]),
            constraints=dict(d.get("constraints", {})),
            trunks=tuple(LockedModule.from_dict(t) for t in d.get("trunks", [])),
        )


def write_lockfile(path: str | Path, lock: Lockfile) -> None:
    atomic_write_bytes(path, pretty_json(lock.to_dict()))


def read_lockfile(path: str | Path) -> Lockfile:
    p = Path(path)
    if not p.is_file():
        raise FileMissing(str(p), hint="run `nnparts install CLASS... --lock FILE` first")
    try:
        doc = json.loads(p.read_bytes())
    except ValueError as exc:
        raise ManifestError(f"not valid JSON ({exc})", source=str(p), pointer="") from exc
    return Lockfile.from_dict(doc, source=str(p))
