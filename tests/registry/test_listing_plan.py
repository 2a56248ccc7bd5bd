"""Tag listings: the rarest tag drives the query, the others are probes; every plan gives the
same repos in the same order as a plain set intersection."""

from __future__ import annotations

import pytest

from nnparts.registry import FilesystemStorage
from nnparts.registry.repo_listing import driving_tag, list_sql
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


def _expected(tags: tuple[str, ...], *, author: str | None = None) -> list[str]:
    ids = [f"ns{i % 4}/r{i:04d}" for i in range(N) if set(tags) <= set(_tags(i))]
    return sorted(i for i in ids if author is None or i.startswith(f"{author}/"))


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
