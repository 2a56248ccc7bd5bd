"""Install: resolve class names across registries, fetch verified packages, write the lockfile.

Installed packages live in a content-addressed cache, ``$NNPARTS_HOME/installed/<manifest sha256>/``,
so the same module installed by two projects is stored once, and a frozen install that finds every
pinned package there (verified) needs no network at all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

from nnparts.client.home import installed_root as installed_root
from nnparts.client.resolve.lockfile import LockedModule, Lockfile, read_lockfile, write_lockfile
from nnparts.client.resolve.policy import Constraints, Plan, Source, explain, resolve
from nnparts.client.resolve.staging import PackageGate, StagedInstall
from nnparts.index.base import IndexBackend
from nnparts.schemas.errors import IntegrityError, UnknownClass
from nnparts.schemas.index_entry import IndexEntry
from nnparts.schemas.manifest import ModuleManifest
from nnparts.schemas.package import read_manifest
from nnparts.schemas.signature import Signer


def installed_path(manifest_sha: str, root: Path | None = None) -> Path:
    return (root or installed_root()) / manifest_sha


@dataclass(frozen=True)
class InstallResult:
    """What an install did.

    ``lock`` is what it pinned (written to ``lock_path`` when one was given); ``paths`` maps every
    installed package, modules and their trunks, by ``id@version`` to its folder in the cache;
    ``plan`` is the resolver's choice (``None`` for a frozen install, which chooses nothing);
    ``fetched`` counts the packages that had to be downloaded (the rest were verified in the cache).
    Warnings are :class:`~nnparts.schemas.errors.NnpartsWarning` s, raised as they happen.
    """

    lock: Lockfile
    paths: Mapping[str, Path]
    plan: Plan | None
    fetched: int
    lock_path: Path | None = None

    @property
    def frozen(self) -> bool:
        """Whether this reinstalled a lock (nothing resolved)."""
        return self.plan is None

    @property
    def signed(self) -> int:
        """Modules whose signature was verified against a trusted key."""
        return sum(1 for m in self.lock.modules if m.signer is not None)

    def module_paths(self) -> list[Path]:
        """The installed folder of each locked module, in the lock's order (trunks left out)."""
        return [self.paths[f"{m.id}@{m.version}"] for m in self.lock.modules]

    def explain(self) -> list[str]:
        """Why each module was chosen over its rivals, one line each (none for a frozen install)."""
        return explain(self.plan) if self.plan is not None else []


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


def install(
    requested: Sequence[str],
    registries: Sequence[IndexBackend],
    *,
    constraints: Constraints | None = None,
    lock_path: str | Path | None = None,
    root: Path | None = None,
    gate: PackageGate | None = None,
) -> InstallResult:
    """Resolve ``requested`` class names, fetch each chosen module (verified), write the lock.

    Every chosen package, fetched or cached, passes ``gate`` (the trust policy) before any is moved
    into the cache: one refusal installs nothing.
    """
    plan = resolve(requested, _sources(requested, registries), constraints)
    by_name = {r.name: r for r in registries}
    paths: dict[str, Path] = {}
    locked: list[LockedModule] = []
    trunks: dict[str, LockedModule] = {}  # manifest sha256 -> pin: each trunk installed once
    with StagedInstall(root or installed_root(), gate) as staged:  # all or nothing
        for pick in plan.modules:
            e = pick.entry
            backend = by_name[pick.registry]
            source = partial(_given, backend, e)
            dest = staged.place(
                e.ref, e.manifest_sha256, registry=pick.registry, registry_url=backend.url, source=source
            )
            manifest = read_manifest(dest)
            need = manifest.trunk
            if need is not None and need.manifest_sha256 not in trunks:
                _, entry = _pinned(backend, pick.registry, need.id, need.version, need.manifest_sha256)()
                trunk_dest = staged.place(
                    need.ref,
                    need.manifest_sha256,
                    registry=pick.registry,
                    registry_url=backend.url,
                    source=partial(_given, backend, entry),
                )
                paths[need.ref] = installed_path(need.manifest_sha256, root)
                trunks[need.manifest_sha256] = _lock_entry(
                    backend,
                    entry,
                    read_manifest(trunk_dest),
                    (),
                    pick.registry,
                    staged.signers.get(need.manifest_sha256),
                )
            answers = tuple(
                p.requested for p in plan.picks if (p.entry.id, p.entry.version) == (e.id, e.version)
            )
            locked.append(
                _lock_entry(
                    backend, e, manifest, answers, pick.registry, staged.signers.get(e.manifest_sha256)
                )
            )
            paths[e.ref] = installed_path(e.manifest_sha256, root)
    fetched = staged.fetched
    used = {m.registry for m in locked}
    lock = Lockfile(
        requested=tuple(requested),
        registries=tuple((r.name, r.url) for r in registries if r.name in used),
        modules=tuple(locked),
        constraints={k: v for k, v in asdict(plan.constraints).items() if v is not None},
        trunks=tuple(trunks.values()),
    )
    if lock_path is not None:
        write_lockfile(lock_path, lock)
    return InstallResult(lock, paths, plan, fetched, None if lock_path is None else Path(lock_path))


