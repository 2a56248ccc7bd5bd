"""Offline bundles: every package a lock pins, with its signature, in one tar file.

Layout of a bundle (an uncompressed POSIX tar; deterministic: lock order, mtime 0, owner 0)::

    nnparts-bundle.json               {"schema_version": 1, "packages": [{ref, manifest_sha256, registry,
                                       registry_url, files: [path...], signed}]}; always the first member
    nnparts.lock                      the lock the bundle was exported from, byte for byte
    packages/<manifest sha256>/
    ├── manifest.json
    ├── <every file the manifest lists>
    └── package.sig                   when the package is signed

Export reads the verified install cache and writes through a temporary file and ``os.replace``.
Import never calls ``extractall``: it accepts only regular files at the names above (no links, no
absolute paths, no ``..``), bounds the member count and every size, writes into a staging folder of
the cache, checks each package (every sha256, and its manifest's sha256 against its folder name),
passes each through the trust gate, and moves them into the cache only when all passed.
"""

from __future__ import annotations

import io
import json
import os
import re
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from nnparts.client.resolve import installed_root, read_lockfile
from nnparts.client.resolve.lockfile import LockedModule, Lockfile
from nnparts.client.resolve.staging import PackageGate, StagedInstall, intact
from nnparts.client.trust import _modelsign
from nnparts.schemas.errors import FileMissing, IntegrityError, ManifestError, UsageError
from nnparts.schemas.integrity import atomic_write_bytes, atomic_writer, pretty_json
from nnparts.schemas.package import MANIFEST_NAME, MAX_MANIFEST_BYTES, read_manifest, safe_relpath
from nnparts.schemas.signature import MAX_SIGNATURE_BYTES, SIGNATURE_NAME

INDEX_NAME = "nnparts-bundle.json"
LOCK_NAME = "nnparts.lock"
BUNDLE_SCHEMA_VERSION = 1
MAX_INDEX_BYTES = 16 * 1024 * 1024
MAX_MEMBERS = 100_000
MAX_FILE_BYTES = 16 * 1024**3
MAX_TOTAL_BYTES = 256 * 1024**3
_MEMBER = re.compile(r"^packages/([0-9a-f]{64})/(.+)$")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class BundleReport:
    packages: int
    signed: int
    bytes: int
    lock: Lockfile


def _locked(lock: Lockfile) -> list[LockedModule]:
    """Every package a lock pins (modules, then trunks when the lock has them), once each."""
    seen: dict[str, LockedModule] = {}
    for m in (*lock.modules, *getattr(lock, "trunks", ())):
        seen.setdefault(m.manifest_sha256, m)
    return list(seen.values())


def export_bundle(
    lock_path: str | os.PathLike[str], out: str | os.PathLike[str], *, root: Path | None = None
) -> BundleReport:
    """Write every package ``lock_path`` pins, from the install cache, into the tar file ``out``.

    Raises:
        FileMissing, ManifestError: the lock is absent or malformed.
        IntegrityError: a pinned package is not installed intact (install it first).
    """
    lock_file = Path(lock_path)
    lock = read_lockfile(lock_file)
    cache = root or installed_root()
    rows: list[dict[str, Any]] = []
    members: list[tuple[str, Path]] = []
    for m in _locked(lock):
        folder = cache / m.manifest_sha256
        ref = f"{m.id}@{m.version}"
        if not intact(folder, m.manifest_sha256):
            raise IntegrityError(
                f"{ref} is not installed intact in {cache}",
                path=str(folder),
                hint=f"run `nnparts install --frozen --lock {lock_file}` first",
            )
        files = [f.path for f in read_manifest(folder).files]
        signed = (folder / SIGNATURE_NAME).is_file()
        for rel in (MANIFEST_NAME, *files, *([SIGNATURE_NAME] if signed else [])):
            members.append((f"packages/{m.manifest_sha256}/{rel}", folder / safe_relpath(rel)))
        rows.append(
            {
                "ref": ref,
                "manifest_sha256": m.manifest_sha256,
                "registry": m.registry,
                "registry_url": _registry_url(lock, m.registry),
                "files": files,
                "signed": signed,
            }
        )
    index = pretty_json({"schema_version": BUNDLE_SCHEMA_VERSION, "packages": rows})
    total = 0
    with atomic_writer(out) as fh, tarfile.open(fileobj=fh, mode="w", format=tarfile.PAX_FORMAT) as tar:
        _add_bytes(tar, INDEX_NAME, index)
        _add_bytes(tar, LOCK_NAME, lock_file.read_bytes())
        for name, path in members:
            size = path.stat().st_size
            total += size
            with open(path, "rb") as src:
                tar.addfile(_info(name, size), src)
    return BundleReport(len(rows), sum(1 for r in rows if r["signed"]), total, lock)


