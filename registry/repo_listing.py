"""SQL of repository listings and bulk imports (``Storage.list_repos``, ``Storage.import_repos``).

A listing is one indexed query: keyset pagination on the lowercase id (or on a date, then the id),
the namespace from the ``repos_ns`` index, the tags from the ``(tag, rid)`` key of ``repo_tags``.

Tags: SQLite's planner cannot tell a rare tag from a common one, and an ``IN (SELECT rid ...)`` per
tag made it materialise every tag's rid list (100k rids for a tag on every repo: 35-70 ms at 100k
repos). So :func:`driving_tag` first counts each tag's rows up to :data:`DRIVE_MAX` (an index range,
at most that many steps per tag) and the rarest tag under that bound drives the query (``IN``, at
most :data:`DRIVE_MAX` rows, then sorted); every other tag is an ``EXISTS`` probe of the key. When
every tag is common the query walks the id (or date) order and probes each row, which stops after
``limit`` matches: dense matches are found at once, and the worst case (common tags whose
intersection is tiny) is one pass over the type's repos.

Search: ``instr`` over the ``(type, lower_id)`` index was one pass over every repo (17-45 ms at
100k). Where the store has the trigram index (``repo_trigrams``, :mod:`store_schema`) and the
search has at least 3 characters, :func:`rare_search` counts its candidates up to
:data:`DRIVE_MAX` and, under that bound, they drive the query (``instr`` still decides); a common
or short search walks the id order as before and stops after ``limit`` matches.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from nnparts.registry.records import RepoImport, RepoQuery
from nnparts.registry.store_schema import REPO_COLS

#: The column behind each date sort of :class:`RepoQuery` (each has an index with the type).
DATE_COLUMNS = {"lastModified": "last_modified", "createdAt": "created_at"}
#: A tag on at most this many repos drives a listing (see the module docstring).
DRIVE_MAX = 4096
#: The shortest search the trigram index can answer.
TRIGRAM = 3
_R_COLS = ", ".join(f"r.{c}" for c in REPO_COLS.split(", "))
_EXISTS_TAG = "EXISTS (SELECT 1 FROM repo_tags t WHERE t.tag = ? AND t.rid = r.rid)"


def driving_tag(conn: sqlite3.Connection, tags: Sequence[str], *, bound: int = DRIVE_MAX) -> str | None:
    """The rarest of ``tags`` if it is on at most ``bound`` repos, else ``None``.

    Cost: at most ``bound + 1`` index steps per tag; stops at a tag no repo has.
    """
    best: tuple[int, str] | None = None
    for tag in tags:
        (count,) = conn.execute(
            "SELECT count(*) FROM (SELECT 1 FROM repo_tags WHERE tag = ? LIMIT ?)", (tag, bound + 1)
        ).fetchone()
        if count <= bound and (best is None or count < best[0]):
            best = (count, tag)
            if count == 0:
                break
    return None if best is None else best[1]


def trigram_phrase(search: str) -> str:
    """``search`` (lowercased) as one quoted FTS5 phrase: every character literal."""
    return '"' + search.lower().replace('"', '""') + '"'


def rare_search(conn: sqlite3.Connection, search: str, *, bound: int = DRIVE_MAX) -> bool:
    """Whether ``search`` has at most ``bound`` trigram candidates (``False`` under 3 characters).

    Cost: at most ``bound + 1`` steps of the trigram index.
    """
    if len(search.lower()) < TRIGRAM:
        return False
    (count,) = conn.execute(
        "SELECT count(*) FROM (SELECT 1 FROM repo_trigrams WHERE repo_trigrams MATCH ? LIMIT ?)",
        (trigram_phrase(search), bound + 1),
    ).fetchone()
    return bool(count <= bound)


def list_sql(query: RepoQuery, *, drive: str | None = None, trigrams: bool = False) -> tuple[str, list[Any]]:
    """The ``SELECT`` (columns :data:`REPO_COLS`) and its arguments for ``query``; ``drive`` is
    the tag of ``query.tags`` the query starts from (:func:`driving_tag`), ``None`` for none;
    ``trigrams``: the search's candidates from ``repo_trigrams`` drive it (:func:`rare_search`)."""
    where = ["r.type = ?"]
    args: list[Any] = [query.type]
    order = "r.lower_id"
    if query.sort != "id":
        column = DATE_COLUMNS[query.sort]
        order = f"r.{column} DESC, r.lower_id"
        if query.after is not None:
            value, _, last_id = query.after.partition("|")
            where.append(f"(r.{column} < ? OR (r.{column} = ? AND r.lower_id > ?))")
            args += [value, value, last_id.lower()]
    elif query.after is not None:
        where.append("r.lower_id > ?")
        args.append(query.after.lower())
    if query.author:
        where.append("r.lower_ns = ?")
        args.append(query.author.lower())
    # The driver is the left side of a CROSS JOIN, which SQLite never reorders: without that, stale
    # or missing statistics (a connection opened before a bulk import) made it walk the id order.
    source = "repos r"
    if query.search:
        if trigrams and len(query.search.lower()) >= TRIGRAM:  # no shorter match exists in it
            if drive in query.tags:  # the tag drives; the candidates are a probed list
                where.append("r.rid IN (SELECT rowid FROM repo_trigrams WHERE repo_trigrams MATCH ?)")
            else:
                source = "repo_trigrams CROSS JOIN repos r"
                where.append("repo_trigrams MATCH ? AND r.rid = repo_trigrams.rowid")
            args.append(trigram_phrase(query.search))
        where.append("instr(r.lower_id, ?) > 0")
        args.append(query.search.lower())
    for tag in query.tags:
        if tag == drive:
            source = "repo_tags d CROSS JOIN repos r"
            where.append("d.tag = ? AND r.rid = d.rid")
        else:
            where.append(_EXISTS_TAG)
        args.append(tag)
    if query.visible_private is not None:
        marks = ",".join("?" * len(query.visible_private))
        where.append(f"(r.private = 0 OR r.lower_ns IN ({marks}))")
        args.extend(sorted(ns.lower() for ns in query.visible_private))
    sql = f"SELECT {_R_COLS} FROM {source} WHERE {' AND '.join(where)} ORDER BY {order} LIMIT ?"
    args.append(query.limit)
    return sql, args


