"""Validation of repository ids, file paths and revisions; every violation is a ``BadRequest``."""

from __future__ import annotations

import re

from nnparts.registry.errors import BadRequest

REPO_TYPES = ("model", "dataset", "space")
MAX_NAME = 96
MAX_PATH = 1024
MAX_REVISION = 256
MAX_TITLE = 1000

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_RESERVED_NAMESPACES = frozenset({"api", "models", "datasets", "spaces", "resolve", "_lfs"})
_SHA = re.compile(r"[0-9a-f]{40}")
_SHA_LIKE = re.compile(r"[0-9a-fA-F]{40}")
_PR_REF = re.compile(r"refs/pr/([1-9][0-9]{0,8})")


def check_repo_type(value: str) -> str:
    """Return ``value`` if it is ``model``, ``dataset`` or ``space``."""
    if value not in REPO_TYPES:
        raise BadRequest(f"unknown repo type {value!r}", hint=f"use one of {', '.join(REPO_TYPES)}")
    return value


def check_name(value: str, *, what: str = "repo name") -> str:
    """A namespace or repo name: ``[A-Za-z0-9][A-Za-z0-9._-]*``, no ``--``/``..``, <= 96 chars."""
    if (
        not _NAME.fullmatch(value)
        or len(value) > MAX_NAME
        or "--" in value
        or ".." in value
        or value.endswith((".git", "."))
    ):
        raise BadRequest(
            f"invalid {what} {value!r}",
            hint="use letters, digits, '.', '_' or '-', start with a letter or digit, "
            f"at most {MAX_NAME} characters, no '--' or '..'",
        )
    if what == "namespace" and value.lower() in _RESERVED_NAMESPACES:
        raise BadRequest(f"namespace {value!r} is reserved")
    return value


def check_path(value: str) -> str:
    """A relative POSIX file path in a repo: no ``..``/``.``/empty segment, no ``\\``, no NUL."""
    if not value or len(value) > MAX_PATH:
        raise BadRequest(f"invalid path {value[:80]!r}: empty or longer than {MAX_PATH}")
    if value.startswith("/") or "\\" in value or any(ord(c) < 32 or c == "\x7f" for c in value):
        raise BadRequest(f"invalid path {value[:80]!r}", hint="use a relative path with '/' separators")
    for part in value.split("/"):
        if part in ("", ".", "..", ".git"):
            raise BadRequest(f"invalid path {value[:80]!r}: segment {part!r} is not allowed")
    return value


def check_folder(value: str) -> str:
    """A folder path as sent by ``deletedFolder`` (a trailing ``/`` is dropped)."""
    return check_path(value.rstrip("/"))


def check_revision(value: str) -> str:
    """A branch, tag or commit name, decoded from the URL (``refs/heads/x`` is accepted)."""
    if (
        not value
        or len(value) > MAX_REVISION
        or ".." in value
        or value.startswith(("/", "-"))
        or value.endswith(("/", ".lock"))
        or any(ord(c) < 33 or c in "\\~^:?*[\x7f" for c in value)
    ):
        raise BadRequest(f"invalid revision {value[:80]!r}")
    return value


def check_ref_name(value: str, *, kind: str = "branch") -> str:
    """A name for a *new* branch or tag: a valid revision that cannot be mistaken for another.

    Refused: 40 hex digits (any case), which would shadow the commit ``/revision/<sha>`` pins, and
    anything under ``refs/``, which would be unreachable (``refs/heads/x`` resolves to branch ``x``).
    """
    check_revision(value)
    if _SHA_LIKE.fullmatch(value):
        raise BadRequest(
            f"invalid {kind} name {value!r}: it looks like a commit sha",
            hint="pick a name that is not 40 hexadecimal digits",
        )
    if value.startswith("refs/"):
        raise BadRequest(
            f"invalid {kind} name {value!r}: names may not start with 'refs/'",
            hint=f"name the {kind} without the 'refs/heads/' or 'refs/tags/' prefix",
        )
    return value


def is_commit_sha(value: str) -> bool:
    """True for 40 lowercase hex digits."""
    return _SHA.fullmatch(value) is not None


def pr_number(revision: str) -> int | None:
    """``N`` for ``refs/pr/N``, else ``None``."""
    match = _PR_REF.fullmatch(revision)
    return int(match.group(1)) if match else None


def ref_of(revision: str) -> tuple[str, str]:
    """The ``(kind, name)`` of the ref a commit to ``revision`` moves: ``("pr", "N")`` for
    ``refs/pr/N``, else ``("branch", name)`` (``refs/heads/`` dropped)."""
    num = pr_number(revision)
    if num is not None:
        return "pr", str(num)
    return "branch", revision.removeprefix("refs/heads/")
