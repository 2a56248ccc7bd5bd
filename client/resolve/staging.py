"""All-or-nothing installs: packages wait in a staging folder until every one passed the gate.

An install places several packages into the content-addressed cache. A :class:`StagedInstall` fetches
each missing package into a private folder under the cache root and shows each package, fetched or
already cached, to a :class:`PackageGate` (the trust policy of ``nnparts.client.trust``) before
anything moves. Only when the whole install succeeded are the fetched folders renamed into place::

    $NNPARTS_HOME/installed/
    ├── <manifest sha256>/           installed packages (``package.sig`` beside them when signed)
    └── .stage-XXXX/<sha256>/        one install in progress; removed at the end, whatever happens

So a refusal, a corrupt download or a network error leaves no new cache entry, not even a
half-written one. The gate sees plain values; this module knows nothing of signatures or keys.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Protocol

from nnparts.index.base import IndexBackend
from nnparts.schemas.errors import IntegrityError, NnpartsError
from nnparts.schemas.index_entry import IndexEntry
from nnparts.schemas.integrity import atomic_write_bytes, make_temp_dir
from nnparts.schemas.package import manifest_sha256, verify_package
from nnparts.schemas.signature import SIGNATURE_NAME, Signer

Source = Callable[[], tuple[IndexBackend, IndexEntry]]


@dataclass(frozen=True)
class Candidate:
    """A package about to be installed, as a gate sees it (its files already hash-checked)."""

    ref: str  # id@version
    module_id: str
    registry: str  # the registry's name in the lock
    registry_url: str
    manifest_sha256: str
    folder: Path
    signature: Path | None  # the detached signature, wherever it was found; None: unsigned
    pinned: Signer | None = None  # the signer a lock recorded (frozen installs)


class PackageGate(Protocol):
    """Decides whether a package may be installed (the trust policy)."""

    def covers(self, candidate: Candidate) -> bool:
        """Whether a signature matters for ``candidate`` (its ``signature`` may still be None)."""
        ...

    def __call__(self, candidate: Candidate) -> Signer | None:
        """The verified signer (recorded in the lock), or None when no signature is asked for.

        Raises ``TrustError`` to refuse; the whole install is then abandoned.
        """
        ...


def intact(path: Path, sha: str) -> bool:
    """True when ``path`` is a package folder whose manifest has ``sha`` and whose files all verify."""
    if not path.is_dir():
        return False
    try:
        verify_package(path)
    except NnpartsError:
        return False
    return manifest_sha256(path) == sha


class StagedInstall:
    """A context manager that commits the packages it placed only if its block ends without error.

    Args:
        root: the cache root (``installed/``).
        gate: shown every placed package; None accepts all (hash checks only).
    """

    def __init__(self, root: Path, gate: PackageGate | None = None) -> None:
        self.root = root
        self.gate = gate
        self.fetched = 0
        self.signers: dict[str, Signer | None] = {}  # manifest sha256 -> verified signer
        self._staging: Path | None = None
        self._moves: dict[str, Path] = {}  # sha -> staged folder
        self._signatures: dict[str, bytes] = {}  # sha -> a signature to add to a cached package

    def __enter__(self) -> StagedInstall:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if kind is None:
                self._commit()
        finally:
            if self._staging is not None:
                shutil.rmtree(self._staging, ignore_errors=True)

    def is_cached(self, sha: str) -> bool:
        return sha in self._moves or intact(self.root / sha, sha)

    def place(
        self,
        ref: str,
        sha: str,
        *,
        registry: str,
        registry_url: str,
        source: Source | None,
        pinned: Signer | None = None,
    ) -> Path:
        """The folder of package ``sha`` for reading now (cached, or staged), after the gate passed it.

        ``source`` gives the backend and entry to fetch from; it is called only when the package
        is not cached, or, when the gate covers it, to find the signature of a cached package
        that lacks one.
        """
        if sha in self._moves:
            return self._moves[sha]
        module_id = ref.rsplit("@", 1)[0]
        folder = self.root / sha
        candidate = Candidate(ref, module_id, registry, registry_url, sha, folder, None, pinned)
        if intact(folder, sha):
            signature = self._cached_signature(candidate, source)
        else:
            if source is None:
                raise IntegrityError(f"{ref} is not installed and no registry is open for it")
            backend, entry = source()
            folder = backend.fetch(entry, self._stage() / sha)
            self.fetched += 1
            self._moves[sha] = folder
            signature = folder / SIGNATURE_NAME if (folder / SIGNATURE_NAME).is_file() else None
        if self.gate is not None:
            self.signers[sha] = self.gate(replace(candidate, folder=folder, signature=signature))
        return folder

    def adopt(
        self, ref: str, sha: str, folder: Path, *, registry: str, registry_url: str, pinned: Signer | None
    ) -> None:
        """Take a package already written under :meth:`staging_dir` (an offline bundle): check that it
        is intact and is ``sha``, show it to the gate, and move it into the cache at the commit.

        Raises:
            IntegrityError: the folder is not an intact package whose manifest has sha256 ``sha``.
        """
        if not intact(folder, sha):
            verify_package(folder)  # raises the precise error when a file is corrupt
            raise IntegrityError(f"{ref}: its manifest does not have sha256 {sha[:12]}...", path=str(folder))
        signature = folder / SIGNATURE_NAME if (folder / SIGNATURE_NAME).is_file() else None
        if self.gate is not None:
            candidate = Candidate(
                ref, ref.rsplit("@", 1)[0], registry, registry_url, sha, folder, signature, pinned
            )
            self.signers[sha] = self.gate(candidate)
        self._moves[sha] = folder

    def staging_dir(self) -> Path:
        """This install's private folder under the cache root (created on first use)."""
        return self._stage()

    def _cached_signature(self, candidate: Candidate, source: Source | None) -> Path | None:
        """``<folder>/package.sig``, else (when the gate covers the package) the registry's one,
        staged to be added to the cached package at the commit."""
        own = candidate.folder / SIGNATURE_NAME
        if own.is_file():
            return own
        if self.gate is None or source is None:
            return None
        if candidate.pinned is None and not self.gate.covers(candidate):
            return None  # no signature asked for: stay offline
        try:
            backend, entry = source()
            raw = backend.signature(entry)
        except NnpartsError:  # the registry is unreachable or changed: no signature to offer
            return None
        if raw is None:
            return None
        path = self._stage() / f"{candidate.manifest_sha256}.sig"
        path.write_bytes(raw)
        self._signatures[candidate.manifest_sha256] = raw
        return path

    def _stage(self) -> Path:
        if self._staging is None:
            self.root.mkdir(parents=True, exist_ok=True)
            self._staging = make_temp_dir(self.root, ".stage-")
        return self._staging

    def _commit(self) -> None:
        for sha, staged in self._moves.items():
            dest = self.root / sha
            if dest.exists():  # a corrupt leftover, or a concurrent install won the race
                if intact(dest, sha):
                    if (staged / SIGNATURE_NAME).is_file():
                        self._signatures.setdefault(sha, (staged / SIGNATURE_NAME).read_bytes())
                    continue
                shutil.rmtree(dest)
            os.rename(staged, dest)
        for sha, raw in self._signatures.items():
            if not (self.root / sha / SIGNATURE_NAME).exists():
                atomic_write_bytes(self.root / sha / SIGNATURE_NAME, raw)
