"""The registry contract: :class:`IndexBackend`, implemented by a local folder now and a Hub later.

A backend stores immutable module packages (``id@version``) and an index of :class:`IndexEntry`
summaries. Subclasses implement five hooks (``entries``, ``_publish``, ``yank``, ``_read_manifest_bytes``,
``_download``) plus ``name``/``url``; everything a caller uses is built here on top of them, so every
backend verifies packages, matches classes, picks versions and reports errors the same way.

Trust model: the registry is never trusted. ``publish`` verifies the package before sending it;
``manifest`` and ``fetch`` check what comes back against the manifest sha256 pinned in the entry and
every file against that manifest, before the caller sees anything.
"""

from __future__ import annotations

import abc
import builtins
import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

from nnparts.index import search as _search
from nnparts.schemas.errors import IntegrityError, ManifestError, RegistryError
from nnparts.schemas.index_entry import IndexEntry
from nnparts.schemas.integrity import make_temp_dir, sha256_bytes
from nnparts.schemas.manifest import ModuleManifest
from nnparts.schemas.package import MANIFEST_NAME, manifest_sha256, read_manifest, verify_package
from nnparts.schemas.signature import MAX_SIGNATURE_BYTES


def utc_timestamp() -> str:
    """Now as ISO 8601 UTC with second precision, e.g. ``2026-01-31T12:00:00Z``."""
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


