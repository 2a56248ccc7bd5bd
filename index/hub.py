"""HubIndex: a registry on any Hugging Face Hub endpoint. The only nnparts module importing huggingface_hub.

``--registry https://huggingface.co#my-org`` or ``--registry http://127.0.0.1:8080`` (an ``nnparts
serve``) give the same verbs as a folder: publish, search, show, list, yank, fetch. The repository
layout (one model repo per origin model, content-addressed ``blobs/``, one index dataset repo with
per-class shards) is drawn in :mod:`nnparts.index._hub_layout`; endpoints, tokens and caches are
described in :mod:`nnparts.index._hub_config`.

Contract and costs:

- ``search`` reads one shard file of the index repo (plus, only for an unknown class, ``modules.json``
  to name the nearest classes); ``entries``/``list``/``get`` read ``modules.json``. Each read first
  asks for the index repo's head commit (one request); files at a known commit come from the cache.
- ``publish`` is two commits. First the module goes into its origin repo: the blobs that repo lacks,
  the manifest, the cards. Then ONE ``create_commit(parent_commit=head)`` on the index repo adds the
  entry to ``modules.json`` and to its shards. A stale head gets HTTP 412; the publisher re-reads the
  index at the new head, re-applies its change and retries with jittered exponential backoff, so
  concurrent publishers never lose an update. The origin repo's cards are updated the same way.
  Other clients can also find modules with ``HfApi(endpoint=...).list_models(filter="class:cat")``
  (tags ``nnparts``, ``dnn-module``, ``class:<name>``, ``origin:<origin>``, ``method:<method>``);
  those tags are not yank-aware: the index shards are the source of truth.
- ``yank`` is one such optimistic commit on the index repo.
- ``manifest``/``fetch`` download at the commit the entry pins. ``hf_hub_download`` checks sizes
  only; the base class checks the manifest's sha256 against the entry and every file against the
  manifest. On a mismatch the cached snapshot of that commit is evicted, so a later fetch downloads
  again instead of failing on a poisoned cache.
- Module files (the ``blobs/<sha256>`` the manifest lists, size and sha256 known in advance) from an
  endpoint other than huggingface.co, when not offline and not already in the cache at that commit,
  come by one verified GET straight into the fetch's staging folder (:mod:`nnparts.index._pinned_get`;
  about 4x ``hf_hub_download`` on loopback, see ``bench/registry.py``). They skip the download cache,
  whose copy would be a second write of every byte, and are hashed in transit and once more by the
  base class's check. Anything but a plain 200 with a length falls back to ``hf_hub_download``.

Isolation: every call passes ``endpoint=`` and the endpoint's own ``cache_dir``; without an nnparts
token a non-huggingface.co endpoint gets ``token=False``, so ``HF_TOKEN`` and the HF token file never
leave for a foreign host. Telemetry is off for the process; Xet is off once a non-HF endpoint is opened.
"""

from __future__ import annotations

import builtins
import contextlib
import os
import random
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, NoReturn, TypeVar

