"""Versioning: refs, commit history, branches and tags."""

from __future__ import annotations

from starlette.responses import JSONResponse, Response

from nnparts.registry import errors
from nnparts.registry.bodies import read_json
from nnparts.registry.context import Call
from nnparts.registry.names import MAX_TITLE, check_ref_name, check_revision
from nnparts.registry.query import MAX_INT, flag, int_param
from nnparts.registry.router import API_REPO, Router
from nnparts.registry.storage import MAIN
from nnparts.registry.views import commit_item, ref_item


def register(router: Router) -> None:
    router.add("GET", API_REPO + r"/refs", list_refs)
    router.add("GET", API_REPO + r"/commits/(?P<rev>[^/]+)", list_commits)
    router.add("POST DELETE", API_REPO + r"/branch/(?P<ref>[^/]+)", branch)
    router.add("POST DELETE", API_REPO + r"/tag/(?P<ref>[^/]+)", tag)
    router.add("POST", API_REPO + r"/super-squash/(?P<ref>[^/]+)", super_squash)


async def list_refs(call: Call) -> Response:
    record = await call.readable_repo()
    refs = await call.run(call.hub.storage.refs, record.key)
    pulls = [r for r in refs if r.kind == "pr"]
    body = {
        "branches": [ref_item(r) for r in refs if r.kind == "branch"],
        "tags": [ref_item(r) for r in refs if r.kind == "tag"],
        "converts": [],
    }
    if flag(call.request, "include_prs"):
        body["pullRequests"] = [ref_item(r) for r in sorted(pulls, key=lambda r: int(r.name))]
    return JSONResponse(body)


async def list_commits(call: Call) -> Response:
    """Commits reachable from ``rev``, newest first; ``p`` pages through (``Link``)."""
    record = await call.readable_repo()
    storage = call.hub.storage
    commit = await call.run(storage.resolve, record.key, check_revision(call.params["rev"]))
    page = call.hub.config.page_size
    number = int_param(call.request, "p", 0, maximum=MAX_INT // page)
    rows = await call.run(storage.history, record.key, commit, offset=number * page, limit=page + 1)
    headers = {}
    if len(rows) > page:
        url = f"{call.base_url}{call.request.url.path}?p={number + 1}"
        headers["Link"] = f'<{url}>; rel="next"'
    return JSONResponse([commit_item(c) for c in rows[:page]], headers=headers)


async def branch(call: Call) -> Response:
    """POST creates from ``startingPoint`` (default ``main``, 409 if taken); DELETE removes."""
    record = await call.writable_repo()
    storage = call.hub.storage
    if call.request.method == "DELETE":
        await call.run(storage.delete_ref, record.key, "branch", check_revision(call.params["ref"]))
        return JSONResponse({})
    name = check_ref_name(call.params["ref"], kind="branch")
    body = await read_json(call.request, call.hub.config.max_json_bytes)
    start = body.get("startingPoint") or MAIN
    if not isinstance(start, str):
        raise errors.BadRequest("startingPoint must be a string")
    commit = await call.run(storage.resolve, record.key, check_revision(start))
    await call.run(storage.create_ref, record.key, "branch", name, commit)
    return JSONResponse({})


async def tag(call: Call) -> Response:
    """POST ``/tag/{rev}`` with ``{"tag"}`` tags ``rev`` (409 if taken); DELETE ``/tag/{tag}``."""
    record = await call.writable_repo()
    storage = call.hub.storage
    if call.request.method == "DELETE":
        await call.run(storage.delete_ref, record.key, "tag", check_revision(call.params["ref"]))
        return JSONResponse({})
    body = await read_json(call.request, call.hub.config.max_json_bytes)
    name = body.get("tag")
    if not isinstance(name, str):
        raise errors.BadRequest("field 'tag' (string) is required")
    commit = await call.run(storage.resolve, record.key, check_revision(call.params["ref"]))
    await call.run(storage.create_ref, record.key, "tag", check_ref_name(name, kind="tag"), commit)
    return JSONResponse({})


async def super_squash(call: Call) -> Response:
    """``{"message"}``: the branch becomes one parentless commit of its head tree; commits no ref
    reaches any more are gone (pinned shas of them 404) and so are the blobs only they used."""
    record = await call.writable_repo()
    body = await read_json(call.request, call.hub.config.max_json_bytes)
    message = body.get("message") or "Super-squash"
    if not isinstance(message, str) or len(message) > MAX_TITLE:
        raise errors.BadRequest(f"message must be a string of at most {MAX_TITLE} characters")
    branch = check_revision(call.params["ref"]).removeprefix("refs/heads/")
    author = call.principal.user if call.principal else "anonymous"
    done = await call.run(call.hub.storage.squash, record.key, branch, title=message, author=author)
    for listener in call.hub.listeners:
        await call.run(listener.committed, record.key, branch, done)
    return JSONResponse({"commitOid": done.sha})
