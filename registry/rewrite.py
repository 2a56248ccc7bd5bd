"""History rewrites inside one repository: squash a branch, drop LFS files from every commit.

Both run inside the caller's write transaction on the repo's own rows only (``rid``): trees are
shared by content across repositories, so a rewrite never changes a tree, it adds new ones. After a
rewrite :func:`prune` deletes the repo's commits no ref reaches any more and the repo's blob grants
that no remaining commit uses; it returns what the blob collector should look at (the freed trees
and blobs), so the storage of a squashed or cleaned history is given back at once unless another
repository references the same content.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from nnparts.registry.records import CommitRecord, FileEntry
from nnparts.registry.store_schema import insert_tree

#: ``(parent, tree_id, title, message, author, date) -> sha`` of a commit of this repo.
ShaOf = Callable[[str | None, str, str, str, str, str], str]


@dataclass(frozen=True)
class Pruned:
    """What :func:`prune` removed: candidate trees and blobs for the collector."""

    trees: tuple[str, ...]
    blobs: tuple[str, ...]


def prune(conn: sqlite3.Connection, rid: int) -> Pruned:
    """Delete the commits of ``rid`` that no ref (and no pull request's merge base) reaches, then
    the grants of blobs that only those commits used (uploads awaiting a commit keep theirs: no
    tree holds them)."""
    reach = (
        "WITH RECURSIVE reach(sha) AS (SELECT sha FROM refs WHERE rid=:rid"
        " UNION SELECT base_sha FROM pulls WHERE rid=:rid AND base_sha IS NOT NULL UNION"
        " SELECT c.parent FROM commits c JOIN reach ON c.sha = reach.sha AND c.rid = :rid"
        " WHERE c.parent IS NOT NULL) "
    )
    doomed = [
        str(r[0])
        for r in conn.execute(
            reach + "SELECT tree_id FROM commits WHERE rid=:rid AND sha NOT IN reach", {"rid": rid}
        )
    ]
    if not doomed:
        return Pruned((), ())
    conn.execute(reach + "DELETE FROM commits WHERE rid=:rid AND sha NOT IN reach", {"rid": rid})
    old = _blobs_of(conn, doomed)
    kept = _blobs_of(
        conn, [str(r[0]) for r in conn.execute("SELECT tree_id FROM commits WHERE rid=?", (rid,))]
    )
    freed = sorted(old - kept)
    conn.executemany("DELETE FROM repo_blobs WHERE rid=? AND sha256=?", [(rid, s) for s in freed])
    return Pruned(tuple(dict.fromkeys(doomed)), tuple(freed))


def _blobs_of(conn: sqlite3.Connection, trees: Iterable[str]) -> set[str]:
    out: set[str] = set()
    for tree_id in set(trees):
        out.update(str(r[0]) for r in conn.execute("SELECT sha256 FROM trees WHERE tree_id=?", (tree_id,)))
    return out


def drop_lfs(
    conn: sqlite3.Connection,
    rid: int,
    doomed: set[str],
    *,
    files_in: Callable[[str], list[FileEntry]],
    tree_of: Callable[[list[FileEntry]], str],
    sha_of: ShaOf,
) -> dict[str, str]:
    """Rewrite every commit of ``rid`` without the LFS files whose sha256 is in ``doomed``.

    Commits are rewritten parents first; a commit whose tree and parent are unchanged keeps its
    sha. Returns ``old sha -> new sha`` of the changed ones
    (the caller moves the refs; the old commits are left for :func:`prune`)."""

    def without(tree_id: str) -> str:
        files = files_in(tree_id)
        kept = [f for f in files if not (f.lfs and f.sha256 in doomed)]
        if len(kept) == len(files):
            return tree_id
        new_id = tree_of(kept)
        insert_tree(conn, new_id, kept)
        return new_id

    rows = conn.execute(
        "SELECT sha, parent, tree_id, title, message, author, date FROM commits WHERE rid=?", (rid,)
    ).fetchall()
    commits = {str(r[0]): CommitRecord(r[0], r[1], r[3], r[4], r[5], r[6], r[2]) for r in rows}
    children: dict[str | None, list[str]] = {}
    for c in commits.values():
        children.setdefault(c.parent if c.parent in commits else None, []).append(c.sha)
    new_tree: dict[str, str] = {}
    moved: dict[str, str] = {}
    queue = list(children.get(None, []))
    while queue:
        sha = queue.pop()
        queue.extend(children.get(sha, []))
        c = commits[sha]
        if c.tree_id not in new_tree:
            new_tree[c.tree_id] = without(c.tree_id)
        tree_id = new_tree[c.tree_id]
        parent = moved.get(c.parent, c.parent) if c.parent is not None else None
        if tree_id == c.tree_id and parent == c.parent:
            continue
        new_sha = sha_of(parent, tree_id, c.title, c.message, c.author, c.date)
        conn.execute(
            "INSERT OR IGNORE INTO commits VALUES (?,?,?,?,?,?,?,?)",
            (rid, new_sha, parent, tree_id, c.title, c.message, c.author, c.date),
        )
        moved[sha] = new_sha
    return moved