import huggingface_hub.constants as hf_constants
from huggingface_hub import CommitOperationAdd, HfApi, hf_hub_download, hf_hub_url, try_to_load_from_cache
from huggingface_hub.errors import (  # type: ignore[attr-defined]  # HTTPError is httpx2's, re-exported
    EntryNotFoundError,
    HfHubHTTPError,
    HTTPError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.file_download import repo_folder_name
from huggingface_hub.utils.tqdm import disable_progress_bars

from nnparts.index import _hub_layout as layout
from nnparts.index._home import default_home
from nnparts.index._hub_config import (
    TOKENS_FILE,
    HubEndpoint,
    default_cache_dir,
    parse_endpoint,
    resolve_token,
)
from nnparts.index._pinned_get import NotPlain, get_pinned
from nnparts.index.base import IndexBackend, utc_timestamp
from nnparts.index.search import match_class, select_version
from nnparts.schemas.errors import (
    AuthError,
    ConflictError,
    IntegrityError,
    NnpartsError,
    RegistryError,
    RemoteError,
)
from nnparts.schemas.index_entry import IndexEntry
from nnparts.schemas.manifest import FileEntry, ModuleManifest
from nnparts.schemas.package import MANIFEST_NAME, safe_relpath
from nnparts.schemas.signature import MAX_SIGNATURE_BYTES, SIGNATURE_NAME

hf_constants.HF_HUB_DISABLE_TELEMETRY = True
disable_progress_bars()

T = TypeVar("T")
MODEL, DATASET = "model", "dataset"
PRECONDITION_FAILED = 412


@dataclass(frozen=True)
class _Change(Generic[T]):
    """What one optimistic attempt wants to commit, and what the operation returns if it lands."""

    operations: list[CommitOperationAdd]
    message: str
    result: T


class HubIndex(IndexBackend):
    """A registry in the namespace of a Hub endpoint (nothing is contacted until the first call).

    Args:
        url: ``http(s)://host[:port][/prefix][#namespace]``; the namespace defaults to ``nnparts``.
        token: the token for this endpoint; default: ``NNPARTS_TOKEN_<HOST>_<PORT>``, then
            ``$NNPARTS_HOME/tokens.json``, then none (huggingface.co alone falls back to the HF login).
        cache_dir: download cache; default ``$NNPARTS_HOME/hub-cache/<endpoint>``.
        namespace: overrides the URL's ``#namespace``.
        clock: the ``published`` timestamp (injectable for reproducible tests).
        max_attempts: optimistic commit attempts before :class:`ConflictError`.
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        cache_dir: Path | None = None,
        namespace: str | None = None,
        clock: Callable[[], str] = utc_timestamp,
        max_attempts: int = 30,
    ) -> None:
        self._endpoint: HubEndpoint = parse_endpoint(url, namespace)
        home = default_home()
        own = resolve_token(self._endpoint, token, home=home, environ=os.environ)
        self._has_token = own is not None
        self._token: str | bool | None = own or (None if self._endpoint.is_huggingface else False)
        self._cache = Path(cache_dir) if cache_dir is not None else default_cache_dir(self._endpoint, home)
        self._tokens_file = home / TOKENS_FILE
        self._clock = clock
        self._max_attempts = max_attempts
        self._parsed: dict[tuple[str, str], builtins.list[IndexEntry]] = {}
        if not self._endpoint.is_huggingface:
            hf_constants.HF_HUB_DISABLE_XET = True  # Xet CAS exists only on huggingface.co
        self._api = HfApi(endpoint=self._endpoint.url, token=self._token, library_name="nnparts")

    # -- identity ---------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._endpoint.registry_url

    @property
    def url(self) -> str:
        return self._endpoint.registry_url

    @property
    def endpoint(self) -> HubEndpoint:
        return self._endpoint

    @property
    def cache_dir(self) -> Path:
        return self._cache

    @property
    def index_repo(self) -> str:
        return f"{self._endpoint.namespace}/{layout.INDEX_REPO}"

    def origin_repo(self, origin: str) -> str:
        """The model repo holding the modules extracted from ``origin``."""
        return f"{self._endpoint.namespace}/{layout.origin_repo_name(origin)}"

    # -- reads ------------------------------------------------------------------------------------

    def entries(self) -> builtins.list[IndexEntry]:
        """Cost: one request for the head, plus ``modules.json`` once per index commit."""
        head = self._index_head()
        return [] if head is None else builtins.list(self._index_file(head, layout.MODULES_FILE))

    def search(self, class_query: str, *, include_yanked: bool = False) -> builtins.list[IndexEntry]:
        """As :meth:`IndexBackend.search`, reading only the class's shard (``classes/<hh>.json``)."""
        head = self._index_head()
        shard = [] if head is None else self._index_file(head, layout.shard_path(class_query))
        if any(e.matches(class_query) for e in shard):
            return match_class(shard, class_query, include_yanked=include_yanked)
        return super().search(class_query, include_yanked=include_yanked)  # unknown: nearest names

    def _read_manifest_bytes(self, entry: IndexEntry) -> bytes:
        where = layout.Location.parse(entry.location, ref=entry.ref)
        path = self._download_file(where.repo_id, MODEL, f"{where.folder}/{MANIFEST_NAME}", where.commit)
        if path is None:
            raise RegistryError(
                f"{entry.ref} has no manifest at {where} on {self.name}", hint="publish it again"
            )
        return path.read_bytes()

    def lock_location(self, entry: IndexEntry) -> tuple[str, str]:
        """``(repo_id, folder)`` of ``<ns>/<origin>@<commit>/modules/<id>/<version>``."""
        where = layout.Location.parse(entry.location, ref=entry.ref)
        return where.repo_id, where.folder

    def _download(self, entry: IndexEntry, manifest: ModuleManifest, staging: Path) -> None:
        where = layout.Location.parse(entry.location, ref=entry.ref)
        (staging / MANIFEST_NAME).write_bytes(self._read_manifest_bytes(entry))
        for f in manifest.files:
            target = staging / safe_relpath(f.path)
            target.parent.mkdir(parents=True, exist_ok=True)
            if self._get_pinned(where, f, target, f"{entry.ref} {f.path}"):
                continue
            cached = self._download_file(where.repo_id, MODEL, layout.blob_path(f.sha256), where.commit)
            if cached is None:
                raise IntegrityError(f"{entry.ref} in {self.name} lacks its file {f.path}", path=str(where))
            shutil.copyfile(cached, target)
        signature = self.signature(entry)
        if signature is not None:
            (staging / SIGNATURE_NAME).write_bytes(signature)

    def _get_pinned(self, where: layout.Location, file: FileEntry, target: Path, what: str) -> bool:
        """``file`` into ``target`` by one verified GET; False where ``hf_hub_download`` must do it
        (huggingface.co, offline mode, already cached at this commit, or not a plain answer).

        Raises:
            IntegrityError: the registry's answer differs from the pinned size or sha256.
            RemoteError: the transfer broke after the headers.
        """
        path_in_repo = layout.blob_path(file.sha256)
        if self._endpoint.is_huggingface or hf_constants.HF_HUB_OFFLINE:
            return False
        cached = try_to_load_from_cache(
            where.repo_id, path_in_repo, cache_dir=self._cache, revision=where.commit, repo_type=MODEL
        )
        if isinstance(cached, str):
            return False
        url = hf_hub_url(where.repo_id, path_in_repo, revision=where.commit, endpoint=self._endpoint.url)
        token = self._token if isinstance(self._token, str) else None
        try:
            get_pinned(
                url,
                target,
                size=file.bytes,
                sha256=file.sha256,
                token=token,
                token_origin=self._endpoint.url,
                what=what,
            )
        except NotPlain:
            return False
        return True

    def _read_signature_bytes(self, entry: IndexEntry) -> bytes | None:
        """``<folder>/package.sig`` at the pinned commit (one request, cached), or None when unsigned."""
        where = layout.Location.parse(entry.location, ref=entry.ref)
        path = self._download_file(where.repo_id, MODEL, f"{where.folder}/{SIGNATURE_NAME}", where.commit)
        if path is None or path.stat().st_size > MAX_SIGNATURE_BYTES:
            return None
        return path.read_bytes()

    def fetch(self, entry: IndexEntry, dest_dir: str | os.PathLike[str]) -> Path:
        """As :meth:`IndexBackend.fetch`; a corrupt download also evicts that commit from the cache."""
        try:
            return super().fetch(entry, dest_dir)
        except IntegrityError:
            self._evict(entry)
            raise

    # -- writes -----------------------------------------------------------------------------------

    def _publish(self, package_dir: Path, manifest: ModuleManifest, manifest_sha256: str) -> IndexEntry:
        known = _same_version(self.entries(), manifest.id, manifest.version, manifest_sha256, self.name)
        if known is not None:
            return known
        self._create_repo(self.index_repo, DATASET)
        repo_id = self.origin_repo(manifest.origin.name)
        self._create_repo(repo_id, MODEL)
        commit = self._commit_module(repo_id, package_dir, manifest)
        location = layout.Location(repo_id, commit, layout.module_folder(manifest.id, manifest.version))
        entry = IndexEntry.from_manifest(
            manifest, manifest_sha256=manifest_sha256, published=self._clock(), location=str(location)
        )
        return self._optimistic(self.index_repo, DATASET, lambda head: self._add_entry(head, entry))

    def yank(self, module_id: str, version: str | None = None, reason: str = "") -> IndexEntry:
        return self._optimistic(
            self.index_repo, DATASET, lambda head: self._yank_change(head, module_id, version, reason)
        )

    def _add_entry(self, head: str | None, entry: IndexEntry) -> _Change[IndexEntry]:
        entries = [] if head is None else self._index_file(head, layout.MODULES_FILE)
        known = _same_version(entries, entry.id, entry.version, entry.manifest_sha256, self.name)
        if known is not None:
            return _Change([], "", known)
        operations = self._entry_operations(head, entries, entry)
        if not entries:
            card = layout.index_card(self._endpoint.namespace).encode()
            operations.append(CommitOperationAdd(layout.README, card))
        return _Change(operations, f"publish {entry.ref}", entry)

    def _yank_change(
        self, head: str | None, module_id: str, version: str | None, reason: str
    ) -> _Change[IndexEntry]:
        entries = [] if head is None else self._index_file(head, layout.MODULES_FILE)
        target = select_version(entries, module_id, version)
        if target.yanked and (not reason or reason == target.yank_reason):
            return _Change([], "", target)
        updated = target.with_yank(reason or target.yank_reason)
        return _Change(self._entry_operations(head, entries, updated), f"yank {updated.ref}", updated)

    def _entry_operations(
        self, head: str | None, entries: builtins.list[IndexEntry], entry: IndexEntry
    ) -> builtins.list[CommitOperationAdd]:
        """``modules.json`` and every shard of ``entry``, each with ``entry`` put in."""
        operations = [
            CommitOperationAdd(layout.MODULES_FILE, layout.encode_entries(layout.upsert(entries, entry)))
        ]
        for shard in layout.entry_shards(entry):
            rows = [] if head is None else self._index_file(head, shard)
            operations.append(CommitOperationAdd(shard, layout.encode_entries(layout.upsert(rows, entry))))
        return operations

    def _commit_module(self, repo_id: str, package_dir: Path, manifest: ModuleManifest) -> str:
        """Put the module into its origin repo (missing blobs, manifest, cards); return the commit."""

        def change(head: str | None) -> _Change[None]:
            blobs = {layout.blob_path(f.sha256): package_dir / safe_relpath(f.path) for f in manifest.files}
            present = self._present(repo_id, builtins.list(blobs), head)
            folder = layout.module_folder(manifest.id, manifest.version)
            rows = layout.merge_rows(self._card_rows(repo_id, head), layout.CardRow.from_manifest(manifest))
            operations = [
                CommitOperationAdd(p, str(src)) for p, src in sorted(blobs.items()) if p not in present
            ]
            operations += [
                CommitOperationAdd(f"{folder}/{MANIFEST_NAME}", str(package_dir / MANIFEST_NAME)),
                CommitOperationAdd(f"{folder}/{layout.README}", layout.module_card(manifest).encode()),
                CommitOperationAdd(layout.ORIGIN_TABLE, layout.encode_rows(rows)),
                CommitOperationAdd(layout.README, layout.origin_card(manifest.origin.name, rows).encode()),
            ]
            if (package_dir / SIGNATURE_NAME).is_file():  # the detached signature travels beside it
                operations.append(
                    CommitOperationAdd(f"{folder}/{SIGNATURE_NAME}", str(package_dir / SIGNATURE_NAME))
                )
            return _Change(operations, f"add {manifest.id}@{manifest.version}", None)

        commit = self._optimistic_commit(repo_id, MODEL, change)[0]
        if commit is None:
            raise RegistryError(f"{repo_id} on {self.name} has no commit after publishing into it")
        return commit

    def _optimistic(self, repo_id: str, repo_type: str, change: Callable[[str | None], _Change[T]]) -> T:
        return self._optimistic_commit(repo_id, repo_type, change)[1]

    def _optimistic_commit(
        self, repo_id: str, repo_type: str, change: Callable[[str | None], _Change[T]]
    ) -> tuple[str | None, T]:
        """Read at the head, build the change, commit with ``parent_commit=head``; retry on 412.

        Returns the new commit (the head when there was nothing to commit) and the change's result.

        Raises:
            ConflictError: still stale after ``max_attempts`` attempts.
        """
        for attempt in range(self._max_attempts):
            head = self._head(repo_id, repo_type)
            planned = change(head)
            if not planned.operations:
                return head, planned.result
            try:
                info = self._api.create_commit(  # run_as_future=False: a CommitInfo
                    repo_id,
                    planned.operations,
                    commit_message=planned.message,
                    repo_type=repo_type,
                    parent_commit=head,
                )
            except HfHubHTTPError as exc:
                if _status(exc) != PRECONDITION_FAILED:
                    self._raise(exc, f"committing to {repo_id}")
                time.sleep(min(2.0, 0.05 * 2**attempt) * (0.5 + random.random()))
                continue
            except (HTTPError, OSError) as exc:
                self._raise(exc, f"committing to {repo_id}")
            return info.oid, planned.result
        raise ConflictError(
            f"{repo_id} on {self.name} kept changing; gave up after {self._max_attempts} attempts",
            hint="retry the command",
        )

    # -- Hub calls --------------------------------------------------------------------------------

    def _index_head(self) -> str | None:
        """The index repo's head commit, or None when the repo does not exist yet (empty registry)."""
        try:
            return self._head(self.index_repo, DATASET)
        except RegistryError as exc:
            if isinstance(exc.__cause__, RepositoryNotFoundError):
                return None
            raise

    def _head(self, repo_id: str, repo_type: str) -> str | None:
        with self._remote(f"reading {repo_id}"):
            return self._api.repo_info(repo_id, repo_type=repo_type).sha

    def _create_repo(self, repo_id: str, repo_type: str) -> None:
        with self._remote(f"creating {repo_id}"):
            self._api.create_repo(repo_id, repo_type=repo_type, exist_ok=True)

    def _present(self, repo_id: str, paths: builtins.list[str], head: str | None) -> set[str]:
        """Which of ``paths`` exist in ``repo_id`` at ``head`` (one request)."""
        if head is None:
            return set()
        with self._remote(f"listing {repo_id}"):
            return {item.path for item in self._api.get_paths_info(repo_id, paths, revision=head)}

    def _card_rows(self, repo_id: str, head: str | None) -> builtins.list[layout.CardRow]:
        path = None if head is None else self._download_file(repo_id, MODEL, layout.ORIGIN_TABLE, head)
        if path is None:
            return []
        return layout.decode_rows(path.read_bytes(), source=f"{repo_id}@{head}/{layout.ORIGIN_TABLE}")

    def _index_file(self, head: str, path_in_repo: str) -> builtins.list[IndexEntry]:
        """The entries of an index document at ``head`` (absent = none), parsed once per commit."""
        key = (head, path_in_repo)
        if key not in self._parsed:
            path = self._download_file(self.index_repo, DATASET, path_in_repo, head)
            raw = None if path is None else path.read_bytes()
            source = f"{self.name}: {self.index_repo}@{head[:12]}/{path_in_repo}"
            self._parsed[key] = [] if raw is None else layout.decode_entries(raw, source=source)
        return builtins.list(self._parsed[key])

    def _download_file(self, repo_id: str, repo_type: str, path_in_repo: str, revision: str) -> Path | None:
        """One file at ``revision`` through the endpoint's cache; None when the repo lacks it."""
        try:
            with self._remote(f"downloading {repo_id}/{path_in_repo}"):
                local = hf_hub_download(
                    repo_id,
                    path_in_repo,
                    repo_type=repo_type,
                    revision=revision,
                    cache_dir=self._cache,
                    endpoint=self._endpoint.url,
                    token=self._token,
                    library_name="nnparts",
                )
        except RegistryError as exc:
            if isinstance(exc.__cause__, EntryNotFoundError) and not isinstance(
                exc.__cause__, LocalEntryNotFoundError
            ):
                return None
            raise
        return Path(str(local))

    def _evict(self, entry: IndexEntry) -> None:
        """Drop the cached snapshot of the commit ``entry`` pins, blobs included."""
        try:
            where = layout.Location.parse(entry.location, ref=entry.ref)
        except RegistryError:
            return
        snapshot = self._cache / repo_folder_name(repo_id=where.repo_id, repo_type=MODEL) / "snapshots"
        snapshot /= where.commit
        for link in sorted(snapshot.rglob("*"), reverse=True):
            if link.is_symlink():
                link.resolve().unlink(missing_ok=True)
            if not link.is_dir() or link.is_symlink():
                link.unlink(missing_ok=True)
        shutil.rmtree(snapshot, ignore_errors=True)

    # -- errors -----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _remote(self, what: str) -> Iterator[None]:
        """Turn huggingface_hub and transport errors into :mod:`nnparts.schemas.errors`."""
        try:
            yield
        except NnpartsError:
            raise
        except (HTTPError, OSError) as exc:
            self._raise(exc, what)

    def _raise(self, exc: BaseException, what: str) -> NoReturn:
        """Raise the nnparts error for ``exc`` (chained, so callers can inspect ``__cause__``)."""
        where = f"{what} on {self._endpoint.url}"
        if isinstance(exc, RepositoryNotFoundError):
            raise RegistryError(
                f"{where}: no such repository", hint="publish into this registry first"
            ) from exc
        if isinstance(exc, RevisionNotFoundError):
            raise RegistryError(f"{where}: no such commit", hint="the repo was rewritten; republish") from exc
        if isinstance(exc, EntryNotFoundError) and not isinstance(exc, LocalEntryNotFoundError):
            raise RegistryError(
                f"{where}: no such file", hint="the package is incomplete; republish it"
            ) from exc
        if isinstance(exc, HfHubHTTPError):
            self._raise_http(exc, where)
        if isinstance(exc, LocalEntryNotFoundError | OfflineModeIsEnabled | HTTPError):
            raise RemoteError(
                f"{where}: cannot reach the registry ({_one_line(exc)})",
                hint="check the URL and that the server is running",
            ) from exc
        raise RegistryError(f"{where}: {_one_line(exc)}") from exc

    def _raise_http(self, exc: HfHubHTTPError, where: str) -> NoReturn:
        status = _status(exc)
        if status in (401, 403):
            verb = "refused the token" if self._has_token else "needs a token"
            raise AuthError(
                f"{where}: HTTP {status}, the registry {verb} ({_server_message(exc)})",
                hint=f"set {self._endpoint.token_env} or add {self._endpoint.url!r} to {self._tokens_file}",
            ) from exc
        raise RemoteError(
            f"{where}: HTTP {status} ({_server_message(exc)})",
            status=status,
            request_id=exc.request_id or "",
            hint="retry later, or check the server's log",
        ) from exc


def _same_version(
    entries: builtins.list[IndexEntry], module_id: str, version: str, manifest_sha256: str, registry: str
) -> IndexEntry | None:
    """The stored entry when ``id@version`` is already published with these bytes, else None.

    Raises:
        RegistryError: it is published with other content (versions are immutable).
    """
    for old in entries:
        if (old.id, old.version) == (module_id, version):
            if old.manifest_sha256 == manifest_sha256:
                return old
            raise RegistryError(
                f"{old.ref} is already published in {registry} with different content "
                f"(manifest sha256 {old.manifest_sha256[:12]}..., yours {manifest_sha256[:12]}...)",
                hint="published versions are immutable; bump the version in manifest.json",
            )
    return None


def _status(exc: HfHubHTTPError) -> int:
    response = getattr(exc, "response", None)
    return int(getattr(response, "status_code", 0) or 0)


def _server_message(exc: HfHubHTTPError) -> str:
    text = (exc.server_message or "").strip()
    return text.splitlines()[0] if text else _one_line(exc)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
