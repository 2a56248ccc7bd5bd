"""The Hub's wire vocabulary in one place: header names, ``X-Error-Code`` values, error bodies.

Every 4xx/5xx the server sends goes through :func:`error_response`, so each carries an
``X-Error-Code`` header and a JSON body ``{"error": message}`` (``huggingface_hub`` maps the code
to ``RepositoryNotFoundError``, ``RevisionNotFoundError`` or ``RemoteEntryNotFoundError``).
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

from nnparts.registry import errors
from nnparts.schemas.errors import NnpartsError

X_ERROR_CODE = "X-Error-Code"
X_ERROR_MESSAGE = "X-Error-Message"
X_REPO_COMMIT = "X-Repo-Commit"
X_LINKED_SIZE = "X-Linked-Size"
NDJSON = "application/x-ndjson"
LFS_JSON = "application/vnd.git-lfs+json"

# X-Error-Code values: the first four are understood by huggingface_hub, the rest are ours.
REPO_NOT_FOUND = "RepoNotFound"
REVISION_NOT_FOUND = "RevisionNotFound"
ENTRY_NOT_FOUND = "EntryNotFound"
GATED_REPO = "GatedRepo"
BAD_REQUEST = "BadRequest"
BODY_TOO_LARGE = "BodyTooLarge"
ALREADY_EXISTS = "AlreadyExists"
STALE_PARENT = "StaleParentCommit"
MERGE_CONFLICT = "MergeConflict"
LFS_OBJECT_MISSING = "LfsObjectMissing"
UNAUTHENTICATED = "Unauthenticated"
FORBIDDEN = "Forbidden"
NOT_FOUND = "NotFound"
METHOD_NOT_ALLOWED = "MethodNotAllowed"
RANGE_NOT_SATISFIABLE = "RangeNotSatisfiable"
INSUFFICIENT_STORAGE = "InsufficientStorage"
INTERNAL = "InternalError"

# Exception class -> (HTTP status, X-Error-Code); the first match in this order wins.
_ERROR_MAP: tuple[tuple[type[NnpartsError], int, str], ...] = (
    (errors.BodyTooLarge, 413, BODY_TOO_LARGE),
    (errors.BadRequest, 400, BAD_REQUEST),
    (errors.RepoNotFound, 404, REPO_NOT_FOUND),
    (errors.RevisionNotFound, 404, REVISION_NOT_FOUND),
    (errors.EntryNotFound, 404, ENTRY_NOT_FOUND),
    (errors.LfsObjectMissing, 422, LFS_OBJECT_MISSING),
    (errors.InsufficientStorage, 507, INSUFFICIENT_STORAGE),
    (errors.AlreadyExists, 409, ALREADY_EXISTS),
    (errors.MergeConflict, 409, MERGE_CONFLICT),
    (errors.StaleParent, 412, STALE_PARENT),
    (errors.Unauthenticated, 401, UNAUTHENTICATED),
    (errors.Forbidden, 403, FORBIDDEN),
)


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    """A JSON error ``{"error": message, **extra}`` with ``X-Error-Code`` and ``X-Error-Message``."""
    body: dict[str, Any] = {"error": message, **(extra or {})}
    all_headers = {
        X_ERROR_CODE: code,
        X_ERROR_MESSAGE: _header_safe(message),
        "X-Content-Type-Options": "nosniff",
        **(headers or {}),
    }
    return JSONResponse(body, status_code=status, headers=all_headers)


def response_for(err: NnpartsError, *, headers: dict[str, str] | None = None) -> JSONResponse:
    """Map a known nnparts error to its wire response; unknown ones become 500 ``InternalError``."""
    extra: dict[str, Any] = {}
    if isinstance(err, errors.AlreadyExists) and err.url is not None:
        extra["url"] = err.url
    for cls, status, code in _ERROR_MAP:
        if isinstance(err, cls):
            return error_response(status, code, str(err), headers=headers, extra=extra)
    return error_response(500, INTERNAL, str(err), headers=headers)


def _header_safe(message: str) -> str:
    """One latin-1 line of at most 200 characters, fit for a header value."""
    flat = " ".join(message.split())[:200]
    return flat.encode("latin-1", "replace").decode("latin-1")
