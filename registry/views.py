"""JSON shapes the Hub client parses: repo info, tree items, commits, refs."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Any

from starlette.requests import Request

from nnparts.registry.errors import BadRequest
from nnparts.registry.records import CommitRecord, FileEntry, RefRecord, RepoRecord
from nnparts.registry.trees import lfs_pointer

_PROPERTY = re.compile(r"[A-Za-z][A-Za-z_-]{0,40}")


def repo_info(record: RepoRecord, *, sha: str | None, files: Sequence[FileEntry] | None) -> dict[str, Any]:
    """``ModelInfo``/``DatasetInfo`` fields; ``id`` and ``sha`` are what the client requires."""
    info: dict[str, Any] = {
        "_id": record.key.id,
        "id": record.key.id,
        "author": record.key.namespace,
        "sha": sha,
        "private": record.private,
        "gated": False,
        "disabled": False,
        "downloads": 0,
        "likes": 0,
        "createdAt": record.created_at,
        "lastModified": record.last_modified,
        "tags": list(record.tags),
        "cardData": record.card_data,
    }
    if record.key.type == "model":
        info["modelId"] = record.key.id
        library = record.card_data.get("library_name")
        if isinstance(library, str):
            info["library_name"] = library
    if files is not None:
        info["siblings"] = [sibling(f) for f in files]
    return info


#: Properties every expanded repo info keeps.
ALWAYS = ("_id", "id")
MAX_EXPAND = 50


def expand_list(request: Request) -> tuple[str, ...] | None:
    """The ``expand=`` properties of the request (``None`` when not given)."""
    names = request.query_params.getlist("expand")
    if not names:
        return None
    if len(names) > MAX_EXPAND or not all(_PROPERTY.fullmatch(n) for n in names):
        raise BadRequest(f"expand takes at most {MAX_EXPAND} property names")
    return tuple(names)


def expanded(info: dict[str, Any], expand: Sequence[str] | None) -> dict[str, Any]:
    """``info`` reduced to ``id`` and the ``expand`` properties it has (all of it if ``None``)."""
    if expand is None:
        return info
    return {k: v for k, v in info.items() if k in ALWAYS or k in expand}


def sibling(entry: FileEntry) -> dict[str, Any]:
    item: dict[str, Any] = {"rfilename": entry.path, "size": entry.size, "blobId": entry.git_oid}
    if entry.lfs:
        item["lfs"] = _lfs(entry)
    return item


def file_item(entry: FileEntry) -> dict[str, Any]:
    """A tree item of type ``file``: ``oid`` is the git blob id, ``size`` the real size."""
    item: dict[str, Any] = {"type": "file", "oid": entry.git_oid, "size": entry.size, "path": entry.path}
    if entry.lfs:
        item["lfs"] = _lfs(entry) | {"oid": entry.sha256}
    return item


def folder_item(path: str, files: Sequence[FileEntry]) -> dict[str, Any]:
    """A tree item of type ``directory``; its ``oid`` is derived from the files below it."""
    digest = hashlib.sha1(usedforsecurity=False)
    for f in files:
        digest.update(f"{f.path}\0{f.git_oid}\n".encode())
    return {"type": "directory", "oid": digest.hexdigest(), "size": 0, "path": path}


def _lfs(entry: FileEntry) -> dict[str, Any]:
    pointer = lfs_pointer(entry.sha256, entry.size)
    return {"sha256": entry.sha256, "size": entry.size, "pointerSize": len(pointer)}


def last_commit_item(commit: CommitRecord) -> dict[str, Any]:
    """The ``lastCommit`` of an expanded tree item."""
    return {"id": commit.sha, "title": commit.title, "date": commit.date}


def commit_item(commit: CommitRecord) -> dict[str, Any]:
    return {
        "id": commit.sha,
        "authors": [{"user": commit.author}],
        "date": commit.date,
        "title": commit.title,
        "message": commit.message,
    }


def ref_item(ref: RefRecord) -> dict[str, Any]:
    if ref.kind == "pr":
        return {"name": f"refs/pr/{ref.name}", "ref": f"refs/pr/{ref.name}", "targetCommit": ref.sha}
    prefix = "refs/heads/" if ref.kind == "branch" else "refs/tags/"
    return {"name": ref.name, "ref": prefix + ref.name, "targetCommit": ref.sha}


def etag_of(entry: FileEntry) -> str:
    """The file's ETag value (unquoted): sha256 for LFS files, git blob sha1 otherwise."""
    return entry.sha256 if entry.lfs else entry.git_oid
