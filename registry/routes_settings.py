"""Repository settings and access checks: ``update_repo_settings`` and ``auth_check``."""

from __future__ import annotations

from starlette.responses import JSONResponse, Response

from nnparts.registry import errors
from nnparts.registry.bodies import read_json
from nnparts.registry.context import Call
from nnparts.registry.router import API_REPO, Router
from nnparts.registry.storage import MAIN

VISIBILITIES = {"private": True, "public": False}


def register(router: Router) -> None:
    router.add("PUT", API_REPO + r"/settings", settings)
    router.add("GET", API_REPO + r"/auth-check(?P<write>/write)?", auth_check)


async def settings(call: Call) -> Response:
    """``{"visibility": "private"|"public"}`` or ``{"private": bool}``; ``gated`` may only be
    ``false`` (this server has no access requests). The web catalogue follows the change."""
    record = await call.writable_repo()
    body = await read_json(call.request, call.hub.config.max_json_bytes)
    gated = body.get("gated", False)
    if gated is not False:
        raise errors.BadRequest(
            f"gated={gated!r} is not supported by this server", hint="use private repos and read tokens"
        )
    private = body.get("private")
    visibility = body.get("visibility")
    if visibility is not None:
        if visibility not in VISIBILITIES:
            raise errors.BadRequest(f"visibility must be 'private' or 'public', got {str(visibility)[:40]!r}")
        private = VISIBILITIES[visibility]
    if private is not None and not isinstance(private, bool):
        raise errors.BadRequest("private must be true or false")
    if private is not None and private != record.private:
        updated = await call.run(call.hub.storage.set_private, record.key, private)
        head = await call.run(call.hub.storage.resolve, record.key, MAIN)
        for listener in call.hub.listeners:
            await call.run(listener.committed, updated.key, MAIN, head)
    return JSONResponse({})


async def auth_check(call: Call) -> Response:
    """200 if the caller may read (``/write``: write) the repo; else 401/403/404 as for any call."""
    if call.params.get("write"):
        await call.writable_repo()
    else:
        await call.readable_repo()
    return JSONResponse({})