def import_bundle(
    bundle: str | os.PathLike[str],
    *,
    root: Path | None = None,
    gate: PackageGate | None = None,
    lock_out: str | os.PathLike[str] | None = None,
) -> BundleReport:
    """Put every package of ``bundle`` into the install cache, all or none.

    Each package is hash-checked; with ``gate`` (``--trust``) each must also pass the trust policy,
    and a signer the bundled lock recorded is verified in any case. ``lock_out`` receives the bundled
    lock.

    Raises:
        FileMissing: no such file.
        UsageError: not an nnparts bundle, an unsafe or unexpected member, or a size over the bounds.
        IntegrityError: a package is corrupt.
        TrustError: a package fails the trust policy.
    """
    path = Path(bundle)
    if not path.is_file():
        raise FileMissing(str(path), hint="pass a file written by `nnparts bundle export`")
    try:
        tar = tarfile.open(path, mode="r:")  # noqa: SIM115  (entered by the with below)
    except (tarfile.TarError, OSError) as exc:
        raise UsageError(
            f"{path} is not an uncompressed tar file ({_modelsign.describe(exc)})",
            hint="pass a file written by `nnparts bundle export`",
        ) from exc
    with tar, StagedInstall(root or installed_root(), gate) as staged:
        stage = staged.staging_dir() / "bundle"
        rows, lock_bytes, total = _extract(tar, path, stage)
        atomic_write_bytes(stage / LOCK_NAME, lock_bytes)
        lock = read_lockfile(stage / LOCK_NAME)
        pinned = {m.manifest_sha256: m for m in _locked(lock)}
        for row in rows:
            sha = row["manifest_sha256"]
            m = pinned.get(sha)
            staged.adopt(
                row["ref"],
                sha,
                stage / sha,
                registry=row["registry"],
                registry_url=row["registry_url"],
                pinned=m.signer if m is not None else None,
            )
    if lock_out is not None:
        atomic_write_bytes(lock_out, lock_bytes)
    return BundleReport(len(rows), sum(1 for r in rows if r["signed"]), total, lock)


def _extract(tar: tarfile.TarFile, path: Path, stage: Path) -> tuple[list[dict[str, Any]], bytes, int]:
    """Write the bundle's packages under ``stage/<sha>/``; return the index rows, the lock, the bytes."""
    members = _members(tar, path)
    first = next(members, None)
    if first is None or first.name != INDEX_NAME:
        raise UsageError(f"{path} is not an nnparts bundle (its first member is not {INDEX_NAME})")
    rows = _index(_read(tar, first, MAX_INDEX_BYTES, path), path)
    expected = {
        f"packages/{r['manifest_sha256']}/{rel}": (MAX_SIGNATURE_BYTES if rel == SIGNATURE_NAME else None)
        for r in rows
        for rel in (MANIFEST_NAME, *r["files"], *([SIGNATURE_NAME] if r["signed"] else []))
    }
    lock_bytes: bytes | None = None
    total = 0
    for member in members:
        if member.name == LOCK_NAME and lock_bytes is None:
            lock_bytes = _read(tar, member, MAX_MANIFEST_BYTES, path)
            continue
        if member.name not in expected:
            raise UsageError(f"{path}: unexpected member {member.name!r}", hint="the bundle was altered")
        bound = expected.pop(member.name) or (
            MAX_MANIFEST_BYTES if member.name.endswith("/" + MANIFEST_NAME) else MAX_FILE_BYTES
        )
        total += member.size
        if member.size > bound or total > MAX_TOTAL_BYTES:
            raise UsageError(f"{path}: member {member.name!r} of {member.size} bytes is over the bounds")
        match = _MEMBER.match(member.name)
        assert match is not None  # every expected name has this shape
        target = stage / match[1] / safe_relpath(match[2])
        target.parent.mkdir(parents=True, exist_ok=True)
        source = tar.extractfile(member)
        if source is None:
            raise UsageError(f"{path}: member {member.name!r} has no data")
        with source, open(target, "wb") as out:
            _copy(source, out, member.size)
    if lock_bytes is None:
        raise UsageError(f"{path} has no {LOCK_NAME}", hint="export it again with `nnparts bundle export`")
    if expected:
        raise IntegrityError(
            f"{path} lacks {len(expected)} files, e.g. {sorted(expected)[0]}", path=str(path)
        )
    return rows, lock_bytes, total


