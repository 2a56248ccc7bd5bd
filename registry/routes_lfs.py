"""Git LFS batch API: ``batch`` hands out signed ``PUT`` URLs, ``PUT`` stores, ``verify`` checks.

Uploads need write access to the ``ref`` named in the batch request, or only read access without
one (a new pull request's files, as on the Hub). Every answer is per repository: an object counts as present only if it was uploaded to (or committed
in) *this* repo, so batch and verify reveal nothing about blobs other tenants stored, and the only
way to make a blob referenceable is to send its bytes (checked against the sha256) to this repo.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.responses import JSONResponse, Response

from nnparts.registry import errors, hub_wire
from nnparts.registry.bodies import iter_body, non_negative_int, read_json
from nnparts.registry.context import Call, make_key
from nnparts.registry.names import check_revision
from nnparts.registry.router import FILE_REPO, Router
from nnparts.registry.routes_pulls import push_access

_SHA256 = re.compile(r"[0-9a-f]{64}")
BUFFER = 1024 * 1024
MAX_OBJECTS = 1000


def register(router: Router) -> None:
    router.add("POST", FILE_REPO + r"\.git/info/lfs/objects/batch", batch)
    router.add("POST", FILE_REPO + r"\.git/info/lfs/objects/verify", verify)
    router.add("PUT", r"/api/_lfs/upload/(?P<oid>[0-9a-f]{64})", upload)


def _object(item: Any) -> tuple[str, int]:
    if not isinstance(item, dict):
        raise errors.BadRequest("each LFS object must be a JSON object")
    oid, size = item.get("oid"), item.get("size")
    if not isinstance(oid, str) or not _SHA256.fullmatch(oid):
        raise errors.BadRequest("LFS object oid must be 64 lowercase hex (sha256)")
    return oid, non_negative_int(size, "LFS object size")


async def batch(call: Call) -> Response:
    """Upload instructions per object: none if stored, else a signed ``PUT`` plus ``verify``."""
    body = await read_json(call.request, call.hub.config.max_json_bytes)
    ref = body.get("ref")
    revision = ref.get("name") if isinstance(ref, dict) else None
    if revision is not None and not isinstance(revision, str):
        raise errors.BadRequest("ref.name must be a string")
    # no ref: uploads for a new pull request, which read access allows (as on the Hub)
    record = await push_access(call, check_revision(revision) if revision else "", create_pr=revision is None)
    if body.get("operation") != "upload":
        raise errors.BadRequest("only the 'upload' LFS operation is supported")
    objects = body.get("objects")
    if not isinstance(objects, list):
        raise errors.BadRequest("field 'objects' (list) is required")
    if len(objects) > MAX_OBJECTS:
        raise errors.BadRequest(f"at most {MAX_OBJECTS} objects per batch request")
    limit = call.hub.config.max_body_bytes
    repo_url = call.repo_url(record.key)
    out: list[dict[str, Any]] = []
    for item in objects:
        oid, size = _object(item)
        known = await call.run(call.hub.storage.repo_blob, record.key, oid)
        entry: dict[str, Any] = {"oid": oid, "size": size, "authenticated": True}
        if size > limit:
            entry["error"] = {"code": 413, "message": f"object larger than {limit} bytes"}
        elif known is None or known.size != size:
            query = call.hub.signer.query(oid, size, f"{record.key.type}:{record.key.id}")
            entry["actions"] = {
                "upload": {
                    "href": f"{call.base_url}/api/_lfs/upload/{oid}?{query}",
                    "expires_in": call.hub.config.upload_url_ttl_s,
                },
                "verify": {"href": f"{repo_url}.git/info/lfs/objects/verify"},
            }
        out.append(entry)
    return JSONResponse({"transfer": "basic", "objects": out}, media_type=hub_wire.LFS_JSON)


async def upload(call: Call) -> Response:
    """The unauthenticated ``PUT`` of one blob; the URL's HMAC signature is the credential."""
    oid = call.params["oid"]
    grant = call.hub.signer.check(oid, dict(call.request.query_params))
    storage = call.hub.storage
    if grant.size > call.hub.config.max_body_bytes:
        raise errors.BodyTooLarge(call.hub.config.max_body_bytes)
    writer = await call.run(storage.blob_writer, grant.size)
    try:
        pending: list[bytes] = []
        buffered = 0
        async for chunk in iter_body(call.request, grant.size):
            pending.append(chunk)
            buffered += len(chunk)
            if buffered >= BUFFER:
                await call.run(writer.write, b"".join(pending))
                pending, buffered = [], 0
        if pending:
            await call.run(writer.write, b"".join(pending))
        info = await call.run(writer.finish, oid)
    except BaseException:
        writer.abort()
        raise
    repo_type, _, repo_id = grant.repo.partition(":")
    namespace, _, name = repo_id.partition("/")
    await call.run(storage.register_blob, make_key(repo_type, namespace, name), info)
    return Response(status_code=200)


async def verify(call: Call) -> Response:
    """200 if the object was uploaded to this repo with that size, else 404 ``EntryNotFound``."""
    record = await call.contributable_repo()
    oid, size = _object(await read_json(call.request, call.hub.config.max_json_bytes))
    known = await call.run(call.hub.storage.repo_blob, record.key, oid)
    if known is None or known.size != size:
        raise errors.EntryNotFound(f"LFS object {oid} ({size} bytes) was not uploaded")
    return JSONResponse({"oid": oid, "size": size})
