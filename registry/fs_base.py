"""The folder, its connections and the row helpers every part of :class:`FilesystemStorage` uses.

Layout (the schema is in :mod:`store_schema`)::

    <root>/
    ├── registry.sqlite3        repos, repo_tags, repo_trigrams (search), blobs, repo_blobs, trees,
    │                           commits, refs, pulls (WAL)
    ├── registry.sqlite3-wal    SQLite write-ahead log (transient)
    ├── blobs/
    │   └── ab/cd/abcd…ef       one file per blob, named by its full sha256
    └── tmp/                    uploads in progress; emptied on start

Thread safety: one SQLite connection per thread, writes serialised by a lock, ``busy_timeout`` for
other processes.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path

from nnparts.registry import errors
from nnparts.registry.blob_gc import GcReport, Holds, all_blobs, collect
from nnparts.registry.blobstore import BlobInfo, BlobStore
from nnparts.registry.names import is_commit_sha, pr_number
from nnparts.registry.records import (
    MAIN,
    CommitRecord,
    FileEntry,
    RepoKey,
)
from nnparts.registry.rewrite import Pruned
from nnparts.registry.sqlite_pool import SqlitePool
from nnparts.registry.store_schema import (
    COMMIT_COLS,
    commit_from_row,
    migrate,
)
from nnparts.registry.trees import now_iso

#: An abbreviated commit sha, resolved after branches and tags (as git does).
_SHORT_SHA = re.compile(r"[0-9a-f]{7,39}")


class FsBase:
    """The store's folder and database; no public contract of its own."""

    def __init__(self, root: Path, *, gc_min_age_s: float | None = None) -> None:
        """Open (or create) the store at ``root``; with ``gc_min_age_s``, collect garbage older
        than that now (:meth:`collect_garbage`)."""
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.blobs = BlobStore(root)
        self.blobs.clean_tmp()
        self.holds = Holds()
        self._db_path = root / "registry.sqlite3"
        self._db = SqlitePool(self._db_path, cache_kib=65536)
        self._write_lock = self._db.write_lock
        with self._write_lock:
            conn = self._conn()
            self._trigrams = migrate(conn)
            conn.execute("PRAGMA optimize")
        if gc_min_age_s is not None:
            self.collect_garbage(min_age_s=gc_min_age_s)

    def _conn(self) -> sqlite3.Connection:
        return self._db.conn()

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:
        return self._db.write()

    def close(self) -> None:
        self._db.close()

    def _rid(self, conn: sqlite3.Connection, key: RepoKey) -> int:
        row = conn.execute(
            "SELECT rid FROM repos WHERE type=? AND lower_id=?", (key.type, key.id.lower())
        ).fetchone()
        if row is None:
            raise errors.RepoNotFound(f"{key.type} repository {key.id!r} not found")
        return int(row[0])

    def _resolve(self, conn: sqlite3.Connection, rid: int, key: RepoKey, revision: str) -> CommitRecord:
        if is_commit_sha(revision):
            row = conn.execute(
                f"SELECT {COMMIT_COLS} FROM commits WHERE rid=? AND sha=?", (rid, revision)
            ).fetchone()
            if row is not None:
                return commit_from_row(row)
        name = revision
        kinds: tuple[str, ...] = ("branch", "tag")
        if revision.startswith("refs/heads/"):
            name, kinds = revision[len("refs/heads/") :], ("branch",)
        elif revision.startswith("refs/tags/"):
            name, kinds = revision[len("refs/tags/") :], ("tag",)
        elif (num := pr_number(revision)) is not None:
            name, kinds = str(num), ("pr",)
        for kind in kinds:
            row = conn.execute(
                "SELECT sha FROM refs WHERE rid=? AND kind=? AND name=?", (rid, kind, name)
            ).fetchone()
            if row is not None:
                return self._commit_row(conn, rid, str(row[0]), key, revision)
        if _SHORT_SHA.fullmatch(revision):
            rows = conn.execute(
                "SELECT sha FROM commits WHERE rid=? AND sha >= ? AND sha < ? LIMIT 2",
                (rid, revision, revision + "g"),
            ).fetchall()
            if len(rows) > 1:
                raise errors.BadRequest(
                    f"short sha {revision!r} is ambiguous in {key.id!r}", hint="give more hex digits"
                )
            if rows:
                return self._commit_row(conn, rid, str(rows[0][0]), key, revision)
        raise errors.RevisionNotFound(f"revision {revision!r} not found in {key.id!r}")

    def _commit_row(
        self, conn: sqlite3.Connection, rid: int, sha: str, key: RepoKey, revision: str
    ) -> CommitRecord:
        row = conn.execute(
            f"SELECT {COMMIT_COLS} FROM commits WHERE rid=? AND sha=?",
            (rid, sha),
        ).fetchone()
        if row is None:
            raise errors.RevisionNotFound(f"revision {revision!r} not found in {key.id!r}")
        return commit_from_row(row)

    def _files_in(self, conn: sqlite3.Connection, tree_id: str) -> list[FileEntry]:
        rows = conn.execute("SELECT path, size, sha256, git_oid, lfs FROM trees WHERE tree_id=?", (tree_id,))
        return [FileEntry(r[0], r[1], r[2], r[3], bool(r[4])) for r in rows]

    def _grant(self, conn: sqlite3.Connection, rid: int, blob: BlobInfo) -> None:
        conn.execute("INSERT OR IGNORE INTO blobs VALUES (?,?,?)", (blob.sha256, blob.size, blob.git_oid))
        conn.execute("INSERT OR IGNORE INTO repo_blobs VALUES (?,?)", (rid, blob.sha256))

    def _move_refs(
        self, conn: sqlite3.Connection, rid: int, moved: dict[str, str], *, branch: str = ""
    ) -> None:
        """Point refs at rewritten commits (only ``branch`` if given) and keep ``main_sha`` current."""
        for old, new in moved.items():
            if branch:
                conn.execute(
                    "UPDATE refs SET sha=? WHERE rid=? AND kind='branch' AND name=?", (new, rid, branch)
                )
            else:
                conn.execute("UPDATE refs SET sha=? WHERE rid=? AND sha=?", (new, rid, old))
        main = conn.execute(
            "SELECT sha FROM refs WHERE rid=? AND kind='branch' AND name=?", (rid, MAIN)
        ).fetchone()
        conn.execute("UPDATE repos SET main_sha=?, last_modified=? WHERE rid=?", (main[0], now_iso(), rid))

    def _collect(self, pruned: Pruned) -> None:
        if pruned.trees:
            collect(
                self._db,
                self.blobs,
                self.holds,
                pruned.blobs,
                min_age_s=0,
                keep_granted=True,
                trees=pruned.trees,
            )

    def _granted(self, conn: sqlite3.Connection, rid: int, sha256: str) -> BlobInfo | None:
        row = conn.execute(
            "SELECT b.sha256, b.size, b.git_oid FROM repo_blobs g JOIN blobs b ON b.sha256 = g.sha256"
            " WHERE g.rid=? AND g.sha256=?",
            (rid, sha256),
        ).fetchone()
        if row is None or not self.blobs.path(sha256).is_file():
            return None
        return BlobInfo(row[0], row[1], row[2])

    def blob_path(self, sha256: str) -> Path:
        return self.blobs.path(sha256)

    def put_blob(self, data: bytes) -> BlobInfo:
        info = self.blobs.put_bytes(data)
        self.holds.hold(info.sha256)
        return info

    def release_blobs(self, shas: Sequence[str], *, discard: bool) -> GcReport:
        for sha in shas:
            self.holds.release(sha)
        if not discard:
            return GcReport(0, 0, 0)
        return collect(self._db, self.blobs, self.holds, shas, min_age_s=0, keep_granted=True)

    def collect_garbage(self, *, min_age_s: float) -> GcReport:
        return collect(
            self._db, self.blobs, self.holds, all_blobs(self.blobs), min_age_s=min_age_s,
            keep_granted=False, trees=None,
        )  # fmt: skip
