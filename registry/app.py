"""``create_app(config)``: the ASGI application. No module-level app or config."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.routing import Mount

from nnparts.registry import (
    routes_commit,
    routes_files,
    routes_lfs,
    routes_listing,
    routes_refs,
    routes_repos,
)
from nnparts.registry.auth import Authorizer
from nnparts.registry.config import ServerConfig
from nnparts.registry.context import Hub
from nnparts.registry.router import Router
from nnparts.registry.signing import UrlSigner
from nnparts.registry.storage import FilesystemStorage, Storage


def create_app(config: ServerConfig, *, storage: Storage | None = None) -> Starlette:
    """Build the registry app for ``config``.

    Args:
        config: server settings; ``config.root`` is opened (and created) now.
        storage: an alternative :class:`Storage` (tests); default ``FilesystemStorage(root)``.

    Returns:
        A Starlette app; ``app.state.hub`` holds its parts. Storage is closed on shutdown.

    Raises:
        UsageError: the tokens file cannot be read.
    """
    hub = Hub(
        config=config,
        storage=storage if storage is not None else FilesystemStorage(config.root),
        auth=Authorizer.from_file(config.tokens_file),
        signer=UrlSigner(ttl_s=config.upload_url_ttl_s),
    )
    router = Router(hub)
    for module in (routes_repos, routes_listing, routes_refs, routes_commit, routes_lfs, routes_files):
        module.register(router)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        hub.storage.close()

    app = Starlette(routes=[Mount("/", app=router)], lifespan=lifespan)
    app.state.hub = hub
    return app
