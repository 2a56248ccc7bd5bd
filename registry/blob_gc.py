"""Garbage collection of blobs that no commit references.

Blobs are written before the commit that uses them, so a commit that fails (bad operation, stale
parent, full disk, a client that hangs up) or a process killed mid-commit leaves blobs behind, and a
deleted repository leaves its trees and blobs. :func:`collect` removes a candidate blob when all of:

- no request of this process holds it (:class:`Holds`: a commit in progress stored it);
- no tree row references it (trees no commit uses are dropped first);
- with ``keep_granted``, no repository holds an LFS grant for it (an upload awaiting its commit);
- its file is at least ``min_age_s`` old (other processes sharing the root may be mid-commit).

The blob file goes first, then its ``blobs`` and ``repo_blobs`` rows, under the write lock, so a
concurrent commit either sees the blob registered or finds it missing (and is refused). Cost: one
indexed lookup per candidate; a full sweep stats every blob file.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from nnparts.registry.blobstore import BlobStore
from nnparts.registry.sqlite_pool import SqlitePool

BATCH = 256


@dataclass(frozen=True)
class GcReport:
    """What one collection removed."""

    tree_rows: int
    blobs: int
    bytes: int


class Holds:
    """Blobs stored by requests still in progress in this process (a counted set)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count: Counter[str] = Counter()

    def hold(self, sha256: str) -> None:
        with self._lock:
            self._count[sha256] += 1

    def release(self, sha256: str) -> None:
        with self._lock:
            self._count[sha256] -= 1
            if self._count[sha256] <= 0:
                del self._count[sha256]

    def held(self, sha256: str) -> bool:
        with self._lock:
            return self._count[sha256] > 0


def all_blobs(store: BlobStore) -> Iterator[str]:
    """The sha256 of every blob file on disk."""
    for top in sorted(store.blob_dir.iterdir()):
        for mid in sorted(top.iterdir()) if top.is_dir() else ():
            yield from (f.name for f in mid.iterdir() if len(f.name) == 64)


def collect(
    db: SqlitePool,
    store: BlobStore,
    holds: Holds,
    candidates: Iterable[str],
    *,
    min_age_s: float,
    keep_granted: bool,
    trees: Iterable[str] | None = (),
) -> GcReport:
    """Remove the unreferenced ``candidates`` (see the module docstring), after dropping the
    ``trees`` that no commit uses (``None`` = every such tree, a full scan)."""
    dropped = _drop_trees(db, trees)
    removed = freed = 0
    cutoff = time.time() - min_age_s
    batch: list[str] = []
    for sha in candidates:
        batch.append(sha)
        if len(batch) >= BATCH:
            n, b = _sweep(db, store, holds, batch, cutoff, keep_granted)
            removed, freed, batch = removed + n, freed + b, []
    if batch:
        n, b = _sweep(db, store, holds, batch, cutoff, keep_granted)
        removed, freed = removed + n, freed + b
    return GcReport(tree_rows=dropped, blobs=removed, bytes=freed)


def _drop_trees(db: SqlitePool, trees: Iterable[str] | None) -> int:
    with db.write() as conn:
        if trees is None:
            return max(0, conn.execute(_ORPHANS).rowcount)
        dropped = 0
        for tree_id in dict.fromkeys(trees):
            cur = conn.execute(
                "DELETE FROM trees WHERE tree_id=? AND NOT EXISTS (SELECT 1 FROM commits WHERE tree_id=?)",
                (tree_id, tree_id),
            )
            dropped += max(0, cur.rowcount)
        return dropped


_ORPHANS = "DELETE FROM trees WHERE tree_id NOT IN (SELECT tree_id FROM commits)"


def _sweep(
    db: SqlitePool, store: BlobStore, holds: Holds, shas: list[str], cutoff: float, keep_granted: bool
) -> tuple[int, int]:
    removed = freed = 0
    with db.write() as conn:
        for sha in dict.fromkeys(shas):
            path = store.path(sha)
            try:
                stat = path.stat()
            except FileNotFoundError:
                stat = None
            if holds.held(sha) or (stat is not None and stat.st_mtime > cutoff):
                continue
            if conn.execute("SELECT 1 FROM trees WHERE sha256=? LIMIT 1", (sha,)).fetchone():
                continue
            granted = "SELECT 1 FROM repo_blobs WHERE sha256=? LIMIT 1"
            if keep_granted and conn.execute(granted, (sha,)).fetchone():
                continue
            if stat is not None:
                os.unlink(path)
                removed, freed = removed + 1, freed + stat.st_size
            conn.execute("DELETE FROM blobs WHERE sha256=?", (sha,))
            conn.execute("DELETE FROM repo_blobs WHERE sha256=?", (sha,))
    return removed, freed
