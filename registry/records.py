"""The values the storage layer hands to the routes: repo keys and records, commits, refs, queries.

All frozen dataclasses, free of I/O; :mod:`storage` states the contract that produces them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from nnparts.registry.blobstore import BlobInfo
from nnparts.registry.cardmeta import Value

RefKind = Literal["branch", "tag", "pr"]
OpKind = Literal["add", "delete_file", "delete_folder"]
MAIN = "main"
README = "README.md"
GITATTRIBUTES = ".gitattributes"
GITIGNORE = ".gitignore"


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
    (``None`` = all). ``sort`` is ``id`` (ascending), ``lastModified`` or ``createdAt`` (newest
    first, then by id); ``after`` is the previous page's last key: its id, or for a date sort
    ``"<date>|<id>"``."""

    type: str
    search: str | None = None
    author: str | None = None
    tags: tuple[str, ...] = ()
    after: str | None = None
    limit: int = 1000
    visible_private: frozenset[str] | None = frozenset()
    sort: Literal["id", "lastModified", "createdAt"] = "id"


@dataclass(frozen=True)
class RepoImport:
    """A repository created with metadata but no commit (mirroring, benchmarks)."""

    key: RepoKey
    tags: tuple[str, ...] = ()
    card_data: dict[str, Value] = field(default_factory=dict)
    private: bool = False


@dataclass(frozen=True)
class RepoUsage:
    """A repository and the bytes of the blobs granted to it (what ``hf repos ls`` shows)."""

    record: RepoRecord
    storage_bytes: int


@dataclass(frozen=True)
class LfsFileRecord:
    """An LFS object some commit of a repo references: one ``path`` that named it and the date of
    the first commit that did (``pushed_at``)."""

    sha256: str
    size: int
    path: str
    pushed_at: str


PullStatus = Literal["open", "closed", "merged", "draft"]


@dataclass(frozen=True)
class PullRecord:
    """A discussion or pull request of a repo. A pull request lives on ``refs/pr/<num>`` (``head``),
    started from branch ``base`` at ``base_sha``; ``merge_commit`` is set once merged."""

    num: int
    title: str
    author: str
    status: PullStatus
    created_at: str
    is_pull_request: bool
    base: str | None = None
    base_sha: str | None = None
    head: str | None = None
    merge_commit: str | None = None


@dataclass(frozen=True)
class PullEvent:
    """One event of a discussion: ``comment``, ``status-change``, ``commit`` or ``title-change``;
    ``data`` is the Hub's ``data`` object of that event type."""

    id: str
    type: str
    author: str
    created_at: str
    data: dict[str, Any]


@dataclass(frozen=True)
class PullQuery:
    """Which discussions to list: ``kind`` is ``pull_request``/``discussion``/``None`` (all)."""

    status: str | None = None
    kind: str | None = None
    author: str | None = None
    offset: int = 0
    limit: int = 50
