"""Discussions and pull requests of :class:`FilesystemStorage`.

A pull request is a ref ``refs/pr/<num>`` started at the head of its base branch; commits go to it
like to a branch, each one recorded as a ``commit`` event. Merging applies what the pull request
changed since it started onto the base branch's head (:mod:`merge`) as one commit, or refuses with
the conflicting paths. Numbers are shared by discussions and pull requests, per repo. Blobs need no
care: a pull request's uploads were sent to this repo, so the merge may reference them.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace

from nnparts.registry import errors
from nnparts.registry.fs_history import FsHistory
from nnparts.registry.merge import conflicts, merge
from nnparts.registry.records import (
    MAIN,
    README,
    CommitRecord,
    CommitRequest,
    FileEntry,
    PullEvent,
    PullQuery,
    PullRecord,
    PullStatus,
    RepoKey,
)
from nnparts.registry.trees import now_iso

_STATUSES: dict[str, PullStatus] = {"open": "open", "closed": "closed", "merged": "merged", "draft": "draft"}
_PULL_COLS = (
    "p.num, p.title, p.author, p.status, p.created_at, p.is_pr, p.base, p.base_sha, r.sha, p.merge_commit"
)


class FsPulls(FsHistory):
    """Discussions, pull requests and their events."""

    def open_pull(
        self, key: RepoKey, *, title: str, description: str, author: str, pull_request: bool
    ) -> PullRecord:
        with self._write() as conn:
            rid = self._rid(conn, key)
            num = self._new_pull(conn, rid, key, title, description, author, pull_request=pull_request)
            return self._pull_in(conn, rid, key, num)

    def commit_pull(self, request: CommitRequest, *, description: str) -> tuple[PullRecord, CommitRecord]:
        with self._write() as conn:
            rid = self._rid(conn, request.key)
            num = self._new_pull(
                conn,
                rid,
                request.key,
                request.title,
                description,
                request.author,
                pull_request=True,
                base=request.branch,
            )
            done = self._commit_in(conn, rid, replace(request, branch=f"refs/pr/{num}"))
            return self._pull_in(conn, rid, request.key, num), done

    def _new_pull(
        self,
        conn: sqlite3.Connection,
        rid: int,
        key: RepoKey,
        title: str,
        description: str,
        author: str,
        *,
        pull_request: bool,
        base: str = MAIN,
    ) -> int:
        num = int(
            conn.execute("SELECT COALESCE(MAX(num), 0) + 1 FROM pulls WHERE rid=?", (rid,)).fetchone()[0]
        )
        base_sha = None
        if pull_request:
            base = base.removeprefix("refs/heads/")
            row = conn.execute(
                "SELECT sha FROM refs WHERE rid=? AND kind='branch' AND name=?", (rid, base)
            ).fetchone()
            if row is None:
                raise errors.RevisionNotFound(f"branch {base!r} not found in {key.id!r}")
            base_sha = str(row[0])
            conn.execute("INSERT INTO refs VALUES (?,?,?,?)", (rid, "pr", str(num), base_sha))
        conn.execute(
            "INSERT INTO pulls VALUES (?,?,?,?,?,?,?,?,?,?)",
            (rid, num, title, author, "open", now_iso(), int(pull_request),
             base if pull_request else None, base_sha, None),
        )  # fmt: skip
        self._add_event(conn, rid, num, "comment", author, _comment_data(description, author))
        return num

    def pulls(self, key: RepoKey, query: PullQuery) -> tuple[list[PullRecord], int]:
        conn = self._conn()
        where: list[str] = ["p.rid=?"]
        args: list[int | str] = [self._rid(conn, key)]
        if query.status is not None:
            where.append("p.status=?")
            args.append(query.status)
        if query.kind is not None:
            where.append("p.is_pr=?")
            args.append(int(query.kind == "pull_request"))
        if query.author is not None:
            where.append("p.author=?")
            args.append(query.author)
        sql = f"FROM pulls p LEFT JOIN refs r ON r.rid=p.rid AND r.kind='pr' AND r.name=CAST(p.num AS TEXT) WHERE {' AND '.join(where)}"
        total = int(conn.execute(f"SELECT COUNT(*) {sql}", args).fetchone()[0])
        rows = conn.execute(
            f"SELECT {_PULL_COLS} {sql} ORDER BY p.num DESC LIMIT ? OFFSET ?",
            [*args, query.limit, query.offset],
        )
        return [_pull_from_row(r) for r in rows], total

    def pull(self, key: RepoKey, num: int) -> PullRecord:
        conn = self._conn()
        return self._pull_in(conn, self._rid(conn, key), key, num)

    def _pull_in(self, conn: sqlite3.Connection, rid: int, key: RepoKey, num: int) -> PullRecord:
        row = conn.execute(
            f"SELECT {_PULL_COLS} FROM pulls p LEFT JOIN refs r ON r.rid=p.rid AND r.kind='pr'"
            " AND r.name=CAST(p.num AS TEXT) WHERE p.rid=? AND p.num=?",
            (rid, num),
        ).fetchone()
        if row is None:
            raise errors.EntryNotFound(f"discussion #{num} not found in {key.id!r}")
        return _pull_from_row(row)

    def pull_events(self, key: RepoKey, num: int) -> list[PullEvent]:
        conn = self._conn()
        rid = self._rid(conn, key)
        self._pull_in(conn, rid, key, num)
        rows = conn.execute(
            "SELECT id, type, author, created_at, data FROM pull_events WHERE rid=? AND num=? ORDER BY seq",
            (rid, num),
        )
        return [PullEvent(r[0], r[1], r[2], r[3], json.loads(r[4])) for r in rows]

    def comment_pull(self, key: RepoKey, num: int, *, author: str, text: str) -> PullEvent:
        with self._write() as conn:
            rid = self._rid(conn, key)
            self._pull_in(conn, rid, key, num)
            return self._add_event(conn, rid, num, "comment", author, _comment_data(text, author))

    def retitle_pull(self, key: RepoKey, num: int, *, author: str, title: str) -> PullEvent:
        with self._write() as conn:
            rid = self._rid(conn, key)
            old = self._pull_in(conn, rid, key, num).title
            conn.execute("UPDATE pulls SET title=? WHERE rid=? AND num=?", (title, rid, num))
            return self._add_event(conn, rid, num, "title-change", author, {"from": old, "to": title})

    def set_pull_status(
        self, key: RepoKey, num: int, status: PullStatus, *, author: str, comment: str
    ) -> PullEvent:
        with self._write() as conn:
            rid = self._rid(conn, key)
            if self._pull_in(conn, rid, key, num).status == "merged":
                raise errors.BadRequest(f"pull request #{num} is merged: its status cannot change")
            return self._status_in(conn, rid, num, status, author, comment)

    def _status_in(
        self, conn: sqlite3.Connection, rid: int, num: int, status: PullStatus, author: str, comment: str
    ) -> PullEvent:
        conn.execute("UPDATE pulls SET status=? WHERE rid=? AND num=?", (status, rid, num))
        if comment:
            self._add_event(conn, rid, num, "comment", author, _comment_data(comment, author))
        return self._add_event(conn, rid, num, "status-change", author, {"status": status})

    def pull_conflicts(self, key: RepoKey, pull: PullRecord) -> list[str]:
        if not pull.is_pull_request or pull.status not in ("open", "draft") or pull.head is None:
            return []
        conn = self._conn()
        rid = self._rid(conn, key)
        return conflicts(*self._three_trees(conn, rid, key, pull))

    def _three_trees(
        self, conn: sqlite3.Connection, rid: int, key: RepoKey, pull: PullRecord
    ) -> tuple[dict[str, FileEntry], dict[str, FileEntry], dict[str, FileEntry]]:
        if pull.base is None or pull.base_sha is None or pull.head is None:
            raise errors.BadRequest(f"#{pull.num} is a discussion, not a pull request")
        trees = []
        for sha in (pull.base_sha, self._resolve(conn, rid, key, f"refs/heads/{pull.base}").sha, pull.head):
            commit = self._commit_row(conn, rid, sha, key, sha)
            trees.append({f.path: f for f in self._files_in(conn, commit.tree_id)})
        return trees[0], trees[1], trees[2]

    def merge_pull(self, key: RepoKey, num: int, *, author: str, comment: str) -> tuple[str, CommitRecord]:
        with self._write() as conn:
            rid = self._rid(conn, key)
            pull = self._pull_in(conn, rid, key, num)
            if not pull.is_pull_request or pull.base is None:
                raise errors.BadRequest(f"#{num} is a discussion, not a pull request")
            self._require_open(conn, rid, num)
            base, ours, theirs = self._three_trees(conn, rid, key, pull)
            files, clashes = merge(base, ours, theirs)
            if clashes:
                raise errors.MergeConflict(num, clashes)
            head = self._resolve(conn, rid, key, f"refs/heads/{pull.base}")
            done = self._write_commit(
                conn, rid, key, head, files, pull.title, f"Merge of pull request #{num}", author, now_iso()
            )
            conn.execute(
                "UPDATE refs SET sha=? WHERE rid=? AND kind='branch' AND name=?", (done.sha, rid, pull.base)
            )
            if pull.base == MAIN:
                conn.execute("UPDATE repos SET main_sha=? WHERE rid=?", (done.sha, rid))
                self._set_card(conn, rid, files.get(README))
            conn.execute("UPDATE pulls SET merge_commit=? WHERE rid=? AND num=?", (done.sha, rid, num))
            self._status_in(conn, rid, num, "merged", author, comment)
            return pull.base, done


def _pull_from_row(r: tuple[object, ...]) -> PullRecord:
    return PullRecord(
        num=int(str(r[0])),
        title=str(r[1]),
        author=str(r[2]),
        status=_STATUSES[str(r[3])],
        created_at=str(r[4]),
        is_pull_request=bool(r[5]),
        base=None if r[6] is None else str(r[6]),
        base_sha=None if r[7] is None else str(r[7]),
        head=None if r[8] is None else str(r[8]),
        merge_commit=None if r[9] is None else str(r[9]),
    )


def _comment_data(text: str, author: str) -> dict[str, object]:
    return {
        "edited": False,
        "hidden": False,
        "numEdits": 0,
        "editors": [author],
        "latest": {"raw": text, "html": "", "updatedAt": now_iso(), "author": {"name": author}},
        "history": [],
    }
