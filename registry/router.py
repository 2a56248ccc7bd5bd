"""A small ASGI router over the *raw* request path.

Starlette's router matches the percent-decoded path, but the Hub client quotes revisions with
``safe=""`` (``refs%2Fpr%2F1``), so a decoded ``/`` would split a revision. This router matches regular
expressions against ``raw_path`` and decodes each captured group afterwards. Every error becomes a
wire error (``hub_wire``), so every 4xx/5xx carries ``X-Error-Code``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from nnparts.registry import hub_wire
from nnparts.registry.context import Call, Hub
from nnparts.registry.errors import RepoNotFound
from nnparts.registry.faults import as_storage_full
from nnparts.schemas.errors import NnpartsError

Handler = Callable[[Call], Awaitable[Response]]
log = logging.getLogger("nnparts.registry")

API_REPO = r"/api/(?P<rtype>models|datasets|spaces)/(?P<ns>[^/]+)/(?P<name>[^/]+)"
FILE_REPO = r"/(?:(?P<rprefix>datasets|spaces)/)?(?P<ns>[^/]+)/(?P<name>[^/]+?)"
#: A repo id without a namespace (``gpt2``) where the client expects a repo: ``RepoNotFound``, so
#: ``repo_exists``/``file_exists`` answer False instead of raising.
_NAMESPACELESS = (
    re.compile(
        r"/api/(?:models|datasets|spaces)/(?P<id>[^/]+)(?:/(?:revision|tree|paths-info|refs|commits"
        r"|preupload|commit|branch|tag|settings|auth-check|super-squash|lfs-files)(?:/.*)?)?"
    ),
    re.compile(r"/(?:(?:datasets|spaces)/)?(?P<id>[^/]+)/resolve/[^/]+/.+"),
)


@dataclass(frozen=True)
class Route:
    """``methods`` + a regex over the raw path -> ``handler``."""

    methods: frozenset[str]
    pattern: re.Pattern[str]
    handler: Handler


class Router:
    """Dispatches to the first route whose pattern matches; 404/405 otherwise."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.routes: list[Route] = []

    def add(self, methods: str, pattern: str, handler: Handler) -> None:
        """Register ``handler`` for space-separated ``methods`` and a full-match ``pattern``."""
        self.routes.append(Route(frozenset(methods.split()), re.compile(pattern), handler))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        response = await self._dispatch(request, scope)
        await response(scope, receive, send)

    async def _dispatch(self, request: Request, scope: Scope) -> Response:
        raw = scope.get("raw_path") or scope["path"].encode()
        path = raw.decode("latin-1").split("?", 1)[0]
        method = request.method
        allowed = False
        try:
            for route in self.routes:
                match = route.pattern.fullmatch(path)
                if match is None:
                    continue
                if method not in route.methods and not (method == "HEAD" and "GET" in route.methods):
                    allowed = True
                    continue
                params = {k: unquote(v) for k, v in match.groupdict().items() if v is not None}
                principal = self.hub.auth.identify(request.headers.get("authorization"))
                return await route.handler(Call(request, params, principal, self.hub))
        except NnpartsError as err:
            return hub_wire.response_for(err)
        except Exception as err:
            full = as_storage_full(err)
            if full is not None:
                log.warning("disk full on %s %s: %s", method, path, err)
                return hub_wire.response_for(full)
            log.exception("unhandled error on %s %s (request %s)", method, path, _request_id(scope))
            return hub_wire.error_response(500, hub_wire.INTERNAL, "internal server error")
        for pattern in _NAMESPACELESS:
            if (bare := pattern.fullmatch(path)) is not None:
                return hub_wire.response_for(
                    RepoNotFound(
                        f"repository {unquote(bare['id'])[:100]!r} not found",
                        hint="repo ids are 'namespace/name'",
                    )
                )
        if allowed:
            return hub_wire.error_response(
                405, hub_wire.METHOD_NOT_ALLOWED, f"method {method} not allowed on {path}"
            )
        return hub_wire.error_response(404, hub_wire.NOT_FOUND, f"no route for {method} {path}")


def _request_id(scope: Scope) -> str:
    state = scope.get("state") or {}
    return str(state.get("request_id", "-"))
