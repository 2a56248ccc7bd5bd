"""The repository layout of a Hub registry: names, paths, shards, locations and model cards. Pure.

Two kinds of repository under one namespace ``<ns>``::

    <ns>/<origin>                       MODEL repo, one per origin model (``manifest.origin.name``)
    ├── README.md                       card of the repo: every module's tags and metrics
    ├── nnparts-modules.json            {"schema_version": 1, "modules": [CardRow, ...]}: feeds README.md
    ├── blobs/
    │   └── <sha256>                    every file a module lists, stored once, named by its content
    └── modules/<id>/<version>/         one folder per published module version
        ├── manifest.json               byte-identical to the published manifest (the entry pins it)
        └── README.md                   the module's own card

    <ns>/nnparts-index                  DATASET repo, the index
    ├── README.md                       dataset card (written by the first publish)
    ├── modules.json                    {"schema_version": 1, "entries": [IndexEntry, ...]}: list, get
    └── classes/<hh>.json               same shape: entries with a class name or alias whose
                                        normalised form hashes to ``hh`` (search reads one shard)

Files are deduplicated by content, on every Hub: a module's files live at ``blobs/<sha256>`` and the
manifest, which lists each file's path and sha256, is the file map; a publish uploads only the blobs
the repo lacks. An entry's ``location`` is ``<ns>/<origin>@<commit>/modules/<id>/<version>``: a
commit, so a later overwrite of the folder (a lost race for the same version) never changes what the
entry names, and a download at a pinned commit is served from the cache without a request.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from nnparts.index.search import sort_entries
from nnparts.schemas.errors import ManifestError, RegistryError
from nnparts.schemas.index_entry import IndexEntry
from nnparts.schemas.integrity import pretty_json
from nnparts.schemas.manifest import ModuleManifest

INDEX_REPO = "nnparts-index"
MODULES_FILE = "modules.json"
ORIGIN_TABLE = "nnparts-modules.json"
README = "README.md"
SHARD_DIR = "classes"
BLOB_DIR = "blobs"
MODULE_DIR = "modules"
DOC_VERSION = 1
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_REPO_NAME_BAD = re.compile(r"[^A-Za-z0-9._-]+")


# -- names and paths ------------------------------------------------------------------------------


def origin_repo_name(origin: str) -> str:
    """A valid Hub repo name for an origin model; names that had to change get a hash suffix."""
    clean = _REPO_NAME_BAD.sub("-", origin)
    clean = re.sub(r"-{2,}", "-", re.sub(r"\.{2,}", ".", clean)).strip(".-")[:80] or "origin"
    if clean != origin:
        clean = f"{clean}-{hashlib.sha256(origin.encode()).hexdigest()[:8]}"
    return clean


def module_folder(module_id: str, version: str) -> str:
    return f"{MODULE_DIR}/{module_id}/{version}"


def blob_path(sha256: str) -> str:
    return f"{BLOB_DIR}/{sha256}"


def normalise_term(term: str) -> str:
    """How class names and aliases are compared: stripped and case-folded."""
    return term.strip().casefold()


def shard_path(term: str) -> str:
    """The shard holding every entry that answers to ``term`` (a class name or alias)."""
    return f"{SHARD_DIR}/{hashlib.sha256(normalise_term(term).encode()).hexdigest()[:2]}.json"


def entry_shards(entry: IndexEntry) -> list[str]:
    """Every shard ``entry`` is listed in: one per distinct class name and alias."""
    return sorted({shard_path(word) for c in entry.classes for word in (c.name, *c.aliases)})


# -- locations ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Location:
    """Where a module version lives: ``repo_id@commit/folder``."""

    repo_id: str
    commit: str
    folder: str

    def __str__(self) -> str:
        return f"{self.repo_id}@{self.commit}/{self.folder}"

    @classmethod
    def parse(cls, text: str, *, ref: str) -> Location:
        """Raises ``RegistryError`` unless ``text`` is ``ns/name@<40 hex>/modules/...``."""
        repo_id, _, rest = text.partition("@")
        commit, _, folder = rest.partition("/")
        if (
            repo_id.count("/") != 1
            or not _COMMIT.match(commit)
            or not folder.startswith(MODULE_DIR + "/")
            or ".." in folder.split("/")
        ):
            raise RegistryError(f"index entry {ref} has a malformed Hub location {text!r}")
        return cls(repo_id, commit, folder)


# -- index documents ------------------------------------------------------------------------------


def encode_entries(entries: Iterable[IndexEntry]) -> bytes:
    """``{"schema_version": 1, "entries": [...]}`` sorted by id and version: deterministic bytes."""
    return pretty_json(
        {"schema_version": DOC_VERSION, "entries": [e.to_dict() for e in sort_entries(entries)]}
    )


def decode_entries(raw: bytes, *, source: str) -> list[IndexEntry]:
    """Parse and validate an index document.

    Raises:
        RegistryError: not JSON, the wrong shape, or an entry violating its schema.
    """
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise RegistryError(f"{source} is not valid JSON ({exc})", hint=_REPAIR) from exc
    if (
        not isinstance(doc, dict)
        or doc.get("schema_version") != DOC_VERSION
        or not isinstance(doc.get("entries"), list)
    ):
        raise RegistryError(f"{source} is not an nnparts index document (schema_version 1)", hint=_REPAIR)
    try:
        return [
            IndexEntry.from_dict(d, source=f"{source}#/entries/{i}") for i, d in enumerate(doc["entries"])
        ]
    except ManifestError as exc:
        raise RegistryError(f"corrupt index entry: {exc}", hint=_REPAIR) from exc


def upsert(entries: Sequence[IndexEntry], entry: IndexEntry) -> list[IndexEntry]:
    """``entries`` with ``entry`` added, replacing the one with the same id and version."""
    return [*(e for e in entries if (e.id, e.version) != (entry.id, entry.version)), entry]


_REPAIR = "restore the index repo to an earlier commit, or republish into a fresh namespace"


# -- model cards ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CardRow:
    """What a model card says about one module version."""

    ref: str
    folder: str
    classes: tuple[str, ...]
    method: str
    dataset: str
    split: str
    metrics: tuple[tuple[str, float], ...]

    @classmethod
    def from_manifest(cls, manifest: ModuleManifest) -> CardRow:
        overall = manifest.metrics.get("overall", {})
        metrics = [(str(k), float(v)) for k, v in sorted(overall.items()) if _is_number(v)]
        metrics.append(("density", manifest.mask.density))
        return cls(
            ref=f"{manifest.id}@{manifest.version}",
            folder=module_folder(manifest.id, manifest.version),
            classes=tuple(sorted({w for c in manifest.classes for w in (c.name, *c.aliases)})),
            method=manifest.method,
            dataset=manifest.origin.dataset,
            split=str(manifest.metrics.get("split", "test")),
            metrics=tuple(metrics),
        )

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CardRow:
        return cls(
            ref=str(d["ref"]),
            folder=str(d["folder"]),
            classes=tuple(str(c) for c in d["classes"]),
            method=str(d["method"]),
            dataset=str(d["dataset"]),
            split=str(d["split"]),
            metrics=tuple((str(k), float(v)) for k, v in d["metrics"]),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "folder": self.folder,
            "classes": list(self.classes),
            "method": self.method,
            "dataset": self.dataset,
            "split": self.split,
            "metrics": [list(m) for m in self.metrics],
        }

    def model_index(self) -> dict[str, Any]:
        return {
            "name": self.ref,
            "results": [
                {
                    "task": {"type": "image-classification", "name": "class module"},
                    "dataset": {"name": self.dataset, "type": self.dataset, "split": self.split},
                    "metrics": [{"type": k, "name": k, "value": v} for k, v in self.metrics],
                }
            ],
        }


def encode_rows(rows: Iterable[CardRow]) -> bytes:
    return pretty_json({"schema_version": DOC_VERSION, "modules": [r.to_dict() for r in rows]})


def decode_rows(raw: bytes, *, source: str) -> list[CardRow]:
    """Parse ``nnparts-modules.json``; raises ``RegistryError`` when it is not one."""
    try:
        doc = json.loads(raw)
        return [CardRow.from_dict(d) for d in doc["modules"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise RegistryError(f"{source} is not an nnparts module table ({exc})", hint=_REPAIR) from exc


def merge_rows(rows: Sequence[CardRow], row: CardRow) -> list[CardRow]:
    return sorted([*(r for r in rows if r.ref != row.ref), row], key=lambda r: r.ref)


def card_tags(rows: Iterable[CardRow], origin: str) -> list[str]:
    """``nnparts``, ``dnn-module``, ``class:<name>`` (names and aliases), ``origin:``, ``method:``."""
    tags = {"nnparts", "dnn-module", f"origin:{origin}"}
    for row in rows:
        tags.update(f"class:{normalise_term(c)}" for c in row.classes)
        tags.add(f"method:{row.method}")
    return sorted(tags)


def module_card(manifest: ModuleManifest) -> str:
    """The README.md of one module folder."""
    row = CardRow.from_manifest(manifest)
    body = (
        f"# {row.ref}\n\n{manifest.description or 'A module extracted by nnparts.'}\n\n"
        f"- classes: {', '.join(manifest.class_names)}\n"
        f"- origin: {manifest.origin.name} ({manifest.origin.architecture}, {manifest.origin.dataset})\n"
        f"- method: {manifest.method} ({manifest.mask.granularity}, density {manifest.mask.density:g})\n"
        f"- license: {manifest.license}\n\n"
        "Get it with nnparts from this registry: every file is stored once under `blobs/<sha256>` "
        "and checked against the sha256 that manifest.json records.\n"
    )
    return _card(row.ref, card_tags([row], manifest.origin.name), [row], [manifest.origin.dataset], body)


def origin_card(origin: str, rows: Sequence[CardRow]) -> str:
    """The README.md of an origin repo: tags and metrics of every module published into it."""
    listing = "".join(f"- [{r.ref}]({r.folder}): {', '.join(r.classes)}\n" for r in rows)
    body = (
        f"# nnparts modules of {origin}\n\nModules extracted from `{origin}`; search them with "
        f'`nnparts search CLASS` or `list_models(filter="class:cat")`.\n\n{listing}'
    )
    datasets = sorted({r.dataset for r in rows})
    return _card(origin, card_tags(rows, origin), rows, datasets, body)


def index_card(namespace: str) -> str:
    """The README.md of the index dataset repo."""
    body = (
        f"# nnparts index of {namespace}\n\n`{MODULES_FILE}` lists every module version; "
        f"`{SHARD_DIR}/<hh>.json` holds the entries answering to a class name or alias whose "
        "case-folded sha256 starts with `hh`. Written only by `nnparts publish` and `nnparts yank`.\n"
    )
    front = {"library_name": "nnparts", "tags": ["nnparts", "nnparts-index"], "pretty_name": "nnparts index"}
    return "---\n" + "\n".join(to_yaml(front)) + "\n---\n" + body


def _card(name: str, tags: list[str], rows: Sequence[CardRow], datasets: list[str], body: str) -> str:
    front: dict[str, Any] = {
        "library_name": "nnparts",
        "tags": tags,
        "datasets": datasets,
        "model-index": [r.model_index() for r in rows],
    }
    return "---\n" + "\n".join(to_yaml(front)) + "\n---\n" + body


def to_yaml(value: dict[str, Any], indent: int = 0) -> list[str]:
    """Block-style YAML for dicts, lists and scalars; strings are double-quoted (JSON escapes)."""
    pad = "  " * indent
    lines: list[str] = []
    for key, item in value.items():
        if isinstance(item, dict) and item:
            lines += [f"{pad}{key}:", *to_yaml(item, indent + 1)]
        elif isinstance(item, list) and item:
            lines += [f"{pad}{key}:", *_yaml_list(item, indent)]
        else:
            lines.append(f"{pad}{key}: {_yaml_scalar(item)}")
    return lines


def _yaml_list(items: list[Any], indent: int) -> list[str]:
    pad = "  " * indent
    lines: list[str] = []
    for item in items:
        if isinstance(item, dict) and item:
            nested = to_yaml(item, indent + 1)
            lines += [f"{pad}- {nested[0].lstrip()}", *nested[1:]]
        else:
            lines.append(f"{pad}- {_yaml_scalar(item)}")
    return lines


def _yaml_scalar(value: Any) -> str:
    if isinstance(value, dict | list):
        return "{}" if isinstance(value, dict) else "[]"
    if isinstance(value, float) and not math.isfinite(value):
        return "null"
    return json.dumps(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
