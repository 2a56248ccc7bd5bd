"""Storage: repositories, commits, refs and trees over content-addressed blobs.

:class:`Storage` is the contract the routes use; :class:`FilesystemStorage` implements it with one
folder on disk::

    <root>/
    ├── registry.sqlite3        repos, repo_tags, blobs, repo_blobs, trees, commits, refs (WAL)
    ├── registry.sqlite3-wal    SQLite write-ahead log (transient)
    ├── blobs/
    │   └── ab/cd/abcd…ef       one file per blob, named by its full sha256
    └── tmp/                    uploads in progress; emptied on start

A tree is the full flat file list of a commit, stored once per distinct content (``tree_id`` is a
sha1 over its sorted entries), so a commit that changes one file adds one tree. A commit is applied
in a single ``BEGIN IMMEDIATE`` transaction that checks the parent, writes the tree, the commit row
and the moved ref together: a reader (or a restart after ``kill -9``) sees all of it or none of it.
Blobs are written before the transaction, so an interrupted commit can leave only unreferenced blobs;
:mod:`blob_gc` removes them (a failed commit's at once, a killed process's on the next start).

Tenant isolation: blob files are shared by content, but ``repo_blobs`` records which blobs each
repository may reference: those it was sent (an LFS upload through its signed URL, or the bytes of a
regular file in one of its commits). An ``lfsFile`` naming any other blob is refused as if it had never
been uploaded, and LFS batch/verify answer per repository, so a sha256 learnt elsewhere neither
reveals whether the blob exists nor lets another tenant publish it.

Thread safety: one SQLite connection per thread, writes serialised by a lock, ``busy_timeout`` for
other processes. Costs: a commit is O(files in the branch); listing and search use indexes.
"""

from __future__ import annotations

import abc
import hashlib
import json
import sqlite3
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from nnparts.registry import errors
from nnparts.registry.blob_gc import GcReport, Holds, all_blobs, collect
from nnparts.registry.blobstore import BlobInfo, BlobStore, BlobWriter
from nnparts.registry.cardmeta import CardMeta, Value, parse_card
from nnparts.registry.names import check_ref_name, is_commit_sha
from nnparts.registry.sqlite_pool import SqlitePool

RefKind = Literal["branch", "tag"]
OpKind = Literal["add", "delete_file", "delete_folder"]
MAIN = "main"
README = "README.md"


