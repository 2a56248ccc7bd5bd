"""Commits of :class:`FilesystemStorage`: one write transaction checks the parent, applies the
operations, promotes files the ``.gitattributes`` marks LFS, writes the tree, the commit and the
moved ref, and refreshes the card of ``main``. Cost: O(files in the branch).
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Sequence
from typing import Any

from nnparts.registry import errors
from nnparts.registry.cardmeta import CardMeta, parse_card
from nnparts.registry.fs_base import FsBase
from nnparts.registry.gitpatterns import LfsRules
from nnparts.registry.names import ref_of
from nnparts.registry.records import (
    GITATTRIBUTES,
    MAIN,
    README,
    CommitOp,
    CommitRecord,
    CommitRequest,
    FileEntry,
    PullEvent,
    RepoKey,
)
from nnparts.registry.store_schema import (
    insert_tree,
)
from nnparts.registry.trees import apply_op, commit_sha, now_iso, promote_lfs, tree_id_of

#: A larger ``.gitattributes`` is not read for LFS rules.
MAX_GITATTRIBUTES = 1024 * 1024


class FsCommits(FsBase):
    """Applying commits to branches."""

    def commit(self, request: CommitRequest) -> CommitRecord:
        with self._write() as conn:
            return self._commit_in(conn, self._rid(conn, request.key), request)

    def _commit_in(self, conn: sqlite3.Connection, rid: int, request: CommitRequest) -> CommitRecord:
        """The commit of ``request`` inside the caller's write transaction. ``request.branch`` may
        be ``refs/pr/N``: an open pull request's ref, which records a ``commit`` event."""
        key = request.key
        stamp = now_iso()
        kind, name = ref_of(request.branch)
        head_row = conn.execute(
            "SELECT sha FROM refs WHERE rid=? AND kind=? AND name=?", (rid, kind, name)
        ).fetchone()
        if head_row is None:
            raise errors.RevisionNotFound(
                f"branch {request.branch!r} not found in {key.id!r}",
                hint="commits go to an existing branch; create it first",
            )
        if kind == "pr":
            self._require_open(conn, rid, int(name))
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
        done = self._write_commit(
            conn, rid, key, head, files, request.title, request.message, request.author, stamp
        )
        conn.execute("UPDATE refs SET sha=? WHERE rid=? AND kind=? AND name=?", (done.sha, rid, kind, name))
        if kind == "branch" and name == MAIN:
            conn.execute("UPDATE repos SET main_sha=? WHERE rid=?", (done.sha, rid))
            if any(op.path == README for op in request.ops):
                self._set_card(conn, rid, files.get(README))
        if kind == "pr":
            self._add_event(
                conn, rid, int(name), "commit", request.author, {"subject": request.title, "oid": done.sha}
            )
        return done

    def _write_commit(
        self,
        conn: sqlite3.Connection,
        rid: int,
        key: RepoKey,
        parent: CommitRecord,
        files: dict[str, FileEntry],
        title: str,
        message: str,
        author: str,
        stamp: str,
    ) -> CommitRecord:
        """Store the tree of ``files`` and a commit of it on top of ``parent`` (no ref moves)."""
        entries = list(files.values())
        tree_id = tree_id_of(entries)
        insert_tree(conn, tree_id, entries)
        sha = commit_sha(key, parent.sha, tree_id, title, message, author, stamp)
        conn.execute(
            "INSERT INTO commits VALUES (?,?,?,?,?,?,?,?)",
            (rid, sha, parent.sha, tree_id, title, message, author, stamp),
        )
        conn.execute("UPDATE repos SET last_modified=? WHERE rid=?", (stamp, rid))
        return CommitRecord(sha, parent.sha, title, message, author, stamp, tree_id)

    def _require_open(self, conn: sqlite3.Connection, rid: int, num: int) -> None:
        row = conn.execute("SELECT status FROM pulls WHERE rid=? AND num=?", (rid, num)).fetchone()
        if row is None or row[0] not in ("open", "draft"):
            state = "missing" if row is None else row[0]
            raise errors.BadRequest(f"pull request #{num} is {state}: it takes no more commits")

    def _add_event(
        self, conn: sqlite3.Connection, rid: int, num: int, kind: str, author: str, data: dict[str, Any]
    ) -> PullEvent:
        seq = conn.execute(
            "SELECT COALESCE(MAX(seq), 0) + 1 FROM pull_events WHERE rid=? AND num=?", (rid, num)
        ).fetchone()[0]
        event = PullEvent(secrets.token_hex(12), kind, author, now_iso(), data)
        conn.execute(
            "INSERT INTO pull_events VALUES (?,?,?,?,?,?,?,?)",
            (rid, num, seq, event.id, kind, author, event.created_at, json.dumps(data)),
        )
        return event

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
