"""FilesystemStorage: :class:`~nnparts.registry.storage.Storage` in one folder on disk.

Put together from one class per concept: :mod:`fs_base` (the folder, connections, row helpers and
blobs, with the on-disk layout), :mod:`fs_commits`, :mod:`fs_history`, :mod:`fs_pulls`, and here
repositories, files, refs, listings and LFS registration. Costs: listing and search use
indexes (:mod:`repo_listing`).
"""

from __future__ import annotations

from collections.abc import Sequence

from nnparts.registry import errors
from nnparts.registry.blob_gc import collect
from nnparts.registry.blobstore import BlobInfo, BlobWriter
from nnparts.registry.fs_pulls import FsPulls
from nnparts.registry.names import check_ref_name
from nnparts.registry.records import (
    MAIN,
    CommitRecord,
    FileEntry,
    RefKind,
    RefRecord,
    RepoImport,
    RepoKey,
    RepoQuery,
    RepoRecord,
    RepoUsage,
)
from nnparts.registry.repo_listing import driving_tag, import_rows, list_sql, rare_search, usage_rows
from nnparts.registry.storage import Storage
from nnparts.registry.store_schema import (
    REPO_COLS,
    insert_tree,
    repo_from_row,
)
from nnparts.registry.trees import commit_sha, now_iso, tree_id_of


class FilesystemStorage(FsPulls, Storage):
    """:class:`Storage` in a folder: SQLite (WAL) metadata plus a :class:`BlobStore`."""

    # -- repos ---------------------------------------------------------------------------------

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

    def delete_repo(self, key: RepoKey) -> None:
        with self._write() as conn:
            rid = self._rid(conn, key)
            trees = [r[0] for r in conn.execute("SELECT DISTINCT tree_id FROM commits WHERE rid=?", (rid,))]
            shas = [r[0] for r in conn.execute("SELECT sha256 FROM repo_blobs WHERE rid=?", (rid,))]
            for table in ("refs", "commits", "repo_tags", "repo_blobs", "pulls", "pull_events", "repos"):
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

    # -- refs ----------------------------------------------------------------------------------

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

    # -- listing -------------------------------------------------------------------------------

    def list_repos(self, query: RepoQuery) -> list[RepoRecord]:
        conn = self._conn()
        drive = driving_tag(conn, query.tags) if query.tags else None
        by_trigrams = self._trigrams and query.search is not None and rare_search(conn, query.search)
        sql, args = list_sql(query, drive=drive, trigrams=by_trigrams)
        return [repo_from_row(row) for row in conn.execute(sql, args)]

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

    def blob_writer(self, size: int) -> BlobWriter:
        return self.blobs.writer(size)

    def register_blob(self, key: RepoKey, info: BlobInfo) -> None:
        with self._write() as conn:
            rid = self._rid(conn, key)
            conn.execute("INSERT OR IGNORE INTO blobs VALUES (?,?,?)", (info.sha256, info.size, info.git_oid))
            conn.execute("INSERT OR IGNORE INTO repo_blobs VALUES (?,?)", (rid, info.sha256))
