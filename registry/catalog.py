"""The web catalogue: one SQLite row per module manifest stored on the server, for the HTML pages.

The catalogue is derived data, rebuilt from what the server stores (see :mod:`catalog_sync`); it
never feeds the Hub API. It lives beside the registry database::

    <root>/
    └── catalog.sqlite3         modules, module_terms, synced, yanks, yank_files (WAL mode)

- ``modules``: one row per ``manifest.json`` on the ``main`` branch of a model repo, keyed by
  ``(repo, path)`` where ``path`` is the folder holding the manifest (``""`` for the repo root).
- ``module_terms``: each class name and alias of a module, case-folded (class search).
- ``synced``: the head each repo was catalogued at, so a restart only re-reads repos that moved.
- ``yanks``: ``(namespace, id, version)`` marked ``"yanked": true`` in an index dataset repo's JSON;
  ``yank_files`` remembers which file said so, so a changed file replaces only its own rows.

Visibility is decided per query: a row of a private repo appears only when its namespace is in the
caller's readable set (``None`` = every namespace). Costs: a search is one indexed query plus a count.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nnparts.registry.sqlite_pool import SqlitePool

_SCHEMA = """
CREATE TABLE IF NOT EXISTS modules(
    repo TEXT NOT NULL, path TEXT NOT NULL, lower_ns TEXT NOT NULL, commit_sha TEXT NOT NULL,
    manifest_sha256 TEXT NOT NULL, id TEXT NOT NULL, version TEXT NOT NULL, kind TEXT NOT NULL,
    classes TEXT NOT NULL, class_key TEXT NOT NULL, origin TEXT NOT NULL, dataset TEXT NOT NULL,
    method TEXT NOT NULL, granularity TEXT NOT NULL, density REAL NOT NULL, accuracy REAL,
    bytes INTEGER NOT NULL, published TEXT NOT NULL, private INTEGER NOT NULL,
    PRIMARY KEY(repo, path));
