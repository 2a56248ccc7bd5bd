"""Preupload: the server tells the client, per file, how to upload it and whether to skip it.

``uploadMode`` is ``lfs`` above the size threshold or where the revision's ``.gitattributes`` says
``filter=lfs`` (so a 7-byte ``*.bin`` is an LFS file, as on the Hub); ``shouldIgnore`` follows the
``gitIgnore`` text of the request, else the revision's ``.gitignore``; ``oid`` is the remote
file's id (sha256 for LFS, git sha1 otherwise), so the client drops unchanged files.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, Response

from nnparts.registry import errors
from nnparts.registry.bodies import non_negative_int, read_json
from nnparts.registry.context import Call
from nnparts.registry.gitpatterns import IgnoreRules, LfsRules
from nnparts.registry.names import check_path, check_revision
from nnparts.registry.query import flag
from nnparts.registry.records import GITATTRIBUTES, GITIGNORE, FileEntry
from nnparts.registry.router import API_REPO, Router
from nnparts.registry.routes_pulls import push_access
from nnparts.registry.storage import Storage

#: Rule files larger than this are not read (the Hub caps them too).
MAX_RULES_BYTES = 1024 * 1024


def register(router: Router) -> None:
    router.add("POST", API_REPO + r"/preupload/(?P<rev>[^/]+)", preupload)


async def preupload(call: Call) -> Response:
    """``{"files": [{"path", "size", "sample"}], "gitIgnore"?}`` -> per file ``uploadMode``,
    ``shouldIgnore`` and ``oid``."""
    revision = check_revision(call.params["rev"])
    record = await push_access(call, revision, create_pr=flag(call.request, "create_pr"))
    body = await read_json(call.request, call.hub.config.max_json_bytes)
    files = body.get("files")
    if not isinstance(files, list):
        raise errors.BadRequest("field 'files' (list) is required")
    gitignore = body.get("gitIgnore")
    if gitignore is not None and not isinstance(gitignore, str):
        raise errors.BadRequest("gitIgnore must be the text of a .gitignore file")
    storage = call.hub.storage
    head = await call.run(storage.resolve, record.key, revision)
    existing = {f.path: f for f in await call.run(storage.list_files, record.key, head)}
    attributes: str | None = await call.run(_text, storage, existing.get(GITATTRIBUTES))
    lfs = LfsRules(attributes or "")
    if gitignore is None:
        gitignore = await call.run(_text, storage, existing.get(GITIGNORE))
    ignore = IgnoreRules(gitignore or "")
    threshold = call.hub.config.lfs_threshold_bytes
    out: list[dict[str, Any]] = []
    for item in files:
        if not isinstance(item, dict) or not isinstance(item.get("path"), str):
            raise errors.BadRequest("each file needs a string 'path'")
        path = check_path(item["path"])
        size = non_negative_int(item.get("size", 0), f"size of {path!r}")
        mode = "lfs" if size > threshold or (size > 0 and lfs.is_lfs(path)) else "regular"
        remote: FileEntry | None = existing.get(path)
        oid = None
        if remote is not None and mode == "lfs":
            oid = remote.sha256
        elif remote is not None and not remote.lfs:
            oid = remote.git_oid  # git blob sha1, what the client computes for regular files
        out.append({"path": path, "uploadMode": mode, "shouldIgnore": ignore.ignored(path), "oid": oid})
    return JSONResponse({"files": out, "commitOid": head.sha})


def _text(storage: Storage, entry: FileEntry | None) -> str | None:
    """A small regular file of the revision as text (``None`` if absent, LFS or too large)."""
    if entry is None or entry.lfs or entry.size > MAX_RULES_BYTES:
        return None
    return storage.blob_path(entry.sha256).read_bytes().decode("utf-8", "replace")
