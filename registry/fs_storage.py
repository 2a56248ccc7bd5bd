"""FilesystemStorage: :class:`~nnparts.registry.storage.Storage` in one folder on disk::

    <root>/
    ├── registry.sqlite3        repos, repo_tags, blobs, repo_blobs, trees, commits, refs (WAL)
    ├── registry.sqlite3-wal    SQLite write-ahead log (transient)
    ├── blobs/
    │   └── ab/cd/abcd…ef       one file per blob, named by its full sha256
    └── tmp/                    uploads in progress; emptied on start

The schema is in :mod:`store_schema`, tree arithmetic in :mod:`trees`, listing queries in
:mod:`repo_listing`. Thread safety: one SQLite connection per thread, writes serialised by a lock,
``busy_timeout`` for other processes. Costs: a commit is O(files in the branch); listing and search
use indexes.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path

from nnparts.registry import errors
from nnparts.registry.blob_gc import GcReport, Holds, all_blobs, collect
from nnparts.registry.blobstore import BlobInfo, BlobStore, BlobWriter
from nnparts.registry.cardmeta import CardMeta, parse_card
from nnparts.registry.gitpatterns import LfsRules
from nnparts.registry.last_commit import last_commits
from nnparts.registry.names import check_ref_name, is_commit_sha
from nnparts.registry.records import (
    GITATTRIBUTES,
    MAIN,
    README,
    CommitOp,
    CommitRecord,
    CommitRequest,
    FileEntry,
    LfsFileRecord,
    RefKind,
    RefRecord,
    RepoImport,
    RepoKey,
    RepoQuery,
    RepoRecord,
    RepoUsage,
)
from nnparts.registry.repo_listing import import_rows, list_sql, usage_rows
from nnparts.registry.rewrite import Pruned, drop_lfs, prune
from nnparts.registry.sqlite_pool import SqlitePool
from nnparts.registry.storage import Storage
from nnparts.registry.store_schema import (
    COMMIT_COLS,
    REPO_COLS,
    commit_from_row,
    insert_tree,
    migrate,
    repo_from_row,
)
from nnparts.registry.trees import apply_op, commit_sha, now_iso, promote_lfs, tree_id_of

#: An abbreviated commit sha, resolved after branches and tags (as git does).
_SHORT_SHA = re.compile(r"[0-9a-f]{7,39}")
#: A larger ``.gitattributes`` is not read for LFS rules.
MAX_GITATTRIBUTES = 1024 * 1024


class FilesystemStorage(Storage):
    """:class:`Storage` in a folder: SQLite (WAL) metadata plus a :class:`BlobStore`."""

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
            migrate(conn)
            conn.execute("PRAGMA optimize")
        if gc_min_age_s is not None:
            self.collect_garbage(min_age_s=gc_min_age_s)

    # -- connections ---------------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        return self._db.conn()

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:
        return self._db.write()

    def close(self) -> None:
        self._db.close()

    # -- repos ---------------------------------------------------------------------------------

    def _rid(self, conn: sqlite3.Connection, key: RepoKey) -> int:
        row = conn.execute(
            "SELECT rid FROM repos WHERE type=? AND lower_id=?", (key.type, key.id.lower())
        ).fetchone()
        if row is None:
            raise errors.RepoNotFound(f"{key.type} repository {key.id!r} not found")
        return int(row[0])

    def create_repo(
        self, key: RepoKey, *, private: bool, author: str, files: Sequence[tuple[str, bytes]] = ()
    ) -> RepoRecord:
        stamp = now_iso()
        blobs = [(path, self.put_blob(data)) for path, data in files]
        try:
            entries = [FileEntry(path, b.size, b.sha256, b.git_oid, False) for path, b in blobs]
            tree_id = tree_id_of(entries)
            with self._write() as conn:
                exists = conn.execute(
                    "SELECT 1 FROM repos WHERE type=? AND lower_id=?", (key.type, key.id.lower())
                ).fetchone()
                if exists:
                    raise errors.AlreadyExists(f"{key.type} repository {key.id!r} already exists")
                cur = conn.execute(
                    "INSERT INTO repos(type, namespace, name, full_id, lower_id, lower_ns, private,"
                    " created_at, last_modified) VALUES (?,?,?,?,?,?,?,?,?)",
                    (key.type, key.namespace, key.name, key.id, key.id.lower(),
                     key.namespace.lower(), int(private), stamp, stamp),
                )  # fmt: skip
                rid = int(cur.lastrowid or 0)
                for _, blob in blobs:
                    self._grant(conn, rid, blob)
                insert_tree(conn, tree_id, entries)
                sha = commit_sha(key, None, tree_id, "initial commit", "", author, stamp)
                conn.execute(
                    "INSERT INTO commits VALUES (?,?,?,?,?,?,?,?)",
                    (rid, sha, None, tree_id, "initial commit", "", author, stamp),
                )
                conn.execute("INSERT INTO refs VALUES (?,?,?,?)", (rid, "branch", MAIN, sha))
                conn.execute("UPDATE repos SET main_sha=? WHERE rid=?", (sha, rid))
        finally:
            self.release_blobs([b.sha256 for _, b in blobs], discard=False)
        return self.get_repo(key)

    def _grant(self, conn: sqlite3.Connection, rid: int, blob: BlobInfo) -> None:
        conn.execute("INSERT OR IGNORE INTO blobs VALUES (?,?,?)", (blob.sha256, blob.size, blob.git_oid))
        conn.execute("INSERT OR IGNORE INTO repo_blobs VALUES (?,?)", (rid, blob.sha256))

    def delete_repo(self, key: RepoKey) -> None:
        with self._write() as conn:
            rid = self._rid(conn, key)
            trees = [r[0] for r in conn.execute("SELECT DISTINCT tree_id FROM commits WHERE rid=?", (rid,))]
            shas = [r[0] for r in conn.execute("SELECT sha256 FROM repo_blobs WHERE rid=?", (rid,))]
            for table in ("refs", "commits", "repo_tags", "repo_blobs", "repos"):
                conn.execute(f"DELETE FROM {table} WHERE rid=?", (rid,))
        # its files go now, unless another repo references, holds or was sent them
        collect(self._db, self.blobs, self.holds, shas, min_age_s=0, keep_granted=True, trees=trees)

    def set_private(self, key: RepoKey, private: bool) -> RepoRecord:
        with self._write() as conn:
            conn.execute("UPDATE repos SET private=? WHERE rid=?", (int(private), self._rid(conn, key)))
        return self.get_repo(key)

    def move_repo(self, src: RepoKey, dst: RepoKey) -> RepoRecord:
        with self._write() as conn:
            rid = self._rid(conn, src)
            taken = conn.execute(
                "SELECT rid FROM repos WHERE type=? AND lower_id=?", (dst.type, dst.id.lower())
            ).fetchone()
            if taken is not None and int(taken[0]) != rid:
                raise errors.AlreadyExists(f"{dst.type} repository {dst.id!r} already exists")
            conn.execute(
                "UPDATE repos SET namespace=?, name=?, full_id=?, lower_id=?, lower_ns=?,"
                " last_modified=? WHERE rid=?",
                (dst.namespace, dst.name, dst.id, dst.id.lower(), dst.namespace.lower(), now_iso(), rid),
            )
        return self.get_repo(dst)

    def namespace_usage(self, namespace: str, *, offset: int, limit: int) -> tuple[list[RepoUsage], int]:
        conn = self._conn()
        rows, total = usage_rows(conn, namespace, offset=offset, limit=limit)
        return [RepoUsage(repo_from_row(r[:-1]), int(r[-1])) for r in rows], total

    def get_repo(self, key: RepoKey) -> RepoRecord:
        row = (
            self._conn()
            .execute(
                f"SELECT {REPO_COLS} FROM repos WHERE type=? AND lower_id=?",
                (key.type, key.id.lower()),
            )
            .fetchone()
        )
        if row is None:
            raise errors.RepoNotFound(f"{key.type} repository {key.id!r} not found")
        return repo_from_row(row)

    # -- revisions and trees -------------------------------------------------------------------

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

    def resolve(self, key: RepoKey, revision: str) -> CommitRecord:
        conn = self._conn()
        return self._resolve(conn, self._rid(conn, key), key, revision)

    def list_files(self, key: RepoKey, commit: CommitRecord) -> list[FileEntry]:
        rows = self._conn().execute(
            "SELECT path, size, sha256, git_oid, lfs FROM trees WHERE tree_id=? ORDER BY path",
            (commit.tree_id,),
        )
        return [FileEntry(r[0], r[1], r[2], r[3], bool(r[4])) for r in rows]

    def get_file(self, key: RepoKey, commit: CommitRecord, path: str) -> FileEntry:
        row = (
            self._conn()
            .execute(
                "SELECT path, size, sha256, git_oid, lfs FROM trees WHERE tree_id=? AND path=?",
                (commit.tree_id, path),
            )
            .fetchone()
        )
        if row is None:
            raise errors.EntryNotFound(f"{path!r} not found in {key.id!r} at {commit.sha}")
        return FileEntry(row[0], row[1], row[2], row[3], bool(row[4]))

    def last_commits(
        self, key: RepoKey, commit: CommitRecord, paths: Sequence[str]
    ) -> dict[str, CommitRecord]:
        conn = self._conn()
        rid = self._rid(conn, key)

        def parent_of(c: CommitRecord) -> CommitRecord | None:
            return self._commit_row(conn, rid, c.parent, key, c.parent) if c.parent is not None else None

        def snapshot(tree_id: str) -> dict[str, tuple[str, bool]]:
            rows = conn.execute("SELECT path, sha256, lfs FROM trees WHERE tree_id=?", (tree_id,))
            return {r[0]: (r[1], bool(r[2])) for r in rows}

        return last_commits(commit, paths, parent_of=parent_of, snapshot=snapshot)

    # -- commits -------------------------------------------------------------------------------

    def commit(self, request: CommitRequest) -> CommitRecord:
        key = request.key
        stamp = now_iso()
        with self._write() as conn:
            rid = self._rid(conn, key)
            head_row = conn.execute(
                "SELECT sha FROM refs WHERE rid=? AND kind='branch' AND name=?",
                (rid, request.branch),
            ).fetchone()
            if head_row is None:
                raise errors.RevisionNotFound(
                    f"branch {request.branch!r} not found in {key.id!r}",
                    hint="commits go to an existing branch; create it first",
                )
            head = self._commit_row(conn, rid, str(head_row[0]), key, request.branch)
            if request.parent is not None and request.parent != head.sha:
                raise errors.StaleParent(request.parent, head.sha)
            files = {f.path: f for f in self._files_in(conn, head.tree_id)}
            for op in request.ops:
                apply_op(files, op, key)
            self._check_lfs_blobs(conn, rid, request.ops)
            for op in request.ops:
                if op.blob is not None:
                    self._grant(conn, rid, op.blob)
            promote_lfs(files, self._lfs_rules(files.get(GITATTRIBUTES)), request.ops)
            entries = list(files.values())
            tree_id = tree_id_of(entries)
            insert_tree(conn, tree_id, entries)
            sha = commit_sha(key, head.sha, tree_id, request.title, request.message, request.author, stamp)
            conn.execute(
                "INSERT INTO commits VALUES (?,?,?,?,?,?,?,?)",
                (rid, sha, head.sha, tree_id, request.title, request.message, request.author, stamp),
            )
            conn.execute(
                "UPDATE refs SET sha=? WHERE rid=? AND kind='branch' AND name=?",
                (sha, rid, request.branch),
            )
            conn.execute("UPDATE repos SET last_modified=? WHERE rid=?", (stamp, rid))
            if request.branch == MAIN:
                conn.execute("UPDATE repos SET main_sha=? WHERE rid=?", (sha, rid))
                if any(op.path == README for op in request.ops):
                    self._set_card(conn, rid, files.get(README))
        return CommitRecord(sha, head.sha, request.title, request.message, request.author, stamp, tree_id)

    def _files_in(self, conn: sqlite3.Connection, tree_id: str) -> list[FileEntry]:
        rows = conn.execute("SELECT path, size, sha256, git_oid, lfs FROM trees WHERE tree_id=?", (tree_id,))
        return [FileEntry(r[0], r[1], r[2], r[3], bool(r[4])) for r in rows]

    def _lfs_rules(self, gitattributes: FileEntry | None) -> LfsRules | None:
        if gitattributes is None or gitattributes.lfs or gitattributes.size > MAX_GITATTRIBUTES:
            return None
        return LfsRules(self.blobs.path(gitattributes.sha256).read_bytes().decode("utf-8", "replace"))

    def _check_lfs_blobs(self, conn: sqlite3.Connection, rid: int, ops: Sequence[CommitOp]) -> None:
        for op in ops:
            if op.kind == "add" and op.lfs and op.blob is not None:
                info = self._granted(conn, rid, op.blob.sha256)
                if info is None or info.size != op.blob.size:
                    raise errors.LfsObjectMissing(
                        f"LFS object {op.blob.sha256} ({op.blob.size} bytes) for {op.path!r} "
                        "was not uploaded",
                        hint="upload it through the LFS batch API before committing",
                    )

    def _set_card(self, conn: sqlite3.Connection, rid: int, readme: FileEntry | None) -> None:
        meta = CardMeta()
        if readme is not None and readme.size <= 1024 * 1024:
            text = self.blobs.path(readme.sha256).read_bytes().decode("utf-8", "replace")
            meta = parse_card(text)
        conn.execute(
            "UPDATE repos SET tags=?, card_data=? WHERE rid=?",
            (json.dumps(list(meta.tags)), json.dumps(meta.card_data), rid),
        )
        conn.execute("DELETE FROM repo_tags WHERE rid=?", (rid,))
        conn.executemany("INSERT OR IGNORE INTO repo_tags VALUES (?,?)", [(tag, rid) for tag in meta.tags])

    # -- refs and history ----------------------------------------------------------------------

    def refs(self, key: RepoKey) -> list[RefRecord]:
        conn = self._conn()
        rows = conn.execute(
            "SELECT kind, name, sha FROM refs WHERE rid=? ORDER BY kind, name", (self._rid(conn, key),)
        )
        return [RefRecord(r[0], r[1], r[2]) for r in rows]

    def create_ref(self, key: RepoKey, kind: RefKind, name: str, commit: CommitRecord) -> None:
        check_ref_name(name, kind=kind)
        with self._write() as conn:
            rid = self._rid(conn, key)
            taken = conn.execute(
                "SELECT 1 FROM refs WHERE rid=? AND kind=? AND name=?", (rid, kind, name)
            ).fetchone()
            if taken:
                raise errors.AlreadyExists(f"{kind} {name!r} already exists in {key.id!r}")
            conn.execute("INSERT INTO refs VALUES (?,?,?,?)", (rid, kind, name, commit.sha))

    def delete_ref(self, key: RepoKey, kind: RefKind, name: str) -> None:
        if kind == "branch" and name == MAIN:
            raise errors.BadRequest("the main branch cannot be deleted")
        with self._write() as conn:
            rid = self._rid(conn, key)
            cur = conn.execute("DELETE FROM refs WHERE rid=? AND kind=? AND name=?", (rid, kind, name))
            if cur.rowcount == 0:
                raise errors.RevisionNotFound(f"{kind} {name!r} not found in {key.id!r}")

    def history(self, key: RepoKey, commit: CommitRecord, *, offset: int, limit: int) -> list[CommitRecord]:
        conn = self._conn()
        rid = self._rid(conn, key)
        rows = conn.execute(
            "WITH RECURSIVE chain(sha, depth) AS ("
            " SELECT ?, 0 UNION ALL"
            " SELECT c.parent, chain.depth + 1 FROM commits c JOIN chain ON c.sha = chain.sha"
            " WHERE c.rid = ? AND c.parent IS NOT NULL AND chain.depth < ?)"
            " SELECT c.sha, c.parent, c.title, c.message, c.author, c.date, c.tree_id FROM chain JOIN commits c ON c.sha = chain.sha AND c.rid = ?"
            " ORDER BY chain.depth LIMIT ? OFFSET ?",
            (commit.sha, rid, offset + limit, rid, limit, offset),
        )
        return [commit_from_row(r) for r in rows]

    def squash(self, key: RepoKey, branch: str, *, title: str, author: str) -> CommitRecord:
        stamp = now_iso()
        with self._write() as conn:
            rid = self._rid(conn, key)
            row = conn.execute(
                "SELECT sha FROM refs WHERE rid=? AND kind='branch' AND name=?", (rid, branch)
            ).fetchone()
            if row is None:
                tag = conn.execute(
                    "SELECT 1 FROM refs WHERE rid=? AND kind='tag' AND name=?", (rid, branch)
                ).fetchone()
                if tag is not None:
                    raise errors.BadRequest(f"{branch!r} is a tag: only branches can be squashed")
                raise errors.RevisionNotFound(f"branch {branch!r} not found in {key.id!r}")
            head = self._commit_row(conn, rid, str(row[0]), key, branch)
            sha = commit_sha(key, None, head.tree_id, title, "", author, stamp)
            conn.execute(
                "INSERT INTO commits VALUES (?,?,?,?,?,?,?,?)",
                (rid, sha, None, head.tree_id, title, "", author, stamp),
            )
            self._move_refs(conn, rid, {head.sha: sha}, branch=branch)
            pruned = prune(conn, rid)
        self._collect(pruned)
        return CommitRecord(sha, None, title, "", author, stamp, head.tree_id)

    def lfs_files(self, key: RepoKey, *, after: str | None, limit: int) -> list[LfsFileRecord]:
        conn = self._conn()
        rows = conn.execute(
            "SELECT t.sha256, MIN(t.size), MIN(t.path), MIN(c.date) FROM commits c"
            " JOIN trees t ON t.tree_id = c.tree_id WHERE c.rid=? AND t.lfs=1 AND t.sha256 > ?"
            " GROUP BY t.sha256 ORDER BY t.sha256 LIMIT ?",
            (self._rid(conn, key), after or "", limit),
        )
        return [LfsFileRecord(r[0], r[1], r[2], r[3]) for r in rows]

    def delete_lfs_files(self, key: RepoKey, shas: Sequence[str]) -> dict[str, str]:
        with self._write() as conn:
            rid = self._rid(conn, key)
            moved = drop_lfs(
                conn,
                rid,
                set(shas),
                files_in=lambda tree_id: self._files_in(conn, tree_id),
                tree_of=tree_id_of,
                sha_of=lambda *fields: commit_sha(key, *fields),
            )
            self._move_refs(conn, rid, moved)
            pruned = prune(conn, rid)
        self._collect(pruned)
        return moved

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

    # -- listing -------------------------------------------------------------------------------

    def list_repos(self, query: RepoQuery) -> list[RepoRecord]:
        sql, args = list_sql(query)
        return [repo_from_row(row) for row in self._conn().execute(sql, args)]

    def import_repos(self, repos: Sequence[RepoImport]) -> int:
        with self._write() as conn:
            added = import_rows(conn, repos, now_iso())
        self.optimize()
        return added

    def optimize(self) -> None:
        """Refresh the planner statistics (``ANALYZE``) after bulk changes; cheap when unchanged."""
        with self._write_lock:
            self._conn().execute("ANALYZE")

    # -- blobs ---------------------------------------------------------------------------------

    def repo_blob(self, key: RepoKey, sha256: str) -> BlobInfo | None:
        conn = self._conn()
        return self._granted(conn, self._rid(conn, key), sha256)

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

    def blob_writer(self, size: int) -> BlobWriter:
        return self.blobs.writer(size)

    def register_blob(self, key: RepoKey, info: BlobInfo) -> None:
        with self._write() as conn:
            rid = self._rid(conn, key)
            conn.execute("INSERT OR IGNORE INTO blobs VALUES (?,?,?)", (info.sha256, info.size, info.git_oid))
            conn.execute("INSERT OR IGNORE INTO repo_blobs VALUES (?,?)", (rid, info.sha256))
