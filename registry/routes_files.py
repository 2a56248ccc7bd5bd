"""File download: ``HEAD``/``GET /[datasets/]{ns}/{name}/resolve/{rev}/{path}`` with Range."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
from starlette.responses import Response, StreamingResponse

from nnparts.registry import errors, hub_wire
from nnparts.registry.context import Call
from nnparts.registry.names import check_path, check_revision
from nnparts.registry.router import FILE_REPO, Router
from nnparts.registry.views import etag_of

CHUNK = 1024 * 1024
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def register(router: Router) -> None:
    router.add("GET", FILE_REPO + r"/resolve/(?P<rev>[^/]+)/(?P<path>.+)", resolve)


async def resolve(call: Call) -> Response:
    """Stream a file. Headers: ``X-Repo-Commit``, ``ETag`` (sha256 for LFS files, git sha1
    otherwise), ``Content-Length``, ``Accept-Ranges``; a single ``Range`` gives 206.
    A missing file is 404 ``EntryNotFound`` that still carries ``X-Repo-Commit``."""
    record = await call.readable_repo()
    storage = call.hub.storage
    commit = await call.run(storage.resolve, record.key, check_revision(call.params["rev"]))
    path = check_path(call.params["path"])
    try:
        entry = await call.run(storage.get_file, record.key, commit, path)
    except errors.EntryNotFound as err:
        return hub_wire.response_for(err, headers={hub_wire.X_REPO_COMMIT: commit.sha})
    headers = {
        hub_wire.X_REPO_COMMIT: commit.sha,
        "ETag": f'"{etag_of(entry)}"',
        "Accept-Ranges": "bytes",
        "Content-Type": "application/octet-stream",
        "Cache-Control": "private, max-age=0" if record.private else "public, max-age=60",
    }
    blob = storage.blob_path(entry.sha256)
    start, end = 0, entry.size - 1
    status = 200
    spec = call.request.headers.get("range")
    if spec is not None and entry.size > 0:
        parsed = _parse_range(spec, entry.size)
        if parsed is None:
            return hub_wire.error_response(
                416,
                hub_wire.RANGE_NOT_SATISFIABLE,
                f"range {spec!r} not satisfiable for {entry.size} bytes",
                headers={"Content-Range": f"bytes */{entry.size}", **headers},
            )
        start, end = parsed
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end}/{entry.size}"
    length = max(0, end - start + 1)
    headers["Content-Length"] = str(length)
    if call.request.method == "HEAD":
        return Response(status_code=status, headers=headers)
    return StreamingResponse(_stream(blob, start, length), status_code=status, headers=headers)


def _parse_range(spec: str, size: int) -> tuple[int, int] | None:
    """One ``bytes=a-b`` / ``a-`` / ``-n`` range clipped to the file, ``None`` if unsatisfiable."""
    match = _RANGE.fullmatch(spec.strip())
    if match is None or (not match.group(1) and not match.group(2)):
        return None
    first, last = match.group(1), match.group(2)
    if not first:
        suffix = int(last)
        return (max(0, size - suffix), size - 1) if suffix > 0 else None
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        return None
    return start, end


async def _stream(path: Path, start: int, length: int) -> AsyncIterator[bytes]:
    async with await anyio.open_file(path, "rb") as fh:
        await fh.seek(start)
        left = length
        while left > 0:
            chunk = await fh.read(min(CHUNK, left))
            if not chunk:
                break
            left -= len(chunk)
            yield chunk
