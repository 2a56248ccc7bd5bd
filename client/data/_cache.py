"""Decoded-array cache on disk, so slow sources (CIFAR-10's LZMA chunks, ~10 s) load in well under 1 s.

Layout under the cache directory (default ``$NNPARTS_HOME/data-cache``, ``NNPARTS_HOME`` defaulting
to ``~/.cache/nnparts``)::

    data-cache/
    └── <name>-<fingerprint[:16]>/
        ├── train_x.npy  train_y.npy  test_x.npy  test_y.npy   plain, uncompressed .npy
        └── meta.json                                           written last: marks the entry complete

The fingerprint covers the source's resolved path and each source file's name, size and mtime, so a
changed source misses the cache. Every file is written atomically (temp file + ``os.replace``); an
unreadable or partial entry is a miss and is rebuilt. Nothing is unpickled.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from nnparts.client.data._formats import RawData
from nnparts.schemas.integrity import atomic_write_bytes, canonical_json

_ARRAYS = ("train_x", "train_y", "test_x", "test_y")
CACHE_FORMAT = 1


def default_cache_dir() -> Path:
    """``$NNPARTS_HOME/data-cache`` (``NNPARTS_HOME`` defaults to ``~/.cache/nnparts``), read at call time."""
    from nnparts.client.home import nnparts_home

    return nnparts_home() / "data-cache"


def fingerprint(root: Path, files: Sequence[Path]) -> str:
    """sha256 over the resolved root and each file's relative name, size and mtime."""
    entries = []
    for f in sorted(files):
        st = f.stat()
        entries.append([str(f.relative_to(root)), st.st_size, st.st_mtime_ns])
    doc = {"format": CACHE_FORMAT, "root": str(root), "files": entries}
    return hashlib.sha256(canonical_json(doc)).hexdigest()


def read_cached(cache_dir: Path, name: str, key: str) -> RawData | None:
    """Return the cached arrays for ``key``, or None on a miss (absent, partial or unreadable)."""
    entry = cache_dir / f"{name}-{key[:16]}"
    try:
        meta = json.loads((entry / "meta.json").read_text("utf-8"))
        if meta.get("fingerprint") != key or meta.get("format") != CACHE_FORMAT:
            return None
        arrays = {a: np.load(entry / f"{a}.npy", allow_pickle=False) for a in _ARRAYS if a in meta["arrays"]}
    except (OSError, ValueError, KeyError):
        return None
    return RawData(
        name=str(meta["name"]),
        classes=tuple(str(c) for c in meta["classes"]),
        train_x=arrays["train_x"],
        train_y=arrays["train_y"],
        test_x=arrays.get("test_x"),
        test_y=arrays.get("test_y"),
    )


def write_cached(cache_dir: Path, key: str, raw: RawData) -> None:
    """Store ``raw`` under ``key``; failures to write (read-only disk, full disk) are ignored."""
    entry = cache_dir / f"{raw.name}-{key[:16]}"
    present: dict[str, npt.NDArray[np.generic]] = {"train_x": raw.train_x, "train_y": raw.train_y}
    if raw.test_x is not None and raw.test_y is not None:
        present.update(test_x=raw.test_x, test_y=raw.test_y)
    try:
        entry.mkdir(parents=True, exist_ok=True)
        for array_name, arr in present.items():
            _atomic_save(entry / f"{array_name}.npy", arr)
        meta = {
            "format": CACHE_FORMAT,
            "fingerprint": key,
            "name": raw.name,
            "classes": list(raw.classes),
            "arrays": sorted(present),
        }
        atomic_write_bytes(entry / "meta.json", canonical_json(meta))
    except OSError:
        return


def _atomic_save(path: Path, arr: npt.NDArray[np.generic]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, np.ascontiguousarray(arr), allow_pickle=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
