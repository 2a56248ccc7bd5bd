"""Uploads: NDJSON commits to a branch, to a pull request (``refs/pr/N``) or opening one
(``create_pr=1``); the preupload step is :mod:`routes_preupload`."""

from __future__ import annotations

import base64
import binascii
import logging
import re
from typing import Any

import anyio
from starlette.responses import JSONResponse, Response

from nnparts.registry import errors
from nnparts.registry.blobstore import BlobInfo
from nnparts.registry.bodies import (
    INLINE_PARSE_BYTES,
    iter_lines,
    non_negative_int,
    parse_json,
)
from nnparts.registry.context import Call
from nnparts.registry.names import MAX_TITLE, check_folder, check_path, check_revision, is_commit_sha
from nnparts.registry.query import flag
from nnparts.registry.router import API_REPO, Router
from nnparts.registry.routes_pulls import push_access
from nnparts.registry.storage import CommitOp, CommitRequest, Storage

log = logging.getLogger("nnparts.registry")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def register(router: Router) -> None:
    router.add("POST", API_REPO + r"/commit/(?P<rev>[^/]+)", commit)


async def commit(call: Call) -> Response:
    """Apply an NDJSON commit atomically; 412 on a stale ``parentCommit``.

    Regular files are decoded and stored as blobs while the body streams in (memory: one file),
    off the event loop; the commit itself is one storage transaction. The blobs stored are held
    until the commit ends; if it fails they are removed at once unless something references them.
    """
    create_pr = flag(call.request, "create_pr")
    branch = check_revision(call.params["rev"]).removeprefix("refs/heads/")
    record = await push_access(call, branch, create_pr=create_pr)
    if is_commit_sha(branch):
        raise errors.BadRequest("commits must target a branch, not a commit sha")
    stored: list[str] = []
    pull_url = None
    try:
        request = await _read_commit(call, branch, stored)
        if create_pr:
            pull, done = await call.run(call.hub.storage.commit_pull, request, description=request.message)
            branch, pull_url = f"refs/pr/{pull.num}", f"{call.repo_url(record.key)}/discussions/{pull.num}"
        else:
            done = await call.run(call.hub.storage.commit, request)
    except BaseException:
        with anyio.CancelScope(shield=True):
            await call.run(_discard, call.hub.storage, stored)
        raise
    await call.run(call.hub.storage.release_blobs, stored, discard=False)
    for listener in call.hub.listeners:
        await call.run(listener.committed, record.key, branch, done)
    commit_url = f"{call.repo_url(record.key)}/commit/{done.sha}"
    return JSONResponse(
        {"success": True, "commitOid": done.sha, "commitUrl": commit_url, "pullRequestUrl": pull_url}
    )


async def _read_commit(call: Call, branch: str, stored: list[str]) -> CommitRequest:
    """Read the NDJSON body into a :class:`CommitRequest`; ``stored`` collects the sha256 of
    every blob written on the way."""
    record_key = call.repo_key()
    storage = call.hub.storage
    header: dict[str, Any] | None = None
    ops: list[CommitOp] = []
    async for line in iter_lines(call.request, call.hub.config.max_commit_bytes):
        key, value = (
            _parse_line(line) if len(line) <= INLINE_PARSE_BYTES else await call.run(_parse_line, line)
        )
        if header is None:
            if key != "header":
                raise errors.BadRequest("the first NDJSON line must be the 'header'")
            header = value
            continue
        if key == "file":
            path = check_path(_str(value, "path"))
            blob = await call.run(_store_file, storage, value, path)
            stored.append(blob.sha256)
            ops.append(CommitOp("add", path, blob=blob, lfs=False))
        elif key == "lfsFile":
            path = check_path(_str(value, "path"))
            oid = _str(value, "oid")
            if value.get("algo", "sha256") != "sha256" or not _SHA256.fullmatch(oid):
                raise errors.BadRequest(f"lfsFile {path!r} needs algo 'sha256' and a 64-hex oid")
            known = await call.run(storage.repo_blob, record_key, oid)
            # the client omits ``size`` when it copies an LFS file: the stored size stands in
            size = value.get("size", known.size if known is not None else None)
            size = non_negative_int(size, f"size of lfsFile {path!r}")
            git_oid = known.git_oid if known is not None else ""
            ops.append(CommitOp("add", path, blob=BlobInfo(oid, size, git_oid), lfs=True))
        elif key == "deletedFile":
            ops.append(CommitOp("delete_file", check_path(_str(value, "path"))))
        elif key == "deletedFolder":
            ops.append(CommitOp("delete_folder", check_folder(_str(value, "path"))))
        elif key == "header":
            raise errors.BadRequest("only one 'header' line is allowed")
        else:
            raise errors.BadRequest(f"unsupported NDJSON key {key!r}")
    if header is None:
        raise errors.BadRequest("empty commit body: expected an NDJSON 'header' line")
    parent = header.get("parentCommit")
    if parent is not None and (not isinstance(parent, str) or not is_commit_sha(parent)):
        raise errors.BadRequest("parentCommit must be a 40-hex commit sha")
    title = header.get("summary") or "update"
    message = header.get("description") or ""
    if not isinstance(title, str) or not isinstance(message, str) or len(title) > MAX_TITLE:
        raise errors.BadRequest(f"summary and description must be strings (summary <= {MAX_TITLE})")
    author = call.user
    return CommitRequest(
        key=record_key,
        branch=branch,
        title=title,
        message=message,
        author=author,
        ops=tuple(ops),
        parent=parent,
    )


def _parse_line(line: bytes) -> tuple[str, dict[str, Any]]:
    doc = parse_json(line, what="NDJSON line")
    if not isinstance(doc, dict) or not isinstance(doc.get("key"), str):
        raise errors.BadRequest("each NDJSON line must be an object with a string 'key'")
    value = doc.get("value")
    if not isinstance(value, dict):
        raise errors.BadRequest(f"NDJSON line {doc['key']!r} needs an object 'value'")
    return doc["key"], value


def _str(value: dict[str, Any], name: str) -> str:
    field = value.get(name)
    if not isinstance(field, str):
        raise errors.BadRequest(f"field {name!r} (string) is required")
    return field


def _discard(storage: Storage, shas: list[str]) -> None:
    """Best effort: a failure here (the disk may still be full) must not hide the commit's error."""
    try:
        storage.release_blobs(shas, discard=True)
    except Exception:
        log.warning("could not remove the blobs of a failed commit", exc_info=True)


def _store_file(storage: Storage, value: dict[str, Any], path: str) -> BlobInfo:
    """Decode a regular file of the commit and store it as a (held) blob: one worker-thread call."""
    return storage.put_blob(_decode(value, path))


def _decode(value: dict[str, Any], path: str) -> bytes:
    content = _str(value, "content")
    encoding = value.get("encoding", "base64")
    if encoding == "base64":
        try:
            return base64.b64decode(content, validate=True)
        except (binascii.Error, ValueError) as err:
            raise errors.BadRequest(f"content of {path!r} is not valid base64") from err
    if encoding in ("utf-8", "utf8"):
        return content.encode()
    raise errors.BadRequest(f"unsupported encoding {encoding!r} for {path!r}")
