"""Storage views and clean-up: ``list_user_repos`` (``hf repos ls``), ``list_lfs_files`` and
``permanently_delete_lfs_files``.

Storage is what was sent to a repository (its blob grants), so a blob shared by content with another
tenant counts for both, and deleting an LFS file from one repo never touches another's copy.
"""

from __future__ import annotations

import re

from starlette.responses import JSONResponse, Response

from nnparts.registry import errors
from nnparts.registry.bodies import read_json
from nnparts.registry.context import Call, next_link
from nnparts.registry.names import check_name
from nnparts.registry.query import int_param
from nnparts.registry.records import MAIN
from nnparts.registry.router import API_REPO, Router

_SHA256 = re.compile(r"[0-9a-f]{64}")
MAX_DELETIONS = 1000


def register(router: Router) -> None:
    router.add("GET", r"/api/settings/repositories", user_repos)
    router.add("GET", r"/api/organizations/(?P<org>[^/]+)/settings/repositories", user_repos)
    router.add("GET", API_REPO + r"/lfs-files", lfs_files)
    router.add("POST", API_REPO + r"/lfs-files/batch", delete_lfs_files)


async def user_repos(call: Call) -> Response:
    """The caller's repos (or an organisation's, with read scope on it), every type and private
    ones included, with ``storage`` in bytes and ``storagePercent`` of the namespace."""
    principal = call.principal
    namespace = call.params.get("org")
    if namespace is None:
        if principal is None:
            raise errors.Unauthenticated(
                "listing your repositories needs a token",
                hint="pass token=, or list a namespace: /api/organizations/{ns}/settings/repositories",
            )
        namespace = principal.user
    check_name(namespace, what="namespace")
    if not call.hub.auth.can_read(principal, namespace, private=True):
        if principal is None:
            raise errors.Unauthenticated(f"listing the repositories of {namespace!r} needs a token")
        raise errors.Forbidden(f"token of {principal.user!r} has no scope on namespace {namespace!r}")
    offset = int_param(call.request, "cursor", 0)
    page = call.hub.config.page_size
    usage, total = await call.run(call.hub.storage.namespace_usage, namespace, offset=offset, limit=page + 1)
    body = [
        {
            "id": u.record.key.id,
            "type": u.record.key.type,
            "updatedAt": u.record.last_modified,
            "visibility": "private" if u.record.private else "public",
            "storage": u.storage_bytes,
            "storagePercent": round(100.0 * u.storage_bytes / total, 2) if total else 0.0,
        }
        for u in usage[:page]
    ]
    headers = {"Link": next_link(call, cursor=offset + page)} if len(usage) > page else {}
    return await call.json(body, headers=headers)


async def lfs_files(call: Call) -> Response:
    """The LFS objects any commit of the repo references (write access: it is the clean-up view)."""
    record = await call.writable_repo()
    after = call.request.query_params.get("cursor") or None
    if after is not None and not _SHA256.fullmatch(after):
        raise errors.BadRequest("cursor must be a sha256 from a previous page")
    page = call.hub.config.page_size
    rows = await call.run(call.hub.storage.lfs_files, record.key, after=after, limit=page + 1)
    body = [
        {"fileOid": r.sha256, "oid": r.sha256, "filename": r.path, "pushedAt": r.pushed_at, "size": r.size}
        for r in rows[:page]
    ]
    headers = {"Link": next_link(call, cursor=rows[page - 1].sha256)} if len(rows) > page else {}
    return await call.json(body, headers=headers)


async def delete_lfs_files(call: Call) -> Response:
    """``{"deletions": {"sha": [...], "rewriteHistory": true}}``: every commit is rewritten without
    those files (refs follow, shas change) and the blobs only they used are removed."""
    record = await call.writable_repo()
    body = await read_json(call.request, call.hub.config.max_json_bytes)
    deletions = body.get("deletions")
    if not isinstance(deletions, dict):
        raise errors.BadRequest("field 'deletions' (object) is required")
    shas = deletions.get("sha")
    if not isinstance(shas, list) or not all(isinstance(s, str) and _SHA256.fullmatch(s) for s in shas):
        raise errors.BadRequest("deletions.sha must be a list of sha256 (64 lowercase hex)")
    if len(shas) > MAX_DELETIONS:
        raise errors.BadRequest(f"at most {MAX_DELETIONS} LFS files per request")
    if deletions.get("rewriteHistory", True) is not True:
        raise errors.BadRequest(
            "only rewriteHistory=true is supported: this server never keeps pointers to deleted objects",
            hint="call permanently_delete_lfs_files(..., rewrite_history=True)",
        )
    moved = await call.run(call.hub.storage.delete_lfs_files, record.key, shas)
    if moved:
        head = await call.run(call.hub.storage.resolve, record.key, MAIN)
        for listener in call.hub.listeners:
            await call.run(listener.committed, record.key, MAIN, head)
    return JSONResponse({})