CREATE INDEX IF NOT EXISTS modules_id ON modules(id, version);
CREATE INDEX IF NOT EXISTS modules_origin ON modules(origin);
CREATE INDEX IF NOT EXISTS modules_published ON modules(published);
CREATE TABLE IF NOT EXISTS module_terms(
    term TEXT NOT NULL, is_alias INTEGER NOT NULL, repo TEXT NOT NULL, path TEXT NOT NULL,
    PRIMARY KEY(term, repo, path)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS module_terms_owner ON module_terms(repo, path);
CREATE TABLE IF NOT EXISTS synced(
    repo_type TEXT NOT NULL, repo TEXT NOT NULL, head TEXT NOT NULL,
    PRIMARY KEY(repo_type, repo)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS yank_files(
    repo TEXT NOT NULL, file TEXT NOT NULL, sha256 TEXT NOT NULL, PRIMARY KEY(repo, file)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS yanks(
    repo TEXT NOT NULL, file TEXT NOT NULL, lower_ns TEXT NOT NULL, id TEXT NOT NULL,
    version TEXT NOT NULL, reason TEXT NOT NULL, PRIMARY KEY(repo, file, id, version)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS yanks_module ON yanks(lower_ns, id, version);
"""

_YANK = "(SELECT y.reason FROM yanks y WHERE y.lower_ns = m.lower_ns AND y.id = m.id AND y.version = m.version LIMIT 1)"
_COLS = (
    "m.repo, m.path, m.commit_sha, m.manifest_sha256, m.id, m.version, m.kind, m.classes, m.origin,"
    f" m.dataset, m.method, m.granularity, m.density, m.accuracy, m.bytes, m.published, m.private, {_YANK}"
)
#: Sortable columns of the search page -> SQL expression.
SORTS = {
    "class": "m.class_key",
    "origin": "m.origin",
    "method": "m.method",
    "density": "m.density",
    "accuracy": "m.accuracy",
    "size": "m.bytes",
    "published": "m.published",
    "id": "m.id",
}


@dataclass(frozen=True)
class ModuleRow:
    """One catalogued module version. ``yank_reason`` is ``None`` unless the module is yanked."""

    repo: str
    path: str
    commit: str
    manifest_sha256: str
    id: str
    version: str
    kind: str
    classes: tuple[str, ...]
    origin: str
    dataset: str
    method: str
    granularity: str
    density: float
    accuracy: float | None
    bytes: int
    published: str
    private: bool
    yank_reason: str | None = None

    @property
    def yanked(self) -> bool:
        return self.yank_reason is not None

    @property
    def namespace(self) -> str:
        return self.repo.split("/", 1)[0]


@dataclass(frozen=True)
class NewModule:
    """What :meth:`Catalog.upsert` stores: a row plus the class names and aliases to search by."""

    row: ModuleRow
    aliases: tuple[str, ...]


@dataclass(frozen=True)
class Filters:
    """A search: ``term`` is a case-folded class name or alias (``""`` = all); ``exact=False``
    matches it as a substring. ``visible`` = namespaces whose private rows the caller sees."""

    visible: frozenset[str] | None
    term: str = ""
    exact: bool = True
    origin: str = ""
    method: str = ""
    min_accuracy: float | None = None
    max_density: float | None = None
    include_yanked: bool = False


@dataclass(frozen=True)
class Stats:
    modules: int
    origins: int
    classes: int


class Catalog:
    """The catalogue database; safe to use from several threads (one connection per thread)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = SqlitePool(path)
        with self._db.write_lock:
            self._conn().executescript(_SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        return self._db.conn()

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:
        return self._db.write()

    def close(self) -> None:
        self._db.close()

    # -- writes (catalog_sync) ---------------------------------------------------------------------

    def synced_head(self, repo_type: str, repo: str) -> str | None:
        row = (
            self._conn()
            .execute("SELECT head FROM synced WHERE repo_type=? AND repo=?", (repo_type, repo))
            .fetchone()
        )
        return None if row is None else str(row[0])

    def synced_repos(self, repo_type: str) -> list[str]:
        rows = self._conn().execute("SELECT repo FROM synced WHERE repo_type=?", (repo_type,))
        return [str(r[0]) for r in rows]

    def manifest_shas(self, repo: str) -> dict[str, str]:
        """``path -> manifest sha256`` of the rows of ``repo``."""
        rows = self._conn().execute("SELECT path, manifest_sha256 FROM modules WHERE repo=?", (repo,))
        return {str(r[0]): str(r[1]) for r in rows}

    def yank_file_shas(self, repo: str) -> dict[str, str]:
        rows = self._conn().execute("SELECT file, sha256 FROM yank_files WHERE repo=?", (repo,))
        return {str(r[0]): str(r[1]) for r in rows}

    def apply_model_repo(
        self, repo: str, head: str, *, private: bool, upserts: Sequence[NewModule], removed: Sequence[str]
    ) -> None:
        """Record a model repo at ``head``: add or replace ``upserts``, drop the ``removed`` paths."""
        with self._write() as conn:
            for path in [*removed, *(n.row.path for n in upserts)]:
                conn.execute("DELETE FROM modules WHERE repo=? AND path=?", (repo, path))
                conn.execute("DELETE FROM module_terms WHERE repo=? AND path=?", (repo, path))
            for new in upserts:
                r = new.row
                conn.execute(
                    "INSERT INTO modules VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (r.repo, r.path, r.namespace.lower(), r.commit, r.manifest_sha256, r.id, r.version,
                     r.kind, "\n".join(r.classes), (r.classes[0] if r.classes else "").casefold(),
                     r.origin, r.dataset, r.method, r.granularity, r.density, r.accuracy, r.bytes,
                     r.published, int(r.private)),
                )  # fmt: skip
                terms = {a.strip().casefold(): 1 for a in new.aliases}
                terms.update({c.strip().casefold(): 0 for c in r.classes})
                conn.executemany(
                    "INSERT OR IGNORE INTO module_terms VALUES (?,?,?,?)",
                    [(t, alias, r.repo, r.path) for t, alias in terms.items() if t],
                )
            conn.execute("UPDATE modules SET private=? WHERE repo=?", (int(private), repo))
            conn.execute("INSERT OR REPLACE INTO synced VALUES ('model', ?, ?)", (repo, head))

    def apply_index_repo(
        self,
        repo: str,
        head: str,
        *,
        files: dict[str, tuple[str, list[tuple[str, str, str]]]],
        removed: Sequence[str],
    ) -> None:
        """Record an index repo at ``head``: ``files`` maps a JSON file to its sha256 and the
        ``(id, version, reason)`` it marks yanked; ``removed`` files lose their yanks."""
        ns = repo.split("/", 1)[0].lower()
        with self._write() as conn:
            for file in [*removed, *files]:
                conn.execute("DELETE FROM yanks WHERE repo=? AND file=?", (repo, file))
                conn.execute("DELETE FROM yank_files WHERE repo=? AND file=?", (repo, file))
            for file, (sha256, yanked) in files.items():
                conn.execute("INSERT INTO yank_files VALUES (?,?,?)", (repo, file, sha256))
                conn.executemany(
                    "INSERT OR REPLACE INTO yanks VALUES (?,?,?,?,?,?)",
                    [(repo, file, ns, mid, version, reason) for mid, version, reason in yanked],
                )
            conn.execute("INSERT OR REPLACE INTO synced VALUES ('dataset', ?, ?)", (repo, head))

    def forget(self, repo_type: str, repo: str) -> None:
        """Drop everything catalogued from a deleted repo."""
        with self._write() as conn:
            conn.execute("DELETE FROM synced WHERE repo_type=? AND repo=?", (repo_type, repo))
            if repo_type == "model":
                conn.execute("DELETE FROM modules WHERE repo=?", (repo,))
                conn.execute("DELETE FROM module_terms WHERE repo=?", (repo,))
            elif repo_type == "dataset":
                conn.execute("DELETE FROM yanks WHERE repo=?", (repo,))
                conn.execute("DELETE FROM yank_files WHERE repo=?", (repo,))

    # -- reads (web) -------------------------------------------------------------------------------

    def search(
        self,
        filters: Filters,
        *,
        sort: str = "published",
        descending: bool = True,
        offset: int = 0,
        limit: int = 25,
    ) -> tuple[list[ModuleRow], int]:
        """A page of matching rows and the total count. ``sort`` is a key of :data:`SORTS`."""
        where, args = _where(filters)
        order = SORTS.get(sort, SORTS["published"])
        direction = "DESC" if descending else "ASC"
        sql = (
            f"SELECT {_COLS} FROM modules m WHERE {where}"
            f" ORDER BY {order} IS NULL, {order} {direction}, m.id, m.version LIMIT ? OFFSET ?"
        )
        conn = self._conn()
        rows = [_row(r) for r in conn.execute(sql, [*args, limit, offset])]
        total = int(conn.execute(f"SELECT count(*) FROM modules m WHERE {where}", args).fetchone()[0])
        return rows, total

    def module(self, repo: str, path: str, visible: frozenset[str] | None) -> ModuleRow | None:
        """The row at ``repo``/``path`` if the caller may see it."""
        where, args = _where(Filters(visible=visible, include_yanked=True))
        sql = f"SELECT {_COLS} FROM modules m WHERE m.repo=? AND m.path=? AND {where}"
        row = self._conn().execute(sql, [repo, path, *args]).fetchone()
        return None if row is None else _row(row)

    def versions(self, module_id: str, visible: frozenset[str] | None) -> list[ModuleRow]:
        """Every visible row of ``module_id`` (all repos), newest publish first."""
        where, args = _where(Filters(visible=visible, include_yanked=True))
        sql = f"SELECT {_COLS} FROM modules m WHERE m.id=? AND {where} ORDER BY m.published DESC, m.version DESC"
        return [_row(r) for r in self._conn().execute(sql, [module_id, *args])]

    def by_origin(self, origin: str, visible: frozenset[str] | None) -> list[ModuleRow]:
        where, args = _where(Filters(visible=visible, origin=origin, include_yanked=True))
        sql = f"SELECT {_COLS} FROM modules m WHERE {where} ORDER BY m.class_key, m.method, m.id, m.version"
        return [_row(r) for r in self._conn().execute(sql, args)]

    def stats(self, visible: frozenset[str] | None) -> Stats:
        where, args = _where(Filters(visible=visible))
        conn = self._conn()
        mods, origins = conn.execute(
            f"SELECT count(*), count(DISTINCT m.origin) FROM modules m WHERE {where}", args
        ).fetchone()
        classes = conn.execute(
            "SELECT count(DISTINCT t.term) FROM module_terms t JOIN modules m"
            f" ON m.repo = t.repo AND m.path = t.path WHERE t.is_alias = 0 AND {where}",
            args,
        ).fetchone()[0]
        return Stats(int(mods), int(origins), int(classes))

    def distinct(self, column: str, visible: frozenset[str] | None) -> list[str]:
        """Distinct values of ``origin`` or ``method`` among visible rows (filter choices)."""
        if column not in ("origin", "method"):
            raise ValueError(f"not a filter column: {column!r}")
        where, args = _where(Filters(visible=visible, include_yanked=True))
        sql = f"SELECT DISTINCT m.{column} FROM modules m WHERE {where} ORDER BY m.{column}"
        return [str(r[0]) for r in self._conn().execute(sql, args)]

    def terms(self, visible: frozenset[str] | None) -> list[str]:
        """Every visible class name and alias, case-folded (for "did you mean")."""
        where, args = _where(Filters(visible=visible, include_yanked=True))
        sql = (
            "SELECT DISTINCT t.term FROM module_terms t JOIN modules m"
            f" ON m.repo = t.repo AND m.path = t.path WHERE {where} ORDER BY t.term"
        )
        return [str(r[0]) for r in self._conn().execute(sql, args)]


def _where(f: Filters) -> tuple[str, list[Any]]:
    clauses: list[str] = ["1=1"]
    args: list[Any] = []
    if f.visible is not None:
        marks = ",".join("?" * len(f.visible))
        clauses.append(f"(m.private = 0 OR m.lower_ns IN ({marks}))")
        args.extend(sorted(ns.lower() for ns in f.visible))
    if f.term:
        match = "t.term = ?" if f.exact else "instr(t.term, ?) > 0"
        clauses.append(
            f"EXISTS (SELECT 1 FROM module_terms t WHERE t.repo = m.repo AND t.path = m.path AND {match})"
        )
        args.append(f.term)
    if f.origin:
        clauses.append("m.origin = ?")
        args.append(f.origin)
    if f.method:
        clauses.append("m.method = ?")
        args.append(f.method)
    if f.min_accuracy is not None:
        clauses.append("m.accuracy >= ?")
        args.append(f.min_accuracy)
    if f.max_density is not None:
        clauses.append("m.density <= ?")
        args.append(f.max_density)
    if not f.include_yanked:
        clauses.append(f"{_YANK} IS NULL")
    return " AND ".join(clauses), args


def _row(r: Sequence[Any]) -> ModuleRow:
    return ModuleRow(
        repo=r[0], path=r[1], commit=r[2], manifest_sha256=r[3], id=r[4], version=r[5], kind=r[6],
        classes=tuple(c for c in str(r[7]).split("\n") if c), origin=r[8], dataset=r[9], method=r[10],
        granularity=r[11], density=float(r[12]), accuracy=None if r[13] is None else float(r[13]),
        bytes=int(r[14]), published=r[15], private=bool(r[16]), yank_reason=r[17],
    )  # fmt: skip
