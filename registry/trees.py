"""Flat trees and commit ids: content ids, LFS pointers and applying one operation to a file map."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime

from nnparts.registry import errors
from nnparts.registry.gitpatterns import LfsRules
from nnparts.registry.records import CommitOp, FileEntry, RepoKey

EMPTY_TREE = hashlib.sha1(b"", usedforsecurity=False).hexdigest()


def now_iso() -> str:
    """UTC now as ISO 8601 with milliseconds and ``Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def tree_id_of(files: Sequence[FileEntry]) -> str:
    """Content id of a flat tree (entries sorted by path)."""
    digest = hashlib.sha1(usedforsecurity=False)
    for f in sorted(files, key=lambda e: e.path):
        digest.update(f"{f.path}\0{f.sha256}\0{int(f.lfs)}\n".encode())
    return digest.hexdigest() if files else EMPTY_TREE


def lfs_pointer(sha256: str, size: int) -> bytes:
    """The git-lfs pointer file that stands for an LFS blob in git."""
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def commit_sha(
    key: RepoKey, parent: str | None, tree_id: str, title: str, message: str, author: str, date: str
) -> str:
    body = json.dumps([key.type, key.id, parent, tree_id, title, message, author, date])
    return hashlib.sha1(body.encode(), usedforsecurity=False).hexdigest()


def apply_op(files: dict[str, FileEntry], op: CommitOp, key: RepoKey) -> None:
    if op.kind == "add":
        if op.blob is None:
            raise errors.BadRequest(f"add operation for {op.path!r} carries no content")
        prefix = op.path + "/"
        if any(p.startswith(prefix) for p in files) or any(op.path.startswith(p + "/") for p in files):
            raise errors.BadRequest(f"{op.path!r} conflicts with an existing file or folder")
        oid = pointer_oid(op.blob.sha256, op.blob.size) if op.lfs else op.blob.git_oid
        files[op.path] = FileEntry(op.path, op.blob.size, op.blob.sha256, oid, op.lfs)
    elif op.kind == "delete_file" and op.path in files:
        del files[op.path]
    else:  # a folder; as on the Hub, ``deletedFile`` of a folder path removes the folder too
        prefix = op.path.rstrip("/") + "/"
        doomed = [p for p in files if p.startswith(prefix)]
        if not doomed:
            what = "file" if op.kind == "delete_file" else "folder"
            raise errors.EntryNotFound(f"A {what} with this name doesn't exist: {op.path!r} in {key.id!r}")
        for p in doomed:
            del files[p]


def pointer_oid(sha256: str, size: int) -> str:
    """The git blob id of the LFS pointer file of a blob: the ``oid`` of an LFS tree entry."""
    pointer = lfs_pointer(sha256, size)
    return hashlib.sha1(b"blob %d\0" % len(pointer) + pointer, usedforsecurity=False).hexdigest()


def promote_lfs(files: dict[str, FileEntry], rules: LfsRules | None, ops: Sequence[CommitOp]) -> None:
    """Turn the regular, non-empty files that ``ops`` added into LFS files where ``rules`` say so."""
    if rules is None:
        return
    for op in ops:
        entry = files.get(op.path)
        if (
            op.kind == "add"
            and entry is not None
            and not entry.lfs
            and entry.size > 0
            and rules.is_lfs(op.path)
        ):
            files[op.path] = FileEntry(
                entry.path, entry.size, entry.sha256, pointer_oid(entry.sha256, entry.size), True
            )
