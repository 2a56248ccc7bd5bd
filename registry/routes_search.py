"""``list_models`` / ``list_datasets``: search, author, tag filters, ``sort``, ``full``, ``expand``.

Ordered by id, or newest first for ``sort=lastModified|createdAt`` (``downloads``, ``likes`` and
``trendingScore`` are all zero here, so they keep the id order); keyset-paginated with ``cursor``
and ``Link``. ``full=True`` lists each repo's files (``siblings``); ``expand=`` keeps only ``id``
and the named properties, as on the Hub.
"""

from __future__ import annotations

from typing import Literal

from starlette.responses import Response

from nnparts.registry import errors
from nnparts.registry.context import API_TYPES, Call, next_link
from nnparts.registry.names import check_name
from nnparts.registry.query import flag, int_param
from nnparts.registry.records import FileEntry, RepoQuery, RepoRecord
from nnparts.registry.router import Router
from nnparts.registry.storage import Storage
from nnparts.registry.views import expand_list, expanded, repo_info

MAX_SEARCH = 200
MAX_FILTERS = 32
MAX_CURSOR = 300
SortKey = Literal["id", "lastModified", "createdAt"]
SORTS: dict[str, SortKey] = {
    "id": "id",
    "lastModified": "lastModified",
    "last_modified": "lastModified",
    "createdAt": "createdAt",
    "created_at": "createdAt",
    "downloads": "id",
    "likes": "id",
    "trendingScore": "id",
    "trending_score": "id",
}


def register(router: Router) -> None:
    router.add("GET", r"/api/(?P<rtype>models|datasets|spaces)", list_repos)


async def list_repos(call: Call) -> Response:
    qp = call.request.query_params
    page = min(int_param(call.request, "limit", call.hub.config.page_size), call.hub.config.page_size) or 1
    search = qp.get("search") or None
    if search is not None and len(search) > MAX_SEARCH:
        raise errors.BadRequest(f"search is longer than {MAX_SEARCH} characters")
    author = qp.get("author") or None
    if author is not None:
        check_name(author, what="author")
    tags = tuple(dict.fromkeys(t for t in qp.getlist("filter") if t))
    if len(tags) > MAX_FILTERS or any(len(t) > MAX_SEARCH for t in tags):
        raise errors.BadRequest(
            f"at most {MAX_FILTERS} 'filter' values of at most {MAX_SEARCH} characters are allowed"
        )
    sort = SORTS.get(qp.get("sort") or "id")
    if sort is None:
        raise errors.BadRequest(
            f"unknown sort {qp.get('sort', '')[:40]!r}", hint=f"use one of {', '.join(SORTS)}"
        )
    cursor = qp.get("cursor") or None
    if cursor is not None and (len(cursor) > MAX_CURSOR or (sort != "id" and "|" not in cursor)):
        raise errors.BadRequest("cursor must come from the Link header of the previous page")
    expand = expand_list(call.request)
    query = RepoQuery(
        type=API_TYPES[call.params["rtype"]],
        search=search,
        author=author,
        tags=tags,
        after=cursor,
        limit=page + 1,
        visible_private=call.hub.auth.visible_private(call.principal),
        sort=sort,
    )
    storage = call.hub.storage
    records = await call.run(storage.list_repos, query)
    more = len(records) > page
    records = records[:page]
    with_files = flag(call.request, "full") or (expand is not None and "siblings" in expand)
    files = await call.run(_files_of, storage, records) if with_files else None
    body = [
        expanded(repo_info(r, sha=r.sha, files=files[i] if files is not None else None), expand)
        for i, r in enumerate(records)
    ]
    headers = {"Link": next_link(call, cursor=_cursor(records[-1], sort))} if more else {}
    return await call.json(body, headers=headers)


def _cursor(record: RepoRecord, sort: str) -> str:
    if sort == "lastModified":
        return f"{record.last_modified}|{record.key.id}"
    if sort == "createdAt":
        return f"{record.created_at}|{record.key.id}"
    return record.key.id


def _files_of(storage: Storage, records: list[RepoRecord]) -> list[list[FileEntry]]:
    """The files at the head of ``main`` of each repo (none for a repo without a commit)."""
    out: list[list[FileEntry]] = []
    for record in records:
        if record.sha is None:
            out.append([])
            continue
        out.append(storage.list_files(record.key, storage.resolve(record.key, record.sha)))
    return out