def install_frozen(
    lock_path: str | Path,
    *,
    registries: Sequence[IndexBackend] = (),
    root: Path | None = None,
    gate: PackageGate | None = None,
) -> InstallResult:
    """Reinstall exactly what the lock pins. Packages already in the cache are verified and reused
    without any network access; missing ones are fetched from their pinned registry (``registries``
    maps names to open backends) and must match the pinned manifest sha256. Every package (modules
    and trunks) passes ``gate`` with the signer the lock recorded before any is moved into the cache."""
    lock = read_lockfile(lock_path)
    by_name = {r.name: r for r in registries}
    paths: dict[str, Path] = {}
    with StagedInstall(root or installed_root(), gate) as staged:  # all or nothing
        for m in (*lock.modules, *lock.trunks):
            if m.registry not in by_name and not staged.is_cached(m.manifest_sha256):
                raise IntegrityError(
                    f"{m.id}@{m.version} is not installed and its registry {m.registry!r} is not open",
                    hint=f"run without --frozen or pass --registry {lock.registry_url(m.registry)}",
                )
            url = next((u for n, u in lock.registries if n == m.registry), m.registry)
            source = _pinned_source(m, by_name[m.registry]) if m.registry in by_name else None
            ref = f"{m.id}@{m.version}"
            staged.place(
                ref, m.manifest_sha256, registry=m.registry, registry_url=url, source=source, pinned=m.signer
            )
            paths[ref] = installed_path(m.manifest_sha256, root)
    return InstallResult(lock, paths, None, staged.fetched, Path(lock_path))


def _given(backend: IndexBackend, entry: IndexEntry) -> tuple[IndexBackend, IndexEntry]:
    return backend, entry


def _lock_entry(
    backend: IndexBackend,
    e: IndexEntry,
    manifest: ModuleManifest,
    answers: tuple[str, ...],
    registry: str,
    signer: Signer | None,
) -> LockedModule:
    repo, path = backend.lock_location(e)  # parsed from the location format the backend writes
    return LockedModule(
        classes=manifest.class_names,
        requested_as=answers,
        id=e.id,
        version=e.version,
        registry=registry,
        repo=repo,
        revision=f"sha256:{e.manifest_sha256}",
        path=path,
        manifest_sha256=e.manifest_sha256,
        files=manifest.files,
        signer=signer,
    )


def _pinned(
    backend: IndexBackend, registry: str, module_id: str, version: str, sha: str
) -> Callable[[], tuple[IndexBackend, IndexEntry]]:
    """Where to fetch ``module_id@version`` from, refusing an entry whose manifest is not ``sha``."""

    def source() -> tuple[IndexBackend, IndexEntry]:
        entry = backend.get(module_id, version)
        if entry.manifest_sha256 != sha:
            raise IntegrityError(
                f"{module_id}@{version} in {registry} has manifest {entry.manifest_sha256[:12]}..., "
                f"the pin is {sha[:12]}...",
                hint="the registry changed under the pin; re-run install without --frozen, or republish",
            )
        return backend, entry

    return source


def _pinned_source(m: LockedModule, backend: IndexBackend) -> Callable[[], tuple[IndexBackend, IndexEntry]]:
    """Where to fetch ``m`` from: its pinned registry, refusing an entry whose manifest changed."""
    return _pinned(backend, m.registry, m.id, m.version, m.manifest_sha256)
