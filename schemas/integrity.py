"""Byte-level integrity: canonical JSON, sha256 and size checks, a torch-free safetensors header reader.

These are the primitives behind deterministic writes (one canonical JSON form everywhere) and the rule
that every file is verified against its manifest before anything reads its content.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from nnparts.schemas.errors import IntegrityError

MAX_SAFETENSORS_HEADER = 64 * 1024 * 1024
_CHUNK = 1 << 20


def canonical_json(obj: Any) -> bytes:
    """Sorted keys, compact separators, UTF-8: the one byte form nnparts hashes and writes."""
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def pretty_json(obj: Any) -> bytes:
    """Deterministic, human-readable JSON (sorted keys, 2-space indent, trailing newline)."""
    text = json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False)
    return (text + "\n").encode()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify_file(path: str | os.PathLike[str], *, sha256: str, size: int | None = None) -> None:
    """Raise :class:`IntegrityError` unless ``path`` has exactly this sha256 (and size)."""
    p = Path(path)
    if not p.is_file():
        raise IntegrityError(f"file listed in the manifest is missing: {p}", path=str(p))
    actual_size = p.stat().st_size
    if size is not None and actual_size != size:
        raise IntegrityError(
            f"size mismatch for {p}: manifest says {size} bytes, file has {actual_size}",
            path=str(p),
        )
    actual = sha256_file(p)
    if actual != sha256:
        raise IntegrityError(
            f"sha256 mismatch for {p}: manifest says {sha256[:12]}..., file has {actual[:12]}...",
            path=str(p),
        )


def read_safetensors_header(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse the JSON header of a safetensors file without loading tensors (and without torch)."""
    with open(path, "rb") as fh:
        raw = fh.read(8)
        if len(raw) != 8:
            raise IntegrityError(f"not a safetensors file (too short): {path}", path=str(path))
        (length,) = struct.unpack("<Q", raw)
        if length > MAX_SAFETENSORS_HEADER:
            raise IntegrityError(
                f"safetensors header of {length} bytes is over the limit: {path}", path=str(path)
            )
        try:
            header: dict[str, Any] = json.loads(fh.read(length))
        except ValueError as exc:
            raise IntegrityError(f"corrupt safetensors header in {path}: {exc}", path=str(path)) from exc
    return header


def safetensors_data_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 of the tensor bytes alone (after the header): stable if only metadata changes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        (length,) = struct.unpack("<Q", fh.read(8))
        fh.seek(8 + length)
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def shareable(path: str | os.PathLike[str], *, folder: bool) -> None:
    """Give a temporary file (0600) or folder (0700) the mode the user's umask gives new ones, so a
    team can share a registry folder (``tempfile`` creates them private)."""
    os.chmod(path, (0o777 if folder else 0o666) & ~_umask())


def make_temp_dir(parent: str | os.PathLike[str], prefix: str, suffix: str = "") -> Path:
    """``tempfile.mkdtemp`` beside its destination, named with this process id (so a crashed run's
    leftover is recognisable, see :func:`sweep_leftovers`) and with the umask's mode."""
    path = Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", suffix=suffix, dir=parent))
    shareable(path, folder=True)
    return path


def sweep_leftovers(
    folder: str | os.PathLike[str], prefixes: tuple[str, ...], *, max_age: float = 3600
) -> int:
    """Remove what a crashed writer left in ``folder``: entries named ``<prefix><pid>-...`` whose
    process is gone (on this host) or that are older than ``max_age`` seconds. Returns how many."""
    import shutil
    import time

    root, removed = Path(folder), 0
    if not root.is_dir():
        return 0
    for entry in root.iterdir():
        prefix = next((p for p in prefixes if entry.name.startswith(p)), None)
        if prefix is None:
            continue
        pid_text = entry.name[len(prefix) :].split("-", 1)[0].split(".", 1)[0]
        try:
            age = time.time() - entry.lstat().st_mtime
        except OSError:
            continue
        if not (age > max_age or (pid_text.isdigit() and not _alive(int(pid_text)))):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed += 1
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """A per-process temporary file beside ``path``; on a clean exit fsync and ``os.replace`` it to
    ``path``, on an error remove it (``path`` is then untouched)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}-", suffix=".tmp", dir=target.parent)
    try:
        shareable(tmp, folder=False)
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to a per-process temporary file beside ``path``, fsync, then ``os.replace``."""
    with atomic_writer(path) as fh:
        fh.write(data)
