"""File download: ``HEAD``/``GET /[datasets/]{ns}/{name}/resolve/{rev}/{path}`` with Range."""

from __future__ import annotations

from starlette.responses import Response, StreamingResponse

from nnparts.registry import errors, hub_wire
from nnparts.registry.context import Call
from nnparts.registry.multipart import Multipart
from nnparts.registry.names import check_path, check_revision
from nnparts.registry.ranges import parse_range
from nnparts.registry.router import FILE_REPO, Router
from nnparts.registry.sendfile import BlobBody, stream_file
from nnparts.registry.views import etag_of

CHUNK = 1024 * 1024


def register(router: Router) -> None:
    router.add("GET", FILE_REPO + r"/resolve/(?P<rev>[^/]+)/(?P<path>.+)", resolve)


async def resolve(call: Call) -> Response:
    """Stream a file. Headers: ``X-Repo-Commit``, ``ETag`` (sha256 for LFS files, git sha1
    otherwise), ``Content-Length``, ``Accept-Ranges``, ``X-Content-Type-Options: nosniff``; a
    ``Range`` gives 206 (``multipart/byteranges`` for several ranges, see :mod:`ranges`).
    A missing file is 404 ``EntryNotFound`` that still carries ``X-Repo-Commit``. Bodies go out
    with ``os.sendfile`` where the server allows it (:mod:`sendfile`)."""
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
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "private, max-age=0" if record.private else "public, max-age=60",
    }
    blob = storage.blob_path(entry.sha256)
    spec = call.request.headers.get("range")
    ranges = parse_range(spec, entry.size) if spec is not None and entry.size > 0 else None
    if ranges is not None and not ranges:
        return hub_wire.error_response(
            416,
            hub_wire.RANGE_NOT_SATISFIABLE,
            f"range {spec!r} not satisfiable for {entry.size} bytes",
            headers={"Content-Range": f"bytes */{entry.size}", **headers},
        )
    if call.request.method == "HEAD":
        status = 206 if ranges else 200
        if ranges is not None and len(ranges) == 1:
            headers["Content-Range"] = ranges[0].content_range(entry.size)
            headers["Content-Length"] = str(ranges[0].length)
        elif ranges:
            parts = Multipart(ranges, entry.size, headers["Content-Type"])
            headers["Content-Type"], headers["Content-Length"] = parts.content_type, str(parts.length)
        else:
            headers["Content-Length"] = str(entry.size)
        return Response(status_code=status, headers=headers)
    if ranges is None:
        headers["Content-Length"] = str(entry.size)
        return BlobBody(blob, 0, entry.size, status_code=200, headers=headers)
    if len(ranges) == 1:
        only = ranges[0]
        headers["Content-Range"] = only.content_range(entry.size)
        headers["Content-Length"] = str(only.length)
        return BlobBody(blob, only.start, only.length, status_code=206, headers=headers)
    parts = Multipart(ranges, entry.size, headers["Content-Type"])
    headers["Content-Type"], headers["Content-Length"] = parts.content_type, str(parts.length)
    return StreamingResponse(parts.stream(blob, stream_file), status_code=206, headers=headers)
