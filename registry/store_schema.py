"""The SQLite schema of :class:`FilesystemStorage` and the row -> record conversions."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from nnparts.registry.records import CommitRecord, FileEntry, RepoKey, RepoRecord

SCHEMA = """
CREATE TABLE IF NOT EXISTS repos(
    rid INTEGER PRIMARY KEY,
    type TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
    full_id TEXT NOT NULL, lower_id TEXT NOT NULL, lower_ns TEXT NOT NULL,
    private INTEGER NOT NULL, created_at TEXT NOT NULL, last_modified TEXT NOT NULL,
    main_sha TEXT, tags TEXT NOT NULL DEFAULT '[]', card_data TEXT NOT NULL DEFAULT '{}',
    UNIQUE(type, lower_id));
CREATE INDEX IF NOT EXISTS repos_ns ON repos(type, lower_ns, lower_id);
CREATE INDEX IF NOT EXISTS repos_modified ON repos(type, last_modified);
CREATE INDEX IF NOT EXISTS repos_created ON repos(type, created_at);
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
CREATE TABLE IF NOT EXISTS pulls(
    rid INTEGER NOT NULL, num INTEGER NOT NULL, title TEXT NOT NULL, author TEXT NOT NULL,
    status TEXT NOT NULL, created_at TEXT NOT NULL, is_pr INTEGER NOT NULL,
    base TEXT, base_sha TEXT, merge_commit TEXT, PRIMARY KEY(rid, num)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pull_events(
    rid INTEGER NOT NULL, num INTEGER NOT NULL, seq INTEGER NOT NULL, id TEXT NOT NULL,
    type TEXT NOT NULL, author TEXT NOT NULL, created_at TEXT NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY(rid, num, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS refs(
    rid INTEGER NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL, sha TEXT NOT NULL,
    PRIMARY KEY(rid, kind, name)) WITHOUT ROWID;
"""

#: A trigram index of ``repos.lower_id`` for ``search`` (SQLite FTS5), kept by triggers in the
#: writer's own transaction. Case-sensitive over the already lowercased ids, so a match of the
#: quoted search is exactly a candidate of ``instr(lower_id, search)`` (which still filters).
SEARCH_SCHEMA = (
    "CREATE VIRTUAL TABLE repo_trigrams USING fts5(lower_id, content='repos', content_rowid='rid',"
    " tokenize='trigram case_sensitive 1')",
    "CREATE TRIGGER repo_trigrams_ai AFTER INSERT ON repos BEGIN"
    " INSERT INTO repo_trigrams(rowid, lower_id) VALUES (new.rid, new.lower_id); END",
    "CREATE TRIGGER repo_trigrams_ad AFTER DELETE ON repos BEGIN"
    " INSERT INTO repo_trigrams(repo_trigrams, rowid, lower_id) VALUES ('delete', old.rid, old.lower_id); END",
    "CREATE TRIGGER repo_trigrams_au AFTER UPDATE OF lower_id ON repos BEGIN"
    " INSERT INTO repo_trigrams(repo_trigrams, rowid, lower_id) VALUES ('delete', old.rid, old.lower_id);"
    " INSERT INTO repo_trigrams(rowid, lower_id) VALUES (new.rid, new.lower_id); END",
    "INSERT INTO repo_trigrams(repo_trigrams) VALUES ('rebuild')",
)

REPO_COLS = (
    "r.type, r.namespace, r.name, r.private, r.created_at, r.last_modified, r.main_sha, r.tags, r.card_data"
).replace("r.", "")
COMMIT_COLS = "c.sha, c.parent, c.title, c.message, c.author, c.date, c.tree_id".replace("c.", "")


def repo_from_row(row: Sequence[Any]) -> RepoRecord:
    return RepoRecord(
        key=RepoKey(row[0], row[1], row[2]),
        private=bool(row[3]),
        created_at=row[4],
        last_modified=row[5],
        sha=row[6],
        tags=tuple(json.loads(row[7])),
        card_data=json.loads(row[8]),
    )


def commit_from_row(row: Sequence[Any]) -> CommitRecord:
    return CommitRecord(row[0], row[1], row[2], row[3], row[4], row[5], row[6])


def migrate(conn: sqlite3.Connection) -> bool:
    """Create missing tables; a store older than ``repo_blobs`` grants each repo its history, one
    older than ``repo_trigrams`` gets the index built. Returns whether the search index exists
    (``False`` where SQLite lacks FTS5: search then scans)."""
    had_grants = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name='repo_blobs'"
    ).fetchone()
    conn.executescript(SCHEMA)
    if not had_grants:
        conn.execute(
            "INSERT OR IGNORE INTO repo_blobs SELECT DISTINCT c.rid, t.sha256"
            " FROM commits c JOIN trees t ON t.tree_id = c.tree_id"
        )
    conn.execute("BEGIN IMMEDIATE")  # one process builds it, with the index filled, or none does
    try:
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name='repo_trigrams'").fetchone() is None:
            for statement in SEARCH_SCHEMA:
                conn.execute(statement)
    except sqlite3.OperationalError:  # no FTS5 in this SQLite: search scans
        conn.execute("ROLLBACK")
        return False
    conn.execute("COMMIT")
    return True


def insert_tree(conn: sqlite3.Connection, tree_id: str, entries: Sequence[FileEntry]) -> None:
    """Store a tree's rows unless a tree with that content id exists (trees are shared by content)."""
    if conn.execute("SELECT 1 FROM trees WHERE tree_id=? LIMIT 1", (tree_id,)).fetchone() is None:
        conn.executemany(
            "INSERT INTO trees VALUES (?,?,?,?,?,?)",
            [(tree_id, f.path, f.sha256, f.size, f.git_oid, int(f.lfs)) for f in entries],
        )
