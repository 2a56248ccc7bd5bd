"""The registry's web pages: server-rendered HTML beside the Hub API.

:class:`WebPages` sits in front of the Hub router. ``GET``/``HEAD`` of these paths are pages; every
other request (and any path shaped like a Hub file URL, ``/{ns}/{name}/resolve/...``) goes on to the
Hub router unchanged::

    /                       home: search box, counts, latest publishes
    /search?q=&sort=&order=&method=&origin=&min_accuracy=&max_density=&yanked=&page=
    /modules/<id>[?version=] the newest visible version of a module id
    /m/<ns>/<repo>/<folder>  one module version by where it is stored
    /origins/<name>          every module cut from one origin model
    /static/<file>           the stylesheet (package data, no CDN)

Visibility follows the Hub API: a private repo's modules appear only for an ``Authorization: Bearer``
token with read scope on its namespace. Bad input never yields a 500: queries are truncated,
validated and escaped; unknown modules and origins get a friendly 404 page.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from nnparts.registry import web_module, web_search
from nnparts.registry.catalog import Catalog
from nnparts.registry.context import Hub
from nnparts.registry.errors import Unauthenticated
from nnparts.registry.web_render import environment

log = logging.getLogger("nnparts.registry.web")
Page = Callable[["View", re.Match[str]], Awaitable[Response]]
_HUB_FILE = re.compile(r"^/[^/]+/[^/]+/resolve/")
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self';"
        " base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


class View:
    """One page request: the parsed request, what the caller may see, and the shared parts."""

    def __init__(self, pages: WebPages, request: Request, visible: frozenset[str] | None) -> None:
        self.pages = pages
        self.request = request
        self.visible = visible
        self.hub = pages.hub
        self.catalog = pages.catalog

    @property
    def base_url(self) -> str:
        """This server's URL, as clients should use it (``--registry``)."""
        return (self.hub.config.public_url or str(self.request.base_url)).rstrip("/")

    def render(self, template: str, *, status: int = 200, **context: Any) -> Response:
        html = self.pages.env.get_template(template).render(base_url=self.base_url, **context)
        return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)

    def not_found(
        self, what: str, *, suggestions: list[tuple[str, str]] | None = None, link: str = ""
    ) -> Response:
        """A friendly 404 page; ``suggestions`` are ``(label, url)`` links."""
        return self.render(
            "error.html",
            status=404,
            title="Not found",
            message=what,
            suggestions=suggestions or [],
            link=link,
        )

    async def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await run_in_threadpool(fn, *args, **kwargs)


class WebPages:
    """ASGI app: the pages above, else ``fallback`` (the Hub router)."""

    def __init__(self, hub: Hub, catalog: Catalog, fallback: ASGIApp) -> None:
        self.hub = hub
        self.catalog = catalog
        self.fallback = fallback
        self.env = environment()
        static = resources.files("nnparts.registry") / "static"
        self.static = {f.name: f.read_bytes() for f in static.iterdir() if f.name.endswith(".css")}
        self.routes: list[tuple[re.Pattern[str], Page]] = [
            (re.compile(r"/"), web_search.home),
            (re.compile(r"/search/?"), web_search.search),
            (re.compile(r"/modules/(?P<id>[^?#]+?)/?"), web_module.by_id),
            (re.compile(r"/m/(?P<ns>[^/]+)/(?P<name>[^/]+)(?:/(?P<path>.*?))?/?"), web_module.by_location),
            (re.compile(r"/origins/(?P<name>.+?)/?"), web_module.origin),
            (re.compile(r"/static/(?P<file>[A-Za-z0-9._-]+)"), self._static),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        page = self._match(scope)
        if page is None:
            await self.fallback(scope, receive, send)
            return
        handler, match = page
        request = Request(scope, receive)
        response = await self._respond(request, handler, match)
        await response(scope, receive, send)

    def _match(self, scope: Scope) -> tuple[Page, re.Match[str]] | None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            return None
        path: str = scope["path"]
        if _HUB_FILE.match(path):
            return None
        for pattern, handler in self.routes:
            match = pattern.fullmatch(path)
            if match is not None:
                return handler, match
        return None

    async def _respond(self, request: Request, handler: Page, match: re.Match[str]) -> Response:
        view = View(self, request, frozenset())
        try:
            principal = self.hub.auth.identify(request.headers.get("authorization"))
            view.visible = self.hub.auth.visible_private(principal)
            return await handler(view, match)
        except Unauthenticated:
            return view.render(
                "error.html",
                status=401,
                title="Unknown token",
                message="The Authorization header carries a token this registry does not know.",
                suggestions=[],
                link="",
            )
        except Exception:
            log.exception("web page failed: %s", request.url.path)
            return view.render(
                "error.html",
                status=500,
                title="Something went wrong",
                message="The page could not be built; the server log has the details.",
                suggestions=[],
                link="",
            )

    async def _static(self, view: View, match: re.Match[str]) -> Response:
        body = self.static.get(match["file"])
        if body is None:
            return view.not_found(f"No static file {match['file']!r}.")
        headers = {"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"}
        return Response(body, media_type="text/css", headers=headers)