@dataclass(frozen=True)
class RepoKey:
    """Identifies a repository: ``type`` is model, dataset or space; ``id`` is ``namespace/name``."""

    type: str
    namespace: str
    name: str

    @property
    def id(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class RepoRecord:
    """A repository as listed: ``sha`` is the head of ``main`` (``None`` only for bulk imports)."""

    key: RepoKey
    private: bool
    created_at: str
    last_modified: str
    sha: str | None
    tags: tuple[str, ...] = ()
    card_data: dict[str, Value] = field(default_factory=dict)


@dataclass(frozen=True)
class FileEntry:
    """A file of a tree. ``lfs`` files are announced with their sha256 and a pointer oid."""

    path: str
    size: int
    sha256: str
    git_oid: str
    lfs: bool


@dataclass(frozen=True)
class CommitRecord:
    """One commit; ``sha`` is 40 lowercase hex, ``parent`` is ``None`` for the first one."""

    sha: str
    parent: str | None
    title: str
    message: str
    author: str
    date: str
    tree_id: str


@dataclass(frozen=True)
class RefRecord:
    """A branch or tag and the commit it points to."""

    kind: RefKind
    name: str
    sha: str


@dataclass(frozen=True)
class CommitOp:
    """One change: ``add`` carries the blob (already stored); deletions carry only a path."""

    kind: OpKind
    path: str
    blob: BlobInfo | None = None
    lfs: bool = False


@dataclass(frozen=True)
class CommitRequest:
    """A commit to apply atomically on ``branch``; ``parent`` enables the stale-parent check."""

    key: RepoKey
    branch: str
    title: str
    message: str
    author: str
    ops: tuple[CommitOp, ...]
    parent: str | None = None


@dataclass(frozen=True)
class RepoQuery:
    """A listing query. ``visible_private`` = namespaces whose private repos the caller may see
    (``None`` = all). Results are ordered by id; ``after`` is the last id of the previous page."""

    type: str
    search: str | None = None
    author: str | None = None
    tags: tuple[str, ...] = ()
    after: str | None = None
    limit: int = 1000
    visible_private: frozenset[str] | None = frozenset()


@dataclass(frozen=True)
class RepoImport:
    """A repository created with metadata but no commit (mirroring, benchmarks)."""

    key: RepoKey
    tags: tuple[str, ...] = ()
    card_data: dict[str, Value] = field(default_factory=dict)
    private: bool = False


class Storage(abc.ABC):
    """What the HTTP layer needs from a registry store. Errors are those of
    :mod:`nnparts.registry.errors`; every method is safe to call from several threads."""

    @abc.abstractmethod
    def create_repo(self, key: RepoKey, *, private: bool, author: str) -> RepoRecord:
        """Create a repo with an empty initial commit on ``main``; ``AlreadyExists`` if taken."""

    @abc.abstractmethod
    def delete_repo(self, key: RepoKey) -> None:
        """Forget a repo, its commits and refs (blobs stay until a garbage collection)."""

    @abc.abstractmethod
    def set_private(self, key: RepoKey, private: bool) -> RepoRecord:
        """Change a repo's visibility; ``RepoNotFound`` if absent."""

    @abc.abstractmethod
    def get_repo(self, key: RepoKey) -> RepoRecord:
        """The repo (case-insensitive id); ``RepoNotFound`` if absent."""

    @abc.abstractmethod
    def resolve(self, key: RepoKey, revision: str) -> CommitRecord:
        """A full commit sha (tried first, so no ref can redirect a pinned sha), a branch or a
        tag (also ``refs/heads/x``, ``refs/tags/x``) -> its commit."""

    @abc.abstractmethod
    def list_files(self, key: RepoKey, commit: CommitRecord) -> list[FileEntry]:
        """All files of a commit, sorted by path."""

    @abc.abstractmethod
    def get_file(self, key: RepoKey, commit: CommitRecord, path: str) -> FileEntry:
        """One file of a commit; ``EntryNotFound`` if absent."""

    @abc.abstractmethod
    def commit(self, request: CommitRequest) -> CommitRecord:
        """Apply a commit atomically; ``StaleParent`` when ``parent`` is not the branch head."""

    @abc.abstractmethod
    def refs(self, key: RepoKey) -> list[RefRecord]:
        """Branches and tags, sorted by kind then name."""

    @abc.abstractmethod
    def create_ref(self, key: RepoKey, kind: RefKind, name: str, commit: CommitRecord) -> None:
        """Point a new branch or tag at ``commit``; ``AlreadyExists`` if the name is taken,
        ``BadRequest`` for a name refused by :func:`names.check_ref_name`."""

    @abc.abstractmethod
    def delete_ref(self, key: RepoKey, kind: RefKind, name: str) -> None:
        """Remove a branch (not ``main``) or tag; ``RevisionNotFound`` if absent."""

    @abc.abstractmethod
    def history(self, key: RepoKey, commit: CommitRecord, *, offset: int, limit: int) -> list[CommitRecord]:
        """Commits reachable from ``commit`` through first parents, newest first."""

    @abc.abstractmethod
    def list_repos(self, query: RepoQuery) -> list[RepoRecord]:
        """Repos matching ``query``: ``search`` is a case-insensitive substring of the id,
        ``author`` the exact namespace, every tag of ``tags`` must be present."""

    @abc.abstractmethod
    def import_repos(self, repos: Sequence[RepoImport]) -> int:
        """Insert many repos in one transaction (existing ids are skipped); return the count added."""

    @abc.abstractmethod
    def repo_blob(self, key: RepoKey, sha256: str) -> BlobInfo | None:
        """A stored blob that repo ``key`` may reference (see the module docstring), or ``None``:
        also when the blob exists but was sent only to other repositories."""

    @abc.abstractmethod
    def blob_path(self, sha256: str) -> Path:
        """The file holding a registered blob, for streaming."""

    @abc.abstractmethod
    def put_blob(self, data: bytes) -> BlobInfo:
        """Store bytes as a blob for a commit in progress; it is held (safe from collection) until
        :meth:`release_blobs`, and registered once a commit uses it."""

    @abc.abstractmethod
    def release_blobs(self, shas: Sequence[str], *, discard: bool) -> GcReport:
        """Drop the holds of :meth:`put_blob`; with ``discard`` (the commit failed) remove those
        blobs now unless something else references or holds them."""

    @abc.abstractmethod
    def collect_garbage(self, *, min_age_s: float) -> GcReport:
        """Remove every blob (and tree) nothing references whose file is older than ``min_age_s``."""

    @abc.abstractmethod
    def blob_writer(self, size: int) -> BlobWriter:
        """A streaming writer for an LFS upload; pass its result to :meth:`register_blob`."""

    @abc.abstractmethod
    def register_blob(self, key: RepoKey, info: BlobInfo) -> None:
        """Record a blob uploaded to repo ``key``, so that its commits and LFS verify find it."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections."""


_SCHEMA = """
CREATE TABLE IF NOT EXISTS repos(
    rid INTEGER PRIMARY KEY,
    type TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
    full_id TEXT NOT NULL, lower_id TEXT NOT NULL, lower_ns TEXT NOT NULL,
    private INTEGER NOT NULL, created_at TEXT NOT NULL, last_modified TEXT NOT NULL,
    main_sha TEXT, tags TEXT NOT NULL DEFAULT '[]', card_data TEXT NOT NULL DEFAULT '{}',
    UNIQUE(type, lower_id));
CREATE INDEX IF NOT EXISTS repos_ns ON repos(type, lower_ns, lower_id);
CREATE TABLE IF NOT EXISTS repo_tags(
    tag TEXT NOT NULL, rid INTEGER NOT NULL, PRIMARY KEY(tag, rid)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS repo_tags_rid ON repo_tags(rid);
CREATE TABLE IF NOT EXISTS blobs(
    sha256 TEXT PRIMARY KEY, size INTEGER NOT NULL, git_oid TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS repo_blobs(
    rid INTEGER NOT NULL, sha256 TEXT NOT NULL, PRIMARY KEY(rid, sha256)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS repo_blobs_sha ON repo_blobs(sha256);
CREATE TABLE IF NOT EXISTS trees(
    tree_id TEXT NOT NULL, path TEXT NOT NULL, sha256 TEXT NOT NULL, size INTEGER NOT NULL,
    git_oid TEXT NOT NULL, lfs INTEGER NOT NULL, PRIMARY KEY(tree_id, path)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS commits(
    rid INTEGER NOT NULL, sha TEXT NOT NULL, parent TEXT, tree_id TEXT NOT NULL,
    title TEXT NOT NULL, message TEXT NOT NULL, author TEXT NOT NULL, date TEXT NOT NULL,
    PRIMARY KEY(rid, sha)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS commits_tree ON commits(tree_id);
CREATE INDEX IF NOT EXISTS trees_sha ON trees(sha256);
CREATE TABLE IF NOT EXISTS refs(
    rid INTEGER NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL, sha TEXT NOT NULL,
    PRIMARY KEY(rid, kind, name)) WITHOUT ROWID;
"""
_EMPTY_TREE = hashlib.sha1(b"", usedforsecurity=False).hexdigest()


def now_iso() -> str:
    """UTC now as ISO 8601 with milliseconds and ``Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def tree_id_of(files: Sequence[FileEntry]) -> str:
    """Content id of a flat tree (entries sorted by path)."""
    digest = hashlib.sha1(usedforsecurity=False)
    for f in sorted(files, key=lambda e: e.path):
        digest.update(f"{f.path}\0{f.sha256}\0{int(f.lfs)}\n".encode())
    return digest.hexdigest() if files else _EMPTY_TREE


def lfs_pointer(sha256: str, size: int) -> bytes:
    """The git-lfs pointer file that stands for an LFS blob in git."""
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


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
            had_grants = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='repo_blobs'"
            ).fetchone()
            conn.executescript(_SCHEMA)
            if not had_grants:  # a store older than repo_blobs: grant each repo its history
                conn.execute(
                    "INSERT OR IGNORE INTO repo_blobs SELECT DISTINCT c.rid, t.sha256"
                    " FROM commits c JOIN trees t ON t.tree_id = c.tree_id"
                )
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

    def create_repo(self, key: RepoKey, *, private: bool, author: str) -> RepoRecord:
        stamp = now_iso()
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
            sha = _commit_sha(key, None, _EMPTY_TREE, "initial commit", "", author, stamp)
            conn.execute(
                "INSERT INTO commits VALUES (?,?,?,?,?,?,?,?)",
                (rid, sha, None, _EMPTY_TREE, "initial commit", "", author, stamp),
            )
            conn.execute("INSERT INTO refs VALUES (?,?,?,?)", (rid, "branch", MAIN, sha))
            conn.execute("UPDATE repos SET main_sha=? WHERE rid=?", (sha, rid))
        return self.get_repo(key)

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

    def get_repo(self, key: RepoKey) -> RepoRecord:
        row = (
            self._conn()
            .execute(
                f"SELECT {_REPO_COLS} FROM repos WHERE type=? AND lower_id=?",
                (key.type, key.id.lower()),
            )
            .fetchone()
        )
        if row is None:
            raise errors.RepoNotFound(f"{key.type} repository {key.id!r} not found")
        return _repo_from_row(row)

    # -- revisions and trees -------------------------------------------------------------------

    def _resolve(self, conn: sqlite3.Connection, rid: int, key: RepoKey, revision: str) -> CommitRecord:
        if is_commit_sha(revision):
            row = conn.execute(
                f"SELECT {_COMMIT_COLS} FROM commits WHERE rid=? AND sha=?", (rid, revision)
            ).fetchone()
            if row is not None:
                return _commit_from_row(row)
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
        raise errors.RevisionNotFound(f"revision {revision!r} not found in {key.id!r}")

    def _commit_row(
        self, conn: sqlite3.Connection, rid: int, sha: str, key: RepoKey, revision: str
    ) -> CommitRecord:
        row = conn.execute(
            f"SELECT {_COMMIT_COLS} FROM commits WHERE rid=? AND sha=?",
            (rid, sha),
        ).fetchone()
        if row is None:
            raise errors.RevisionNotFound(f"revision {revision!r} not found in {key.id!r}")
        return _commit_from_row(row)

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
                _apply(files, op, key)
            self._check_lfs_blobs(conn, rid, request.ops)
            for op in request.ops:
                if op.blob is not None:
                    conn.execute(
                        "INSERT OR IGNORE INTO blobs VALUES (?,?,?)",
                        (op.blob.sha256, op.blob.size, op.blob.git_oid),
                    )
                    conn.execute("INSERT OR IGNORE INTO repo_blobs VALUES (?,?)", (rid, op.blob.sha256))
            entries = list(files.values())
            tree_id = tree_id_of(entries)
            if conn.execute("SELECT 1 FROM trees WHERE tree_id=? LIMIT 1", (tree_id,)).fetchone() is None:
                conn.executemany(
                    "INSERT INTO trees VALUES (?,?,?,?,?,?)",
                    [(tree_id, f.path, f.sha256, f.size, f.git_oid, int(f.lfs)) for f in entries],
                )
            sha = _commit_sha(key, head.sha, tree_id, request.title, request.message, request.author, stamp)
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
        return [_commit_from_row(r) for r in rows]

    # -- listing -------------------------------------------------------------------------------

    def list_repos(self, query: RepoQuery) -> list[RepoRecord]:
        where = ["r.type = ?"]
        args: list[Any] = [query.type]
        if query.after is not None:
            where.append("r.lower_id > ?")
            args.append(query.after.lower())
        if query.author:
            where.append("r.lower_ns = ?")
            args.append(query.author.lower())
        if query.search:
            where.append("instr(r.lower_id, ?) > 0")
            args.append(query.search.lower())
        for tag in query.tags:
            # IN lets the planner drive from the (tag, rid) index when the tag is rare.
            where.append("r.rid IN (SELECT t.rid FROM repo_tags t WHERE t.tag = ?)")
            args.append(tag)
        if query.visible_private is not None:
            marks = ",".join("?" * len(query.visible_private))
            where.append(f"(r.private = 0 OR r.lower_ns IN ({marks}))")
            args.extend(sorted(ns.lower() for ns in query.visible_private))
        sql = f"SELECT {_REPO_COLS} FROM repos r WHERE {' AND '.join(where)} ORDER BY r.lower_id LIMIT ?"
        args.append(query.limit)
        return [_repo_from_row(row) for row in self._conn().execute(sql, args)]

    def import_repos(self, repos: Sequence[RepoImport]) -> int:
        stamp = now_iso()
        added = 0
        with self._write() as conn:
            for item in repos:
                k = item.key
                cur = conn.execute(
                    "INSERT OR IGNORE INTO repos(type, namespace, name, full_id, lower_id, lower_ns,"
                    " private, created_at, last_modified, tags, card_data)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (k.type, k.namespace, k.name, k.id, k.id.lower(), k.namespace.lower(),
                     int(item.private), stamp, stamp, json.dumps(list(item.tags)),
                     json.dumps(item.card_data)),
                )  # fmt: skip
                if cur.rowcount:
                    added += 1
                    rid = int(cur.lastrowid or 0)
                    conn.executemany(
                        "INSERT OR IGNORE INTO repo_tags VALUES (?,?)", [(t, rid) for t in item.tags]
                    )
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


_REPO_COLS = (
    "r.type, r.namespace, r.name, r.private, r.created_at, r.last_modified, r.main_sha, r.tags, r.card_data"
).replace("r.", "")
_COMMIT_COLS = "c.sha, c.parent, c.title, c.message, c.author, c.date, c.tree_id".replace("c.", "")


def _repo_from_row(row: Sequence[Any]) -> RepoRecord:
    return RepoRecord(
        key=RepoKey(row[0], row[1], row[2]),
        private=bool(row[3]),
        created_at=row[4],
        last_modified=row[5],
        sha=row[6],
        tags=tuple(json.loads(row[7])),
        card_data=json.loads(row[8]),
    )


def _commit_from_row(row: Sequence[Any]) -> CommitRecord:
    return CommitRecord(row[0], row[1], row[2], row[3], row[4], row[5], row[6])


def _commit_sha(
    key: RepoKey, parent: str | None, tree_id: str, title: str, message: str, author: str, date: str
) -> str:
    body = json.dumps([key.type, key.id, parent, tree_id, title, message, author, date])
    return hashlib.sha1(body.encode(), usedforsecurity=False).hexdigest()


def _apply(files: dict[str, FileEntry], op: CommitOp, key: RepoKey) -> None:
    if op.kind == "add":
        if op.blob is None:
            raise errors.BadRequest(f"add operation for {op.path!r} carries no content")
        prefix = op.path + "/"
        if any(p.startswith(prefix) for p in files) or any(op.path.startswith(p + "/") for p in files):
            raise errors.BadRequest(f"{op.path!r} conflicts with an existing file or folder")
        oid = op.blob.git_oid
        if op.lfs:
            pointer = lfs_pointer(op.blob.sha256, op.blob.size)
            oid = hashlib.sha1(b"blob %d\0" % len(pointer) + pointer, usedforsecurity=False).hexdigest()
        files[op.path] = FileEntry(op.path, op.blob.size, op.blob.sha256, oid, op.lfs)
    elif op.kind == "delete_file":
        if files.pop(op.path, None) is None:
            raise errors.EntryNotFound(f"A file with this name doesn't exist: {op.path!r} in {key.id!r}")
    else:
        prefix = op.path.rstrip("/") + "/"
        doomed = [p for p in files if p.startswith(prefix)]
        if not doomed:
            raise errors.EntryNotFound(f"A folder with this name doesn't exist: {op.path!r} in {key.id!r}")
        for p in doomed:
            del files[p]