def import_rows(conn: sqlite3.Connection, repos: Sequence[RepoImport], stamp: str) -> int:
    """Insert ``repos`` (existing ids skipped) in the caller's transaction; return the count added."""
    added = 0
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
            conn.executemany("INSERT OR IGNORE INTO repo_tags VALUES (?,?)", [(t, rid) for t in item.tags])
    return added


def usage_rows(conn: sqlite3.Connection, namespace: str, *, offset: int, limit: int) -> tuple[list[Any], int]:
    """A page of ``namespace``'s repos (:data:`REPO_COLS` plus the bytes granted to each) and
    the bytes of the whole namespace."""
    granted = (
        "(SELECT COALESCE(SUM(b.size), 0) FROM repo_blobs g JOIN blobs b ON b.sha256 = g.sha256"
        " WHERE g.rid = r.rid)"
    )
    rows = conn.execute(
        f"SELECT {REPO_COLS}, {granted} FROM repos r WHERE r.lower_ns=? ORDER BY r.lower_id, r.type"
        " LIMIT ? OFFSET ?",
        (namespace.lower(), limit, offset),
    ).fetchall()
    total = conn.execute(
        "SELECT COALESCE(SUM(b.size), 0) FROM repos r JOIN repo_blobs g ON g.rid = r.rid"
        " JOIN blobs b ON b.sha256 = g.sha256 WHERE r.lower_ns=?",
        (namespace.lower(),),
    ).fetchone()[0]
    return rows, int(total)
