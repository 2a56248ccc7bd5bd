"""Keeps the web catalogue in step with what the server stores.

:class:`CatalogSync` is a repo listener (see ``Hub.listeners``): after every commit to ``main`` it
re-reads what changed. In a model repo that is each ``manifest.json`` whose content is new, parsed
with ``ModuleManifest.from_dict`` (an invalid one is logged and skipped, and so is one whose id is
not in the repo's namespace: ``alice/catmod`` is catalogued only from a repo of ``alice``, so no
tenant can take over another's module page); in a dataset repo it is each
changed ``*.json`` file, scanned for index entries marked ``"yanked": true`` (any document that is a
list of entries, or an object holding one under ``entries`` or ``modules``; other shapes are
ignored, so a different index layout only loses the yank marks). :meth:`backfill` does the same at
start-up for every repo whose head moved since it was last catalogued, so a restart (or a catalogue
created after the fact) catches up. Costs: a commit reads only the manifests and JSON files it
changed; the publish date of a module is the date of the commit that last changed its manifest.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterator
from typing import Any

from nnparts.registry.catalog import Catalog, ModuleRow, NewModule
from nnparts.registry.storage import (
    MAIN,
    CommitRecord,
    FileEntry,
    RepoKey,
    RepoQuery,
    RepoRecord,
    Storage,
)
from nnparts.schemas.errors import NnpartsError
from nnparts.schemas.index_entry import ACCURACY_KEYS
from nnparts.schemas.manifest import ModuleManifest
from nnparts.schemas.package import MANIFEST_NAME

log = logging.getLogger("nnparts.registry.catalog")
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
MAX_INDEX_FILE_BYTES = 64 * 1024 * 1024
_YANKED = re.compile(rb'"yanked"\s*:\s*true')


class CatalogSync:
    """Feeds :class:`Catalog` from :class:`Storage`; never raises into the request that committed."""

    def __init__(self, storage: Storage, catalog: Catalog) -> None:
        self.storage = storage
        self.catalog = catalog
        self._lock = threading.Lock()

    # -- listener interface ------------------------------------------------------------------------

    def committed(self, key: RepoKey, branch: str, commit: CommitRecord) -> None:
        """Catalogue ``commit`` if it moved ``main`` of a model or dataset repo."""
        if branch != MAIN or key.type not in ("model", "dataset"):
            return
        try:
            self.sync_head(self.storage.get_repo(key))
        except Exception:
            log.exception("catalogue update failed for %s %s at %s", key.type, key.id, commit.sha)

    def deleted(self, key: RepoKey) -> None:
        """Forget a deleted repo."""
        try:
            self.catalog.forget(key.type, key.id)
        except Exception:
            log.exception("catalogue cleanup failed for %s %s", key.type, key.id)

    # -- work --------------------------------------------------------------------------------------

    def backfill(self) -> int:
        """Catalogue every repo whose ``main`` head differs from the one recorded; drop repos
        that no longer exist. Returns the number of repos (re)read."""
        count = 0
        for repo_type in ("model", "dataset"):
            seen: set[str] = set()
            for record in _all_repos(self.storage, repo_type):
                seen.add(record.key.id)
                if record.sha is None or self.catalog.synced_head(repo_type, record.key.id) == record.sha:
                    continue
                try:
                    self.sync_head(record)
                    count += 1
                except Exception:
                    log.exception("catalogue backfill failed for %s %s", repo_type, record.key.id)
            for repo in set(self.catalog.synced_repos(repo_type)) - seen:
                self.catalog.forget(repo_type, repo)
        return count

    def sync_head(self, record: RepoRecord) -> None:
        """Bring the catalogue rows of one repo to the *current* head of its ``main``.

        Serialised by a lock and always reading the head anew, so listeners of concurrent commits
        that run out of order never roll the catalogue back to an older tree.
        """
        with self._lock:
            record = self.storage.get_repo(record.key)
            if record.sha is None:
                return
            commit = self.storage.resolve(record.key, record.sha)
            files = self.storage.list_files(record.key, commit)
            if record.key.type == "model":
                self._sync_models(record, commit, files)
            elif record.key.type == "dataset":
                self._sync_index(record, commit, files)

    def _sync_models(self, record: RepoRecord, commit: CommitRecord, files: list[FileEntry]) -> None:
        repo = record.key.id
        known = self.catalog.manifest_shas(repo)
        manifests = {_folder(f.path): f for f in files if f.path.rsplit("/", 1)[-1] == MANIFEST_NAME}
        upserts: list[NewModule] = []
        for folder, entry in manifests.items():
            if known.get(folder) == entry.sha256:
                continue
            new = self._parse(record, commit, folder, entry)
            if new is not None:
                upserts.append(new)
        # a manifest that vanished, or changed into an invalid one, leaves the catalogue
        removed = [p for p, sha in known.items() if p not in manifests or sha != manifests[p].sha256]
        self.catalog.apply_model_repo(
            repo, commit.sha, private=record.private, upserts=upserts, removed=removed
        )

    def _parse(
        self, record: RepoRecord, commit: CommitRecord, folder: str, entry: FileEntry
    ) -> NewModule | None:
        source = f"{record.key.id}@{commit.sha[:12]}/{entry.path}"
        if entry.size > MAX_MANIFEST_BYTES:
            log.warning("catalogue skips %s: %d bytes is too large for a manifest", source, entry.size)
            return None
        try:
            doc = json.loads(self.storage.blob_path(entry.sha256).read_bytes())
            if not isinstance(doc, dict):
                raise ValueError("not a JSON object")
            manifest = ModuleManifest.from_dict(doc, source=source)
        except (NnpartsError, ValueError, KeyError, TypeError, OSError, RecursionError) as err:
            log.warning("catalogue skips invalid manifest %s: %s", source, err)
            return None
        if not owns(record.key.namespace, manifest.id):
            log.warning(
                "catalogue skips %s: module id %r is not in namespace %r",
                source,
                manifest.id,
                record.key.namespace,
            )
            return None
        row = ModuleRow(
            repo=record.key.id,
            path=folder,
            commit=commit.sha,
            manifest_sha256=entry.sha256,
            id=manifest.id,
            version=manifest.version,
            kind=manifest.kind,
            classes=manifest.class_names,
            origin=manifest.origin.name,
            dataset=manifest.origin.dataset,
            method=manifest.method,
            granularity=manifest.mask.granularity,
            density=manifest.mask.density,
            accuracy=overall_accuracy(manifest),
            bytes=manifest.total_bytes,
            published=commit.date,
            private=record.private,
        )
        return NewModule(row, tuple(a for c in manifest.classes for a in c.aliases))

    def _sync_index(self, record: RepoRecord, commit: CommitRecord, files: list[FileEntry]) -> None:
        repo = record.key.id
        known = self.catalog.yank_file_shas(repo)
        current = {f.path: f for f in files if f.path.endswith(".json")}
        changed: dict[str, tuple[str, list[tuple[str, str, str]]]] = {}
        for path, entry in current.items():
            if known.get(path) != entry.sha256:
                changed[path] = (entry.sha256, self._yanks_in(repo, entry))
        removed = [p for p in known if p not in current]
        self.catalog.apply_index_repo(repo, commit.sha, files=changed, removed=removed)

    def _yanks_in(self, repo: str, entry: FileEntry) -> list[tuple[str, str, str]]:
        if entry.size > MAX_INDEX_FILE_BYTES:
            log.warning("catalogue skips %s/%s: too large for an index file", repo, entry.path)
            return []
        raw = self.storage.blob_path(entry.sha256).read_bytes()
        if not _YANKED.search(raw):
            return []
        try:
            doc = json.loads(raw)
        except (ValueError, RecursionError) as err:
            log.warning("catalogue skips %s/%s: not JSON (%s)", repo, entry.path, err)
            return []
        return sorted(
            {
                (item["id"], item["version"], str(item.get("yank_reason") or ""))
                for item in _entries(doc)
                if item.get("yanked") is True
                and isinstance(item.get("id"), str)
                and isinstance(item.get("version"), str)
            }
        )


def overall_accuracy(manifest: ModuleManifest) -> float | None:
    """``metrics.overall.accuracy`` (or another of ``ACCURACY_KEYS``), if recorded."""
    overall = manifest.metrics.get("overall", {})
    for key in ACCURACY_KEYS:
        value = overall.get(key) if isinstance(overall, dict) else None
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


def owns(namespace: str, module_id: str) -> bool:
    """Whether a repo in ``namespace`` may publish ``module_id``: the id's first segment must be
    that namespace (case-insensitive); an id without one belongs to no namespace."""
    head, sep, _ = module_id.partition("/")
    return bool(sep) and head.lower() == namespace.lower()


def _folder(path: str) -> str:
    return path.rsplit("/", 1)[0] if "/" in path else ""


def _entries(doc: Any) -> Iterator[dict[str, Any]]:
    items: Any = doc
    if isinstance(doc, dict):
        items = doc.get("entries", doc.get("modules", []))
    if isinstance(items, list):
        yield from (item for item in items if isinstance(item, dict))


def _all_repos(storage: Storage, repo_type: str) -> Iterator[RepoRecord]:
    after: str | None = None
    while True:
        page = storage.list_repos(RepoQuery(type=repo_type, after=after, limit=1000, visible_private=None))
        yield from page
        if len(page) < 1000:
            return
        after = page[-1].key.id
