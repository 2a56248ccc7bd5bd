"""Listings: repos (search/author/filter, ``Link`` pagination), tree, paths-info."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.responses import JSONResponse, Response

from nnparts.registry import errors
from nnparts.registry.bodies import read_form_or_json
from nnparts.registry.context import API_TYPES, Call
from nnparts.registry.names import check_name, check_path, check_revision
from nnparts.registry.router import API_REPO, Router
from nnparts.registry.storage import FileEntry, RepoQuery
from nnparts.registry.views import file_item, folder_item, repo_info

MAX_SEARCH = 200


def register(router: Router) -> None:
    router.add("GET", r"/api/(?P<rtype>models|datasets|spaces)", list_repos)
    router.add("GET", API_REPO + r"/tree/(?P<rev>[^/]+)(?:/(?P<path>.+?))?/?", list_tree)
    router.add("POST", API_REPO + r"/paths-info/(?P<rev>[^/]+)", paths_info)


def _int_param(call: Call, name: str, default: int) -> int:
    value = call.request.query_params.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError as err:
        raise errors.BadRequest(f"query parameter {name!r} must be an integer, got {value!r}") from err
    if number < 0:
        raise errors.BadRequest(f"query parameter {name!r} must be >= 0, got {number}")
    return number


def _next_link(call: Call, **changes: str | int) -> str:
    items = [(k, v) for k, v in call.request.query_params.multi_items() if k not in changes]
    items += [(k, str(v)) for k, v in changes.items()]
    return f'<{call.base_url}{call.request.url.path}?{urlencode(items)}>; rel="next"'


async def list_repos(call: Call) -> Response:
    """``list_models``/``list_datasets``: ordered by id, keyset-paginated with ``cursor``."""
    qp = call.request.query_params
    page = min(_int_param(call, "limit", call.hub.config.page_size), call.hub.config.page_size) or 1
    search = qp.get("search") or None
    if search is not None and len(search) > MAX_SEARCH:
        raise errors.BadRequest(f"search is longer than {MAX_SEARCH} characters")
    author = qp.get("author") or None
    if author is not None:
        check_name(author, what="author")
    tags = tuple(t for t in qp.getlist("filter") if t)
    query = RepoQuery(
        type=API_TYPES[call.params["rtype"]],
        search=search,
        author=author,
        tags=tags,
        after=qp.get("cursor") or None,
        limit=page + 1,
        visible_private=call.hub.auth.visible_private(call.principal),
    )
    records = await call.run(call.hub.storage.list_repos, query)
    more = len(records) > page
    records = records[:page]
    full = qp.get("full") in ("1", "true", "True")
    body = [repo_info(r, sha=r.sha, files=[] if full else None) for r in records]
    headers = {"Link": _next_link(call, cursor=records[-1].key.id)} if more else {}
    return JSONResponse(body, headers=headers)


async def list_tree(call: Call) -> Response:
    """Children of ``path`` (all descendants with ``recursive``), folders first then files."""
    record = await call.readable_repo()
    storage = call.hub.storage
    commit = await call.run(storage.resolve, record.key, check_revision(call.params["rev"]))
    files = await call.run(storage.list_files, record.key, commit)
    base = call.params.get("path", "").strip("/")
    if base:
        check_path(base)
    recursive = call.request.query_params.get("recursive") in ("1", "true", "True")
    items = tree_items(files, base, recursive=recursive)
    if items is None:
        raise errors.EntryNotFound(f"{base!r} not found in {record.key.id!r} at {commit.sha}")
    offset = _int_param(call, "cursor", 0)
    page = call.hub.config.page_size
    headers = {"Link": _next_link(call, cursor=offset + page)} if offset + page < len(items) else {}
    return JSONResponse(items[offset : offset + page], headers=headers)


def tree_items(files: list[FileEntry], base: str, *, recursive: bool) -> list[dict[str, Any]] | None:
    """Tree items under folder ``base`` (``""`` = root); ``None`` if ``base`` is not a folder."""
    prefix = base + "/" if base else ""
    below = [f for f in files if f.path.startswith(prefix)]
    if base and not below:
        return None
    folders: dict[str, list[FileEntry]] = {}
    direct: list[FileEntry] = []
    for f in below:
        rest = f.path[len(prefix) :]
        parts = rest.split("/")
        if len(parts) == 1:
            direct.append(f)
        if recursive:
            for depth in range(1, len(parts)):
                folders.setdefault(prefix + "/".join(parts[:depth]), []).append(f)
            if len(parts) > 1:
                direct.append(f)
        elif len(parts) > 1:
            folders.setdefault(prefix + parts[0], []).append(f)
    out = [folder_item(path, sub) for path, sub in sorted(folders.items())]
    out += [file_item(f) for f in sorted(direct, key=lambda e: e.path)]
    return out


async def paths_info(call: Call) -> Response:
    """Tree items for the requested paths (files or folders); unknown paths are left out."""
    record = await call.readable_repo()
    form = await read_form_or_json(call.request, call.hub.config.max_json_bytes)
    wanted = [check_path(p.strip("/")) for p in form.get("paths", [])]
    storage = call.hub.storage
    commit = await call.run(storage.resolve, record.key, check_revision(call.params["rev"]))
    files = await call.run(storage.list_files, record.key, commit)
    by_path = {f.path: f for f in files}
    out: list[dict[str, Any]] = []
    for path in wanted:
        if path in by_path:
            out.append(file_item(by_path[path]))
            continue
        below = [f for f in files if f.path.startswith(path + "/")]
        if below:
            out.append(folder_item(path, below))
    return JSONResponse(out)
