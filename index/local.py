"""DirectoryIndex: a registry that is a plain folder, the embedded default at ``$NNPARTS_HOME``.

Layout::

    <root>/
    ├── index/
    │   ├── entries.json            {"schema_version": 1, "entries": [...]}: every IndexEntry, sorted
    │   │                           by id then version, pretty JSON (deterministic bytes)
    │   └── .lock                   flock(2)ed around every read-modify-write of entries.json
    └── packages/
        ├── <id>@<version>/         one immutable package (``<id>`` may hold ``/``, e.g. ``zoo/cat@1.0.0``)
        │   ├── manifest.json
        │   ├── graph.json
        │   ├── *.safetensors
        │   └── package.sig         the detached signature, when the package was signed (not pinned)
        └── .staging-*/             a publish in progress (renamed into place, or removed)

Concurrency: publishers copy and verify their files into a private staging folder without the lock,
then, holding an exclusive ``flock`` on ``index/.lock``, re-read ``entries.json``, rename the staging
folder into place and replace ``entries.json`` through a temporary file and ``os.replace``. Readers
never lock: they see the index before or after an update, never half of one, and an entry only ever
names a package folder that is already complete. POSIX only (``fcntl``); the folder must be on a local
filesystem for ``flock`` to be reliable.
"""

from __future__ import annotations

import builtins
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath

from nnparts.index.base import IndexBackend, utc_timestamp
from nnparts.index.search import select_version, sort_entries
from nnparts.schemas.errors import IntegrityError, ManifestError, RegistryError
from nnparts.schemas.index_entry import IndexEntry
from nnparts.schemas.integrity import atomic_write_bytes, make_temp_dir, pretty_json, sweep_leftovers
from nnparts.schemas.manifest import ModuleManifest
from nnparts.schemas.package import MANIFEST_NAME, safe_relpath
from nnparts.schemas.signature import MAX_SIGNATURE_BYTES, SIGNATURE_NAME

INDEX_SCHEMA_VERSION = 1
_CHUNK = 1 << 20
_StatKey = tuple[int, int, int, int]


