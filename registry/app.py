"""``create_app(config)``: the ASGI application. No module-level app or config."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.types import Receive, Scope, Send

from nnparts.registry import (
    routes_commit,
    routes_files,
    routes_lfs,
    routes_listing,
    routes_preupload,
    routes_pulls,
    routes_refs,
    routes_repos,
    routes_search,
    routes_settings,
    routes_storage,
)
from nnparts.registry.auth import Authorizer
from nnparts.registry.catalog import Catalog
from nnparts.registry.catalog_sync import CatalogSync
from nnparts.registry.config import ServerConfig
from nnparts.registry.context import Hub
from nnparts.registry.fs_storage import FilesystemStorage
from nnparts.registry.request_id import RequestId
from nnparts.registry.router import Router
from nnparts.registry.sendfile import RAW_SEND
from nnparts.registry.signing import UrlSigner
from nnparts.registry.storage import Storage
from nnparts.registry.web import WebPages


def create_app(config: ServerConfig, *, storage: Storage | None = None) -> Starlette:
    """Build the registry app for ``config``.

    Args:
        config: server settings; ``config.root`` is opened (and created) now.
        storage: an alternative :class:`Storage` (tests); default ``FilesystemStorage(root)``.

    Returns:
        A Starlette app; ``app.state.hub`` holds its parts. Storage is closed on shutdown. The web
        pages (:mod:`nnparts.registry.web`) answer ``GET /`` and a few other paths; their catalogue
        (``<root>/catalog.sqlite3``) catches up with the stored repos now and follows every commit.

    Raises:
        UsageError: the tokens file cannot be read.
    """
    auth = Authorizer.from_file(config.tokens_file)
    store = (
        storage if storage is not None else FilesystemStorage(config.root, gc_min_age_s=config.gc_min_age_s)
    )
    catalog = Catalog(config.root / "catalog.sqlite3")
    sync = CatalogSync(store, catalog)
    sync.backfill()
    hub = Hub(
        config=config,
        storage=store,
        auth=auth,
        signer=UrlSigner(ttl_s=config.upload_url_ttl_s),
        listeners=(sync,),
    )
    router = Router(hub)
    routes = (
        routes_repos,
        routes_settings,
        routes_storage,
        routes_search,
        routes_listing,
        routes_refs,
        routes_preupload,
        routes_commit,
        routes_pulls,
        routes_lfs,
        routes_files,
    )
    for module in routes:
        module.register(router)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        hub.storage.close()
        catalog.close()

    app = RegistryApp(
        routes=[Mount("/", app=WebPages(hub, catalog, fallback=router))],
        lifespan=lifespan,
        middleware=[Middleware(RequestId)],
    )
    app.state.hub = hub
    return app


class RegistryApp(Starlette):
    """The registry's Starlette app; the server's own ``send`` is kept in the scope
    (``sendfile.RAW_SEND``) before any middleware wraps it, so that downloads can use
    ``os.sendfile``."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope[RAW_SEND] = send
        await super().__call__(scope, receive, send)
