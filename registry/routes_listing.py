"""Listings of one repo: tree (``recursive``, ``expand``) and paths-info; repo search is :mod:`routes_search`."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from nnparts.registry import errors
from nnparts.registry.bodies import read_form_or_json
from nnparts.registry.context import Call, next_link
from nnparts.registry.names import check_path, check_revision
from nnparts.registry.query import flag, int_param
from nnparts.registry.records import CommitRecord, FileEntry, RepoKey
from nnparts.registry.router import API_REPO, Router
from nnparts.registry.views import file_item, folder_item, last_commit_item

MAX_PATHS = 10_000
#: Items per page of an ``expand=True`` tree (each needs a history walk).
EXPAND_PAGE = 100


def register(router: Router) -> None:
    router.add("GET", API_REPO + r"/tree/(?P<rev>[^/]+)(?:/(?P<path>.+?))?/?", list_tree)
    router.add("POST", API_REPO + r"/paths-info/(?P<rev>[^/]+)", paths_info)


async def list_tree(call: Call) -> Response:
    """Children of ``path`` (all descendants with ``recursive``), folders first then files."""
    record = await call.readable_repo()
    storage = call.hub.storage
    commit = await call.run(storage.resolve, record.key, check_revision(call.params["rev"]))
    files = await call.run(storage.list_files, record.key, commit)
    base = call.params.get("path", "").strip("/")
    if base:
        check_path(base)
    recursive = flag(call.request, "recursive")
    items = await call.run(tree_items, files, base, recursive=recursive)
    if items is None:
        raise errors.EntryNotFound(f"{base!r} not found in {record.key.id!r} at {commit.sha}")
    offset = int_param(call.request, "cursor", 0)
    expand = flag(call.request, "expand")
    page = min(call.hub.config.page_size, EXPAND_PAGE) if expand else call.hub.config.page_size
    headers = {"Link": next_link(call, cursor=offset + page)} if offset + page < len(items) else {}
    chosen = items[offset : offset + page]
    if expand:
        await _expand(call, record.key, commit, chosen)
    return await call.json(chosen, headers=headers)


async def _expand(call: Call, key: RepoKey, commit: CommitRecord, items: list[dict[str, Any]]) -> None:
    """Add ``lastCommit`` to each tree item (what ``HfFileSystem.modified`` reads)."""
    last = await call.run(call.hub.storage.last_commits, key, commit, [item["path"] for item in items])
    for item in items:
        item["lastCommit"] = last_commit_item(last[item["path"]])


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
    """Tree items for the requested paths (files or folders); unknown paths are left out.

    At most :data:`MAX_PATHS` paths; the work is linear (files x depth + paths) and runs in the
    thread pool, so a large request stalls no other client."""
    record = await call.readable_repo()
    form = await read_form_or_json(call.request, call.hub.config.max_json_bytes)
    paths = form.get("paths", [])
    if len(paths) > MAX_PATHS:
        raise errors.BadRequest(
            f"at most {MAX_PATHS} paths per paths-info request, got {len(paths)}",
            hint="split the request",
        )
    storage = call.hub.storage
    commit = await call.run(storage.resolve, record.key, check_revision(call.params["rev"]))
    files = await call.run(storage.list_files, record.key, commit)
    items = await call.run(path_items, files, paths)
    if form.get("expand", ["false"])[-1].lower() in ("1", "true"):
        await _expand(call, record.key, commit, items)
    return await call.json(items)


def path_items(files: list[FileEntry], paths: list[str]) -> list[dict[str, Any]]:
    """The tree item of each distinct path of ``paths`` that is a file or a folder of ``files``."""
    wanted = list(dict.fromkeys(check_path(p.strip("/")) for p in paths))
    by_path = {f.path: f for f in files}
    folders: dict[str, list[FileEntry]] = {p: [] for p in wanted if p not in by_path}
    if folders:
        for f in files:
            parts = f.path.split("/")
            for depth in range(1, len(parts)):
                below = folders.get("/".join(parts[:depth]))
                if below is not None:
                    below.append(f)
    out: list[dict[str, Any]] = []
    for path in wanted:
        if path in by_path:
            out.append(file_item(by_path[path]))
        elif folders[path]:
            out.append(folder_item(path, folders[path]))
    return out
