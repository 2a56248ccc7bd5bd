"""What every route receives: the server's parts (``Hub``) and the parsed request (``Call``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ParamSpec, Protocol, TypeVar
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from nnparts.registry.auth import Authorizer, Principal
from nnparts.registry.config import ServerConfig
from nnparts.registry.errors import RepoNotFound, Unauthenticated
from nnparts.registry.names import check_name, check_repo_type
from nnparts.registry.signing import UrlSigner
from nnparts.registry.storage import CommitRecord, RepoKey, RepoRecord, Storage

P = ParamSpec("P")
T = TypeVar("T")

API_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
URL_PREFIXES = {"model": "", "dataset": "datasets/", "space": "spaces/"}


class RepoListener(Protocol):
    """Told about stored changes, in the request's worker thread (the web catalogue); never raises."""

    def committed(self, key: RepoKey, branch: str, commit: CommitRecord) -> None: ...

    def deleted(self, key: RepoKey) -> None: ...


@dataclass(frozen=True)
class Hub:
    """The server's long-lived parts, built once by ``create_app``."""

    config: ServerConfig
    storage: Storage
    auth: Authorizer
    signer: UrlSigner
    listeners: tuple[RepoListener, ...] = ()


@dataclass(frozen=True)
class Call:
    """One request: URL parameters (percent-decoded) and the authenticated caller."""

    request: Request
    params: dict[str, str]
    principal: Principal | None
    hub: Hub

    @property
    def base_url(self) -> str:
        """Base URL for links in responses, without trailing slash."""
        configured = self.hub.config.public_url
        return (configured or str(self.request.base_url)).rstrip("/")

    def repo_key(self) -> RepoKey:
        """The repo named by the URL (``rtype`` = models/datasets/spaces or ``rprefix``)."""
        if "rtype" in self.params:
            repo_type = API_TYPES[self.params["rtype"]]
        else:
            repo_type = {"datasets": "dataset", "spaces": "space"}.get(
                self.params.get("rprefix") or "", "model"
            )
        return make_key(repo_type, self.params["ns"], self.params["name"])

    def repo_url(self, key: RepoKey) -> str:
        return f"{self.base_url}/{URL_PREFIXES[key.type]}{key.id}"

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run blocking storage work in the thread pool."""
        return await run_in_threadpool(fn, *args, **kwargs)

    async def json(self, body: object, *, headers: dict[str, str] | None = None) -> JSONResponse:
        """A JSON response serialised in the thread pool (large listings stall no other client)."""
        return await run_in_threadpool(JSONResponse, body, headers=headers)

    def visible(self, record: RepoRecord) -> RepoRecord:
        """``record`` if the caller may see it, else ``RepoNotFound`` (private repos hide)."""
        if not self.hub.auth.can_read(self.principal, record.key.namespace, private=record.private):
            raise RepoNotFound(f"{record.key.type} repository {record.key.id!r} not found")
        return record

    async def readable_repo(self) -> RepoRecord:
        """The URL's repo, checked for visibility."""
        return self.visible(await self.run(self.hub.storage.get_repo, self.repo_key()))

    @property
    def user(self) -> str:
        """The caller's name for authorship (``anonymous`` on an open server without a token)."""
        return self.principal.user if self.principal else "anonymous"

    def may_write(self, namespace: str) -> bool:
        """Whether the caller has write scope on ``namespace`` (always on an open server)."""
        return self.hub.auth.open or (self.principal is not None and self.principal.can_write(namespace))

    async def contributable_repo(self) -> RepoRecord:
        """The URL's repo for a contribution (a discussion, a pull request and its uploads): read
        access suffices, but a token is needed unless the server is open."""
        record = await self.readable_repo()
        if self.principal is None and not self.hub.auth.open:
            raise Unauthenticated(f"contributing to {record.key.id!r} needs a token", hint="pass token=")
        return record

    async def writable_repo(self) -> RepoRecord:
        """The URL's repo, checked for write access (401/403, or 404 if hidden anyway)."""
        key = self.repo_key()
        self.hub.auth.require_write(self.principal, key.namespace)
        return self.visible(await self.run(self.hub.storage.get_repo, key))


def make_key(repo_type: str, namespace: str, name: str) -> RepoKey:
    """A validated ``RepoKey``."""
    return RepoKey(
        type=check_repo_type(repo_type),
        namespace=check_name(namespace, what="namespace"),
        name=check_name(name),
    )


def next_link(call: Call, **changes: str | int) -> str:
    """A ``Link: <url>; rel="next"`` value: this request's URL with ``changes`` to its query."""
    items = [(k, v) for k, v in call.request.query_params.multi_items() if k not in changes]
    items += [(k, str(v)) for k, v in changes.items()]
    return f'<{call.base_url}{call.request.url.path}?{urlencode(items)}>; rel="next"'