class DirectoryIndex(IndexBackend):
    """A registry in the folder ``root`` (created on the first publish; absent means empty).

    Args:
        root: the registry folder.
        clock: returns the ``published`` timestamp (ISO 8601 UTC); injectable for reproducible tests.
    """

    def __init__(self, root: str | os.PathLike[str], *, clock: Callable[[], str] = utc_timestamp) -> None:
        self._root = Path(root).expanduser().absolute()
        self._clock = clock
        self._cache: tuple[_StatKey, builtins.list[IndexEntry]] | None = None

    @property
    def root(self) -> Path:
        return self._root

    @property
    def name(self) -> str:
        return str(self._root)

    @property
    def url(self) -> str:
        return self._root.as_uri()

    @property
    def index_path(self) -> Path:
        return self._root / "index" / "entries.json"

    # -- reads ------------------------------------------------------------------------------------

    def entries(self) -> builtins.list[IndexEntry]:
        """Cost: one ``stat``; the file is parsed and validated again only when it changed."""
        try:
            st = self.index_path.stat()
        except FileNotFoundError:
            return []
        key = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, self._read_index())
        return builtins.list(self._cache[1])

    def _read_index(self) -> builtins.list[IndexEntry]:
        path = self.index_path
        try:
            doc = json.loads(path.read_bytes())
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            raise RegistryError(f"cannot read the index {path}: {exc}", hint=_REPAIR) from exc
        if (
            not isinstance(doc, dict)
            or doc.get("schema_version") != INDEX_SCHEMA_VERSION
            or not isinstance(doc.get("entries"), builtins.list)
        ):
            raise RegistryError(f"{path} is not an nnparts index (schema_version 1)", hint=_REPAIR)
        entries = []
        for i, d in enumerate(doc["entries"]):
            try:
                entries.append(IndexEntry.from_dict(d, source=f"{path}#/entries/{i}"))
            except ManifestError as exc:
                raise RegistryError(f"corrupt index entry: {exc}", hint=_REPAIR) from exc
        return entries

    def _package_dir(self, entry: IndexEntry) -> Path:
        rel = PurePosixPath(entry.location)
        if rel.is_absolute() or ".." in rel.parts or not rel.parts or rel.parts[0] != "packages":
            raise RegistryError(f"index entry {entry.ref} has an unsafe location {entry.location!r}")
        return self._root / rel

    def _read_manifest_bytes(self, entry: IndexEntry) -> bytes:
        path = self._package_dir(entry) / MANIFEST_NAME
        try:
            return path.read_bytes()
        except FileNotFoundError as exc:
            raise RegistryError(
                f"package {entry.ref} is missing from {self.name}: {path}", hint="publish it again"
            ) from exc

    def _download(self, entry: IndexEntry, manifest: ModuleManifest, staging: Path) -> None:
        src = self._package_dir(entry)
        for rel in (MANIFEST_NAME, *(f.path for f in manifest.files)):
            target = staging / safe_relpath(rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                shutil.copyfile(src / safe_relpath(rel), target)
            except FileNotFoundError as exc:
                missing = f"{entry.ref} in {self.name} lacks its file {rel}"
                raise IntegrityError(missing, path=str(src)) from exc
        signature = self._read_signature_bytes(entry)
        if signature is not None:
            (staging / SIGNATURE_NAME).write_bytes(signature)

    def _read_signature_bytes(self, entry: IndexEntry) -> bytes | None:
        return _read_signature(self._package_dir(entry))

    # -- writes -----------------------------------------------------------------------------------

    def _publish(self, package_dir: Path, manifest: ModuleManifest, manifest_sha256: str) -> IndexEntry:
        location = f"packages/{manifest.id}@{manifest.version}"
        entry = IndexEntry.from_manifest(
            manifest, manifest_sha256=manifest_sha256, published=self._clock(), location=location
        )
        packages = self._root / "packages"
        packages.mkdir(parents=True, exist_ok=True)
        sweep_leftovers(packages, (".staging-",))  # what a crashed publish left behind
        sweep_leftovers(self._root / "index", (".entries.json.",))
        staging = make_temp_dir(packages, ".staging-")
        try:
            _copy_verified(package_dir / MANIFEST_NAME, staging / MANIFEST_NAME, manifest_sha256)
            for f in manifest.files:
                rel = safe_relpath(f.path)
                _copy_verified(package_dir / rel, staging / rel, f.sha256, f.bytes)
            signature = _read_signature(package_dir)
            if signature is not None:
                (staging / SIGNATURE_NAME).write_bytes(signature)
            with self._locked():
                entries = self._read_index()
                for old in entries:
                    if (old.id, old.version) == (entry.id, entry.version):
                        if old.manifest_sha256 == manifest_sha256:
                            stored = self._package_dir(old)
                            if signature is not None and _read_signature(stored) is None:
                                atomic_write_bytes(stored / SIGNATURE_NAME, signature)  # signed later
                            return old
                        raise RegistryError(
                            f"{entry.ref} is already published in {self.name} with different content "
                            f"(manifest sha256 {old.manifest_sha256[:12]}..., "
                            f"yours {manifest_sha256[:12]}...)",
                            hint="published versions are immutable; bump the version in manifest.json",
                        )
                target = self._root / location
                if target.exists():  # left by a publish interrupted before its index update
                    shutil.rmtree(target)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.rename(staging, target)
                self._write_index([*entries, entry])
                return entry
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def yank(self, module_id: str, version: str | None = None, reason: str = "") -> IndexEntry:
        with self._locked():
            entries = self._read_index()
            target = select_version(entries, module_id, version)
            if target.yanked and (not reason or reason == target.yank_reason):
                return target
            updated = target.with_yank(reason or target.yank_reason)
            self._write_index([updated if e is target else e for e in entries])
            return updated

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        lock = self._root / "index" / ".lock"
        lock.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    def _write_index(self, entries: builtins.list[IndexEntry]) -> None:
        rows = [e.to_dict() for e in sort_entries(entries)]
        doc = {"schema_version": INDEX_SCHEMA_VERSION, "entries": rows}
        atomic_write_bytes(self.index_path, pretty_json(doc))
        self._cache = None


_REPAIR = "restore index/entries.json from a backup, or publish the packages into a fresh registry"


def _read_signature(package: Path) -> bytes | None:
    """``package/package.sig`` if present and at most ``MAX_SIGNATURE_BYTES``, else None."""
    path = package / SIGNATURE_NAME
    try:
        if path.stat().st_size > MAX_SIGNATURE_BYTES:
            raise IntegrityError(f"{path} is over {MAX_SIGNATURE_BYTES} bytes", path=str(path))
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _copy_verified(src: Path, dst: Path, sha256: str, size: int | None = None) -> None:
    """Copy ``src`` to ``dst``, hashing the bytes as they are copied (no second read of the source)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    copied = 0
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        while chunk := fin.read(_CHUNK):
            digest.update(chunk)
            fout.write(chunk)
            copied += len(chunk)
    if digest.hexdigest() != sha256 or (size is not None and copied != size):
        raise IntegrityError(f"{src} changed while it was being published", path=str(src))