def _members(tar: tarfile.TarFile, path: Path) -> Iterator[tarfile.TarInfo]:
    """The members one by one, refusing anything but a regular file at a safe relative name."""
    for count, member in enumerate(tar, 1):
        if count > MAX_MEMBERS:
            raise UsageError(f"{path} has more than {MAX_MEMBERS} members")
        name = member.name
        if not member.isreg():
            raise UsageError(f"{path}: member {name!r} is not a regular file (links are refused)")
        try:
            safe_relpath(name)
        except ManifestError:
            raise UsageError(
                f"{path}: member {name!r} has an unsafe path", hint="the bundle was altered"
            ) from None
        if name not in (INDEX_NAME, LOCK_NAME) and not _MEMBER.match(name):
            raise UsageError(f"{path}: unexpected member {name!r}", hint="the bundle was altered")
        yield member


def _index(raw: bytes, path: Path) -> list[dict[str, Any]]:
    """The index's package rows, each checked for shape (the content is checked by the hashes)."""
    try:
        doc = json.loads(raw)
        rows = doc["packages"]
        if doc.get("schema_version") != BUNDLE_SCHEMA_VERSION or not isinstance(rows, list):
            raise ValueError("wrong schema_version or packages")
        for r in rows:
            if not (
                isinstance(r, dict)
                and isinstance(r.get("ref"), str)
                and isinstance(r.get("registry"), str)
                and isinstance(r.get("registry_url"), str)
                and isinstance(r.get("signed"), bool)
                and re.fullmatch(r"[0-9a-f]{64}", str(r.get("manifest_sha256")))
                and isinstance(r.get("files"), list)
                and all(isinstance(f, str) for f in r["files"])
            ):
                raise ValueError(f"malformed package row {str(r)[:80]}")
            for f in r["files"]:
                safe_relpath(f)
    except (ValueError, KeyError, TypeError, ManifestError) as exc:
        raise UsageError(f"{path}: {INDEX_NAME} is not a bundle index ({exc})") from exc
    if len({r["manifest_sha256"] for r in rows}) != len(rows):
        raise UsageError(f"{path}: {INDEX_NAME} lists a package twice")
    return rows


def _read(tar: tarfile.TarFile, member: tarfile.TarInfo, bound: int, path: Path) -> bytes:
    if member.size > bound:
        raise UsageError(f"{path}: member {member.name!r} of {member.size} bytes is over {bound}")
    source = tar.extractfile(member)
    if source is None:
        raise UsageError(f"{path}: member {member.name!r} has no data")
    with source:
        data = source.read(member.size + 1)
    if len(data) != member.size:
        raise UsageError(f"{path}: member {member.name!r} is truncated")
    return data


def _copy(source: IO[bytes], out: IO[bytes], size: int) -> None:
    left = size
    while left > 0:
        chunk = source.read(min(_CHUNK, left))
        if not chunk:
            raise UsageError("a bundle member is truncated", hint="copy the bundle again")
        out.write(chunk)
        left -= len(chunk)


def _registry_url(lock: Lockfile, name: str) -> str:
    return next((url for n, url in lock.registries if n == name), name)


def _info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o644, 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    tar.addfile(_info(name, len(data)), io.BytesIO(data))
