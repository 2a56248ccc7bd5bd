"""Listings: the rarest tag drives the query, the others are probes; a rare search is driven by
the trigram index. Every plan gives the same repos in the same order as a plain filter."""

from __future__ import annotations

from pathlib import Path

import pytest

from nnparts.registry import FilesystemStorage
from nnparts.registry.repo_listing import driving_tag, list_sql, rare_search
from nnparts.registry.storage import RepoImport, RepoKey, RepoQuery
from nnparts.registry.store_schema import repo_from_row

N = 300


def _tags(i: int) -> tuple[str, ...]:
    tags = ["all", f"mod7:{i % 7}", f"mod50:{i % 50}"]
    if i % 2:
        tags.append("odd")
    if i == 11:
        tags.append("only11")
    return tuple(tags)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> FilesystemStorage:
    st = FilesystemStorage(tmp_path_factory.mktemp("listing"))
    st.import_repos(
        [RepoImport(RepoKey("model", f"ns{i % 4}", f"r{i:04d}"), tags=_tags(i)) for i in range(N)]
    )
    st.import_repos([RepoImport(RepoKey("dataset", "ns0", "r0011"), tags=_tags(11))])
    return st


CASES: list[tuple[str, ...]] = [
    ("all",),
    ("odd",),
    ("only11",),
    ("missing",),
    ("all", "odd"),
    ("mod7:3", "all"),
    ("all", "mod7:3", "odd"),
    ("mod50:11", "mod7:4", "only11"),
    ("mod50:11", "odd", "only11"),
    ("odd", "missing", "all"),
]


def _expected(tags: tuple[str, ...], *, author: str | None = None, search: str = "") -> list[str]:
    ids = [f"ns{i % 4}/r{i:04d}" for i in range(N) if set(tags) <= set(_tags(i))]
    return sorted(
        i for i in ids if (author is None or i.startswith(f"{author}/")) and search.lower() in i.lower()
    )


@pytest.mark.parametrize("tags", CASES)
def test_every_plan_gives_the_intersection(store: FilesystemStorage, tags: tuple[str, ...]) -> None:
    conn = store._conn()
    query = RepoQuery("model", tags=tags, limit=N + 1, visible_private=None)
    want = _expected(tags)
    assert [r.key.id for r in store.list_repos(query)] == want
    for drive in (None, *tags):  # each tag driving, or none (walk the id order and probe)
        sql, args = list_sql(query, drive=drive)
        assert [repo_from_row(row).key.id for row in conn.execute(sql, args)] == want, drive
    paged = RepoQuery("model", tags=tags, author="ns1", limit=5, visible_private=None)
    assert [r.key.id for r in store.list_repos(paged)] == _expected(tags, author="ns1")[:5]


def test_driving_tag_picks_the_rarest_under_the_bound(store: FilesystemStorage) -> None:
    conn = store._conn()
    assert driving_tag(conn, ("all", "odd", "mod7:3")) == "mod7:3"  # 300, 150, 43 repos
    assert driving_tag(conn, ("all", "odd"), bound=100) is None  # both common: walk the order
    assert driving_tag(conn, ("all", "odd"), bound=200) == "odd"
    assert driving_tag(conn, ("all", "missing", "only11")) == "missing"  # nothing: stops there
    assert driving_tag(conn, ()) is None


SEARCHES = ["r00", "r0011", "ns1/r01", "S1/R01", "0/r", "r", "1", "zz", "nomatch", 'a"b', "r02*", "-"]


@pytest.mark.parametrize("search", SEARCHES)
def test_search_by_trigrams_equals_the_scan(store: FilesystemStorage, search: str) -> None:
    conn = store._conn()
    query = RepoQuery("model", search=search, limit=N + 1, visible_private=None)
    want = sorted(f"ns{i % 4}/r{i:04d}" for i in range(N) if search.lower() in f"ns{i % 4}/r{i:04d}")
    assert [r.key.id for r in store.list_repos(query)] == want
    for trigrams in (False, True):
        sql, args = list_sql(query, trigrams=trigrams)
        assert [repo_from_row(row).key.id for row in conn.execute(sql, args)] == want, trigrams
    tagged = RepoQuery("model", search=search, tags=("mod7:3",), limit=N + 1, visible_private=None)
    sql, args = list_sql(tagged, drive="mod7:3", trigrams=True)
    assert [repo_from_row(row).key.id for row in conn.execute(sql, args)] == _expected(
        ("mod7:3",), search=search
    )


def test_rare_search_bounds_and_short_strings(store: FilesystemStorage) -> None:
    conn = store._conn()
    assert rare_search(conn, "r0011") and rare_search(conn, "nomatch")
    assert not rare_search(conn, "r0")  # under 3 characters: the scan
    assert not rare_search(conn, "ns1/r0", bound=10)  # 75 candidates: common, the scan
    assert rare_search(conn, "ns1/r0", bound=100)


def test_trigram_index_follows_create_move_delete_and_is_built_for_old_stores(tmp_path: Path) -> None:
    st = FilesystemStorage(tmp_path)
    st.create_repo(RepoKey("model", "alice", "CatNet"), private=False, author="alice")
    st.import_repos([RepoImport(RepoKey("model", "bob", "dognet"))])

    def found(search: str) -> list[str]:
        return [r.key.id for r in st.list_repos(RepoQuery("model", search=search, visible_private=None))]

    assert found("catnet") == ["alice/CatNet"]
    st.move_repo(RepoKey("model", "alice", "CatNet"), RepoKey("model", "carol", "Tabby"))
    assert found("catnet") == [] and found("tabby") == ["carol/Tabby"]
    st.delete_repo(RepoKey("model", "carol", "Tabby"))
    assert found("tabby") == [] and found("dognet") == ["bob/dognet"]
    conn = st._conn()
    for name in ("repo_trigrams_ai", "repo_trigrams_ad", "repo_trigrams_au"):
        conn.execute(f"DROP TRIGGER {name}")
    conn.execute("DROP TABLE repo_trigrams")  # a store from before the index
    st.close()
    st = FilesystemStorage(tmp_path)
    assert st._conn().execute(
        "SELECT count(*) FROM repo_trigrams WHERE repo_trigrams MATCH 'dognet'"
    ).fetchone() == (1,)
    assert found("dognet") == ["bob/dognet"]
    st.close()