class IndexBackend(abc.ABC):
    """A registry of module packages. Reads are cheap summaries; ``fetch`` moves the bytes.

    Costs below are for the reference implementation over :meth:`entries`; a backend with a sharded
    index (the Hub) may override ``search``/``get`` to read less, keeping the same results.
    """

    # -- identity ---------------------------------------------------------------------------------

    @property
    @abc.abstractmethod
    def name(self) -> str:
        """Short human name for messages (a path or a host)."""

    @property
    @abc.abstractmethod
    def url(self) -> str:
        """Stable identity recorded in lockfiles (``file:///...`` or ``https://...``)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    # -- hooks ------------------------------------------------------------------------------------

    @abc.abstractmethod
    def entries(self) -> builtins.list[IndexEntry]:
        """Every entry, yanked ones included, in any order. An empty or absent registry gives []."""

    @abc.abstractmethod
    def _publish(self, package_dir: Path, manifest: ModuleManifest, manifest_sha256: str) -> IndexEntry:
        """Store a verified package and add its entry atomically.

        Must refuse an existing ``id@version`` with different content (:class:`RegistryError`) and
        return the existing entry, changing nothing, when the manifest sha256 is the same.
        """

    @abc.abstractmethod
    def yank(self, module_id: str, version: str | None = None, reason: str = "") -> IndexEntry:
        """Mark ``module_id@version`` yanked (hidden from search and from ``get`` without a version).

        ``version=None`` yanks the latest non-yanked version. Yanking twice keeps the entry yanked and
        replaces the reason when a new one is given. Returns the updated entry.

        Raises:
            ModuleNotFound: no such module or version.
        """

    @abc.abstractmethod
    def _read_manifest_bytes(self, entry: IndexEntry) -> bytes:
        """The raw ``manifest.json`` bytes of ``entry``'s package (unverified)."""

    @abc.abstractmethod
    def _download(self, entry: IndexEntry, manifest: ModuleManifest, staging: Path) -> None:
        """Write ``entry``'s ``manifest.json`` and every file ``manifest`` lists into the empty ``staging``,
        plus its ``package.sig`` when one is stored.

        ``manifest`` was already checked against the entry's pin; the files are verified afterwards.
        """

    def _read_signature_bytes(self, entry: IndexEntry) -> bytes | None:
        """The raw ``package.sig`` stored beside ``entry``'s package, or None (unsigned; the default)."""
        return None

    # -- operations -------------------------------------------------------------------------------

    def publish(self, package_dir: str | os.PathLike[str]) -> IndexEntry:
        """Verify the package folder (schema, every sha256 and size), then publish it.

        Publishing the byte-identical package again is a no-op returning the stored entry.

        Raises:
            FileMissing, ManifestError, IntegrityError: the package is absent, malformed or corrupt.
            RegistryError: ``id@version`` exists with other content (versions are immutable).
        """
        folder = Path(package_dir)
        manifest = verify_package(folder, read_manifest(folder))
        return self._publish(folder, manifest, manifest_sha256(folder))

    def search(self, class_query: str, *, include_yanked: bool = False) -> builtins.list[IndexEntry]:
        """Entries providing ``class_query`` by name or alias, case-insensitive, sorted by id and version.

        An empty list means the class is known but only yanked versions provide it.

        Raises:
            UnknownClass: no entry, yanked or not, provides the class (lists the nearest names).
        """
        everything = self.entries()
        found = _search.match_class(everything, class_query, include_yanked=include_yanked)
        if not found:
            _search.require_class(class_query, everything)
        return found

    def get(self, module_id: str, version: str | None = None) -> IndexEntry:
        """``module_id@version``, or the latest non-yanked version when ``version`` is None.

        Raises:
            ModuleNotFound: no such id or version, or every version is yanked.
        """
        return _search.select_version(self.entries(), module_id, version)

    def list(self, *, include_yanked: bool = True) -> builtins.list[IndexEntry]:
        """All entries sorted by id and version."""
        return _search.sort_entries(e for e in self.entries() if include_yanked or not e.yanked)

    def known_classes(self) -> builtins.list[str]:
        """Sorted canonical class names of every entry, yanked ones included."""
        return _search.known_classes(self.entries())

    def require_class(self, class_query: str) -> None:
        """Raise :class:`UnknownClass` with the nearest names unless some entry provides the class."""
        _search.require_class(class_query, self.entries())

    def manifest(self, entry: IndexEntry) -> ModuleManifest:
        """The parsed manifest of ``entry``, checked against ``entry.manifest_sha256``. Cost: one file.

        Raises:
            IntegrityError: the stored manifest is not the one the entry pins.
            ManifestError: it does not parse or validate.
        """
        raw = self._read_manifest_bytes(entry)
        actual = sha256_bytes(raw)
        if actual != entry.manifest_sha256:
            raise IntegrityError(
                f"manifest of {entry.ref} in {self.name} has sha256 {actual[:12]}..., "
                f"the index pins {entry.manifest_sha256[:12]}...",
                path=entry.location,
            )
        try:
            doc = json.loads(raw)
        except ValueError as exc:
            raise ManifestError(f"not valid JSON ({exc})", source=f"{entry.ref}/{MANIFEST_NAME}") from exc
        return ModuleManifest.from_dict(doc, source=f"{entry.ref}/{MANIFEST_NAME}")

    def signature(self, entry: IndexEntry) -> bytes | None:
        """The detached signature published beside ``entry`` (unverified), or None when unsigned.

        The registry is not trusted for it either: ``nnparts.client.trust`` verifies it against the
        package and the trusted keys. Oversized signatures read as None. Cost: one small file.
        """
        raw = self._read_signature_bytes(entry)
        return raw if raw and len(raw) <= MAX_SIGNATURE_BYTES else None

    def lock_location(self, entry: IndexEntry) -> tuple[str, str]:
        """``(repo, path)`` a lockfile records for ``entry``, parsed from the ``location`` this
        backend wrote. A folder registry has no repositories: ``("", "packages/<id>@<version>")``."""
        return "", entry.location

    def fetch(self, entry: IndexEntry, dest_dir: str | os.PathLike[str]) -> Path:
        """Copy or download ``entry``'s package so that ``dest_dir`` becomes the package folder.

        Files land in a temporary sibling folder, are verified (manifest sha256 against the entry,
        id and version, every file's sha256 and size) and only then renamed to ``dest_dir``, so a
        failed fetch leaves nothing behind. If ``dest_dir`` already holds this exact, intact package
        it is returned as is. Cost: the package's bytes, transferred once and hashed once.

        Raises:
            IntegrityError: anything differs from the pinned manifest.
            RegistryError: ``dest_dir`` exists with other content.
        """
        dest = Path(dest_dir)
        if dest.exists():
            return _existing_package(dest, entry)
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = make_temp_dir(dest.parent, f".{dest.name}.", ".fetch")
        try:
            self._download(entry, self.manifest(entry), staging)
            verify_fetched(staging, entry)
            try:
                os.rename(staging, dest)
            except OSError:
                if dest.exists():  # a concurrent fetch won the race
                    return _existing_package(dest, entry)
                raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return dest


def verify_fetched(folder: Path, entry: IndexEntry) -> ModuleManifest:
    """Check a fetched package folder against ``entry``: manifest pin, identity, every file.

    Raises:
        IntegrityError: the manifest sha256, id or version differs from the entry, or a file is corrupt.
    """
    actual = manifest_sha256(folder)
    if actual != entry.manifest_sha256:
        raise IntegrityError(
            f"fetched manifest of {entry.ref} has sha256 {actual[:12]}..., "
            f"the index pins {entry.manifest_sha256[:12]}...",
            path=str(folder / MANIFEST_NAME),
        )
    manifest = read_manifest(folder)
    if (manifest.id, manifest.version) != (entry.id, entry.version):
        raise IntegrityError(
            f"fetched package is {manifest.id}@{manifest.version}, expected {entry.ref}", path=str(folder)
        )
    return verify_package(folder, manifest)


def _existing_package(dest: Path, entry: IndexEntry) -> Path:
    try:
        verify_fetched(dest, entry)
    except (IntegrityError, ManifestError, OSError) as exc:
        raise RegistryError(
            f"{dest} already exists and does not hold an intact {entry.ref} ({exc})",
            hint="remove it or fetch into another folder",
        ) from exc
    return dest
