"""History of :class:`FilesystemStorage`: first-parent logs, last commits per path, squashing a
branch and rewriting the history without some LFS files (:mod:`rewrite`, :mod:`last_commit`).
"""

from __future__ import annotations

from collections.abc import Sequence

from nnparts.registry import errors
from nnparts.registry.fs_commits import FsCommits
from nnparts.registry.last_commit import last_commits
from nnparts.registry.records import (
    CommitRecord,
    LfsFileRecord,
    RepoKey,
)
from nnparts.registry.rewrite import drop_lfs, prune
from nnparts.registry.store_schema import (
    commit_from_row,
)
from nnparts.registry.trees import commit_sha, now_iso, tree_id_of


class FsHistory(FsCommits):
    """Reading and rewriting commit history."""

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
            for column in ("base_sha", "merge_commit"):
                conn.executemany(
                    f"UPDATE pulls SET {column}=? WHERE rid=? AND {column}=?",
                    [(new, rid, old) for old, new in moved.items()],
                )
            pruned = prune(conn, rid)
        self._collect(pruned)
        return moved
