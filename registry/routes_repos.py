"""Repository lifecycle and identity: create, delete, info, whoami, validate-yaml, harnesses."""

from __future__ import annotations

from starlette.responses import JSONResponse, Response

from nnparts.registry import errors, hub_wire
from nnparts.registry.bodies import read_json
from nnparts.registry.card_check import card_errors
from nnparts.registry.context import Call, make_key
from nnparts.registry.gitpatterns import default_gitattributes
from nnparts.registry.names import check_revision
from nnparts.registry.records import GITATTRIBUTES, MAIN, RepoKey
from nnparts.registry.router import API_REPO, Router
from nnparts.registry.views import expand_list, expanded, repo_info


def register(router: Router) -> None:
    router.add("GET", r"/api/whoami-v2", whoami)
    router.add("GET", r"/api/agent-harnesses", agent_harnesses)
    router.add("POST", r"/api/validate-yaml", validate_yaml)
    router.add("POST", r"/api/repos/create", create_repo)
    router.add("DELETE", r"/api/repos/delete", delete_repo)
    router.add("POST", r"/api/repos/move", move_repo)
    router.add("GET", API_REPO + r"(?:/revision/(?P<rev>[^/]+))?", get_repo_info)


async def whoami(call: Call) -> Response:
    """The caller; 401 without a token (open servers answer ``anonymous``)."""
    principal = call.principal
    if principal is None and not call.hub.auth.open:
        raise errors.Unauthenticated("whoami needs a token")
    name = principal.user if principal else "anonymous"
    orgs = sorted(ns for ns in (principal.scopes if principal else {}) if ns not in ("*", name))
    return JSONResponse(
        {
            "type": "user",
            "name": name,
            "fullname": name,
            "orgs": [{"name": ns, "type": "org"} for ns in orgs],
            "auth": {"type": "access_token", "accessToken": {"displayName": "nnparts", "role": "write"}},
        }
    )


async def agent_harnesses(call: Call) -> Response:
    """Telemetry probe of the client: nothing to report."""
    return JSONResponse({"harnesses": {}, "standardEnvVars": []})


async def validate_yaml(call: Call) -> Response:
    """Model-card validation (:mod:`card_check`): ``{"errors", "warnings"}``, always JSON; 400
    with the errors (the client raises ``ValueError`` with their messages) when there are any."""
    body = await read_json(call.request, call.hub.config.max_json_bytes)
    content = body.get("content", "")
    if not isinstance(content, str):
        raise errors.BadRequest("field 'content' must be the text of a README.md")
    problems = await call.run(card_errors, content)
    if problems:
        return hub_wire.error_response(
            400,
            hub_wire.BAD_REQUEST,
            f"invalid metadata in README.md: {problems[0]}",
            extra={"errors": [{"message": p} for p in problems], "warnings": []},
        )
    return JSONResponse({"errors": [], "warnings": []})


def _key_from_body(call: Call, body: dict[str, object], *, default_ns: bool) -> RepoKey:
    name = body.get("name")
    if not isinstance(name, str):
        raise errors.BadRequest("field 'name' (string) is required")
    organization = body.get("organization")
    if "/" in name and organization is None:
        organization, name = name.split("/", 1)
    if organization is None and default_ns and call.principal is not None:
        organization = call.principal.user
    if not isinstance(organization, str):
        raise errors.BadRequest(
            "field 'organization' is required", hint="use a repo id of the form 'namespace/name'"
        )
    repo_type = body.get("type") or "model"
    if not isinstance(repo_type, str):
        raise errors.BadRequest("field 'type' must be a string")
    return make_key(repo_type, organization, name)


async def create_repo(call: Call) -> Response:
    """``{"url"}``; 409 with ``url`` when the repo exists (``exist_ok=True`` relies on it). The
    repo starts, as on the Hub, with one commit holding the default ``.gitattributes``."""
    body = await read_json(call.request, call.hub.config.max_json_bytes)
    key = _key_from_body(call, body, default_ns=True)
    call.hub.auth.require_write(call.principal, key.namespace)
    private = body.get("private") is True or body.get("visibility") == "private"
    author = call.principal.user if call.principal else "anonymous"
    try:
        await call.run(
            call.hub.storage.create_repo,
            key,
            private=private,
            author=author,
            files=((GITATTRIBUTES, default_gitattributes(key.type)),),
        )
    except errors.AlreadyExists as err:
        raise errors.AlreadyExists(
            f"You already created this {key.type} repo: {key.id}", url=call.repo_url(key)
        ) from err
    url = call.repo_url(key)
    return JSONResponse({"url": url, "name": key.id, "id": key.id})


async def delete_repo(call: Call) -> Response:
    body = await read_json(call.request, call.hub.config.max_json_bytes)
    key = _key_from_body(call, body, default_ns=True)
    call.hub.auth.require_write(call.principal, key.namespace)
    record = call.visible(await call.run(call.hub.storage.get_repo, key))
    await call.run(call.hub.storage.delete_repo, key)
    for listener in call.hub.listeners:
        await call.run(listener.deleted, record.key)
    return JSONResponse({})


def _repo_id(body: dict[str, object], field: str, repo_type: str) -> RepoKey:
    value = body.get(field)
    if not isinstance(value, str) or value.count("/") != 1:
        raise errors.BadRequest(f"field {field!r} must be a repo id 'namespace/name'")
    namespace, name = value.split("/")
    return make_key(repo_type, namespace, name)


async def move_repo(call: Call) -> Response:
    """``{"fromRepo", "toRepo", "type"}``: rename or transfer a repo; write scope on both
    namespaces. The old id is free at once (no redirect, so no other tenant's repo can ever answer
    for it), the history, refs and blobs follow, and the catalogue re-reads the repo under its new
    id (module ids must still match the new namespace)."""
    body = await read_json(call.request, call.hub.config.max_json_bytes)
    repo_type = body.get("type") or "model"
    if not isinstance(repo_type, str):
        raise errors.BadRequest("field 'type' must be a string")
    src, dst = _repo_id(body, "fromRepo", repo_type), _repo_id(body, "toRepo", repo_type)
    call.hub.auth.require_write(call.principal, src.namespace)
    record = call.visible(await call.run(call.hub.storage.get_repo, src))
    call.hub.auth.require_write(call.principal, dst.namespace)
    try:
        moved = await call.run(call.hub.storage.move_repo, record.key, dst)
    except errors.AlreadyExists as err:
        raise errors.AlreadyExists(
            f"You already have a {dst.type} repo named {dst.id}", url=call.repo_url(dst)
        ) from err
    head = await call.run(call.hub.storage.resolve, moved.key, MAIN)
    for listener in call.hub.listeners:
        await call.run(listener.deleted, record.key)
        await call.run(listener.committed, moved.key, MAIN, head)
    return JSONResponse({"url": call.repo_url(moved.key)})


async def get_repo_info(call: Call) -> Response:
    """Repo info at ``main`` or ``/revision/{rev}``, with ``siblings``."""
    record = await call.readable_repo()
    revision = check_revision(call.params.get("rev", MAIN))
    storage = call.hub.storage
    commit = await call.run(storage.resolve, record.key, revision)
    files = await call.run(storage.list_files, record.key, commit)
    info = await call.run(repo_info, record, sha=commit.sha, files=files)
    return await call.json(expanded(info, expand_list(call.request)))
