"""Storage: the contract between the HTTP layer and a registry store.

:class:`Storage` is the seam the routes use (values in :mod:`records`); :class:`FilesystemStorage`
(:mod:`fs_storage`) implements it in one folder, and tests may pass any other implementation to
``create_app``.

A tree is the full flat file list of a commit, stored once per distinct content (``tree_id`` is a
sha1 over its sorted entries), so a commit that changes one file adds one tree. A commit is applied
atomically: the parent check, the tree, the commit row and the moved ref are written together, so a
reader (or a restart after ``kill -9``) sees all of it or none of it. Blobs are written before the
commit, so an interrupted commit can leave only unreferenced blobs; :mod:`blob_gc` removes them (a
failed commit's at once, a killed process's on the next start).

Tenant isolation: blob files are shared by content, but each repository records which blobs it may
reference: those it was sent (an LFS upload through its signed URL, or the bytes of a regular file in
one of its commits). An ``lfsFile`` naming any other blob is refused as if it had never been
uploaded, and LFS batch/verify answer per repository, so a sha256 learnt elsewhere neither reveals
whether the blob exists nor lets another tenant publish it.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from pathlib import Path

from nnparts.registry.blob_gc import GcReport
from nnparts.registry.blobstore import BlobInfo, BlobWriter
from nnparts.registry.records import (
    MAIN,
    README,
    CommitOp,
    CommitRecord,
    CommitRequest,
    FileEntry,
    LfsFileRecord,
    OpKind,
    PullEvent,
    PullQuery,
    PullRecord,
    PullStatus,
    RefKind,
    RefRecord,
    RepoImport,
    RepoKey,
    RepoQuery,
    RepoRecord,
    RepoUsage,
)

__all__ = [
    "MAIN",
    "README",
    "CommitOp",
    "CommitRecord",
    "CommitRequest",
    "FileEntry",
    "LfsFileRecord",
    "OpKind",
    "PullEvent",
    "PullQuery",
    "PullRecord",
    "PullStatus",
    "RefKind",
    "RefRecord",
    "RepoImport",
    "RepoKey",
    "RepoQuery",
    "RepoRecord",
    "RepoUsage",
    "Storage",
]


class Storage(abc.ABC):
    """What the HTTP layer needs from a registry store. Errors are those of
    :mod:`nnparts.registry.errors`; every method is safe to call from several threads."""

    @abc.abstractmethod
    def create_repo(
        self, key: RepoKey, *, private: bool, author: str, files: Sequence[tuple[str, bytes]] = ()
    ) -> RepoRecord:
        """Create a repo whose initial commit on ``main`` holds ``files`` (regular files, e.g. the
        default ``.gitattributes``); ``AlreadyExists`` if taken."""

    @abc.abstractmethod
    def delete_repo(self, key: RepoKey) -> None:
        """Forget a repo, its commits and refs (blobs stay until a garbage collection)."""

    @abc.abstractmethod
    def set_private(self, key: RepoKey, private: bool) -> RepoRecord:
        """Change a repo's visibility; ``RepoNotFound`` if absent."""

    @abc.abstractmethod
    def move_repo(self, src: RepoKey, dst: RepoKey) -> RepoRecord:
        """Give repo ``src`` the id ``dst`` (same type): its commits, refs and blob grants follow and
        ``src`` is free afterwards. ``AlreadyExists`` if ``dst`` is another repo's id."""

    @abc.abstractmethod
    def namespace_usage(self, namespace: str, *, offset: int, limit: int) -> tuple[list[RepoUsage], int]:
        """A page of the repos of ``namespace`` (every type, private ones included) ordered by id
        then type, with their storage; and the storage of the whole namespace."""

    @abc.abstractmethod
    def get_repo(self, key: RepoKey) -> RepoRecord:
        """The repo (case-insensitive id); ``RepoNotFound`` if absent."""

    @abc.abstractmethod
    def resolve(self, key: RepoKey, revision: str) -> CommitRecord:
        """A full commit sha (tried first, so no ref can redirect a pinned sha), a branch or a
        tag (also ``refs/heads/x``, ``refs/tags/x``), else a unique sha prefix of 7+ hex digits
        (``BadRequest`` if ambiguous) -> its commit."""

    @abc.abstractmethod
    def list_files(self, key: RepoKey, commit: CommitRecord) -> list[FileEntry]:
        """All files of a commit, sorted by path."""

    @abc.abstractmethod
    def get_file(self, key: RepoKey, commit: CommitRecord, path: str) -> FileEntry:
        """One file of a commit; ``EntryNotFound`` if absent."""

    @abc.abstractmethod
    def last_commits(
        self, key: RepoKey, commit: CommitRecord, paths: Sequence[str]
    ) -> dict[str, CommitRecord]:
        """The newest commit reachable from ``commit`` that changed each path (file or folder)."""

    @abc.abstractmethod
    def commit(self, request: CommitRequest) -> CommitRecord:
        """Apply a commit atomically; ``StaleParent`` when ``parent`` is not the branch head. A
        regular file (not empty) that the resulting tree's ``.gitattributes`` marks ``filter=lfs`` is
        stored as an LFS file, as git-lfs would."""

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
    def squash(self, key: RepoKey, branch: str, *, title: str, author: str) -> CommitRecord:
        """Replace the history of ``branch`` by one parentless commit of its head tree; commits no
        ref reaches any more are deleted and their blobs collected (unless other repos use them).
        ``BadRequest`` for a tag, ``RevisionNotFound`` for an unknown branch."""

    @abc.abstractmethod
    def lfs_files(self, key: RepoKey, *, after: str | None, limit: int) -> list[LfsFileRecord]:
        """The LFS objects referenced by any commit of the repo, ordered by sha256 (keyset ``after``)."""

    @abc.abstractmethod
    def delete_lfs_files(self, key: RepoKey, shas: Sequence[str]) -> dict[str, str]:
        """Rewrite the repo's history without the LFS files of ``shas`` (refs follow; unknown shas
        are ignored) and collect what only they used. Returns ``old -> new`` commit shas."""

    @abc.abstractmethod
    def open_pull(
        self, key: RepoKey, *, title: str, description: str, author: str, pull_request: bool
    ) -> PullRecord:
        """Open discussion number max+1 (a pull request gets ``refs/pr/<num>`` at ``main``'s head);
        ``description`` is its first comment."""

    @abc.abstractmethod
    def commit_pull(self, request: CommitRequest, *, description: str) -> tuple[PullRecord, CommitRecord]:
        """Open a pull request from ``request.branch`` and apply ``request`` to it, atomically."""

    @abc.abstractmethod
    def pulls(self, key: RepoKey, query: PullQuery) -> tuple[list[PullRecord], int]:
        """A page of the repo's discussions, newest first, and how many match in all."""

    @abc.abstractmethod
    def pull(self, key: RepoKey, num: int) -> PullRecord:
        """One discussion; ``EntryNotFound`` if absent."""

    @abc.abstractmethod
    def pull_events(self, key: RepoKey, num: int) -> list[PullEvent]:
        """The events of a discussion, oldest first."""

    @abc.abstractmethod
    def comment_pull(self, key: RepoKey, num: int, *, author: str, text: str) -> PullEvent:
        """Add a comment."""

    @abc.abstractmethod
    def retitle_pull(self, key: RepoKey, num: int, *, author: str, title: str) -> PullEvent:
        """Change the title (a ``title-change`` event)."""

    @abc.abstractmethod
    def set_pull_status(
        self, key: RepoKey, num: int, status: PullStatus, *, author: str, comment: str
    ) -> PullEvent:
        """Open or close (``BadRequest`` once merged); ``comment`` is posted first if not empty."""

    @abc.abstractmethod
    def pull_conflicts(self, key: RepoKey, pull: PullRecord) -> list[str]:
        """The paths that keep an open pull request from merging (``[]`` otherwise)."""

    @abc.abstractmethod
    def merge_pull(self, key: RepoKey, num: int, *, author: str, comment: str) -> tuple[str, CommitRecord]:
        """Merge an open pull request into its base branch as one commit; returns the branch and
        the commit. ``MergeConflict`` with the paths both sides changed."""

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
