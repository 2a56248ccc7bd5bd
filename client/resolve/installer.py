"""Install: resolve class names across registries, fetch verified packages, write the lockfile.

Installed packages live in a content-addressed cache, ``$NNPARTS_HOME/installed/<manifest sha256>/``,
so the same module installed by two projects is stored once, and a frozen install that finds every
pinned package there (verified) needs no network at all.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from nnparts.client.resolve.lockfile import LockedModule, Lockfile, read_lockfile, write_lockfile
from nnparts.client.resolve.policy import Constraints, Plan, Source, resolve
from nnparts.index.base import IndexBackend
from nnparts.schemas.errors import IntegrityError, NnpartsError, UnknownClass
from nnparts.schemas.package import manifest_sha256, read_manifest, verify_package


def installed_root() -> Path:
    home = os.environ.get("NNPARTS_HOME") or str(Path.home() / ".cache" / "nnparts")
    return Path(home) / "installed"


def installed_path(manifest_sha: str, root: Path | None = None) -> Path:
    return (root or installed_root()) / manifest_sha


@dataclass(frozen=True)
class InstallResult:
    lock: Lockfile
    paths: dict[str, Path]  # module ref (id@version) -> installed package folder
    plan: Plan | None
    fetched: int  # packages that had to be downloaded


def _sources(requested: Sequence[str], registries: Sequence[IndexBackend]) -> list[Source]:
    sources = []
    for reg in registries:
        entries = {}
        for q in requested:
            try:
                for e in reg.search(q, include_yanked=True):
                    entries[(e.id, e.version)] = e
            except UnknownClass:
                continue
        sources.append(Source(reg.name, reg.url, tuple(entries[k] for k in sorted(entries))))
    return sources


def _verified(path: Path, sha: str) -> bool:
    if not path.is_dir():
        return False
    try:
        verify_package(path)
    except NnpartsError:
        return False
    return manifest_sha256(path) == sha


def install(
    requested: Sequence[str],
    registries: Sequence[IndexBackend],
    *,
    constraints: Constraints | None = None,
    lock_path: str | Path | None = None,
    root: Path | None = None,
) -> InstallResult:
    """Resolve ``requested`` class names, fetch each chosen module (verified), write the lock."""
    plan = resolve(requested, _sources(requested, registries), constraints)
    by_name = {r.name: r for r in registries}
    paths: dict[str, Path] = {}
    locked: list[LockedModule] = []
    fetched = 0
    for pick in plan.modules:
        e = pick.entry
        dest = installed_path(e.manifest_sha256, root)
        if not _verified(dest, e.manifest_sha256):
            by_name[pick.registry].fetch(e, dest)
            fetched += 1
        manifest = read_manifest(dest)
        answers = tuple(p.requested for p in plan.picks if (p.entry.id, p.entry.version) == (e.id, e.version))
        repo, _, path = e.location.partition(":") if ":" in e.location else ("", "", e.location)
        locked.append(
            LockedModule(
                classes=manifest.class_names,
                requested_as=answers,
                id=e.id,
                version=e.version,
                registry=pick.registry,
                repo=repo or e.origin,
                revision=f"sha256:{e.manifest_sha256}",
                path=path,
                manifest_sha256=e.manifest_sha256,
                files=manifest.files,
            )
        )
        paths[e.ref] = dest
    used = {m.registry for m in locked}
    lock = Lockfile(
        requested=tuple(requested),
        registries=tuple((r.name, r.url) for r in registries if r.name in used),
        modules=tuple(locked),
        constraints={k: v for k, v in asdict(plan.constraints).items() if v is not None},
    )
    if lock_path is not None:
        write_lockfile(lock_path, lock)
    return InstallResult(lock, paths, plan, fetched)


def install_frozen(
    lock_path: str | Path, *, registries: Sequence[IndexBackend] = (), root: Path | None = None
) -> InstallResult:
    """Reinstall exactly what the lock pins. Packages already in the cache are verified and reused
    without any network access; missing ones are fetched from their pinned registry (``registries``
    maps names to open backends) and must match the pinned manifest sha256."""
    lock = read_lockfile(lock_path)
    by_name = {r.name: r for r in registries}
    paths: dict[str, Path] = {}
    fetched = 0
    for m in lock.modules:
        dest = installed_path(m.manifest_sha256, root)
        if not _verified(dest, m.manifest_sha256):
            if m.registry not in by_name:
                raise IntegrityError(
                    f"{m.id}@{m.version} is not installed and its registry {m.registry!r} is not open",
                    hint=f"run without --frozen or pass --registry {lock.registry_url(m.registry)}",
                )
            backend = by_name[m.registry]
            entry = backend.get(m.id, m.version)
            if entry.manifest_sha256 != m.manifest_sha256:
                raise IntegrityError(
                    f"{m.id}@{m.version} in {m.registry} has manifest {entry.manifest_sha256[:12]}..., "
                    f"the lock pins {m.manifest_sha256[:12]}...",
                    hint="the registry changed under the lock; re-run install without --frozen",
                )
            backend.fetch(entry, dest)
            fetched += 1
        paths[f"{m.id}@{m.version}"] = dest
    return InstallResult(lock, paths, None, fetched)
