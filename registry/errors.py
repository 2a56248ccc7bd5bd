"""Registry-local refinements of :mod:`nnparts.schemas.errors`.

Each class subclasses the fitting member of the one nnparts hierarchy, so callers that catch
``RegistryError``, ``ConflictError``, ``UsageError`` or ``AuthError`` keep working; ``hub_wire`` maps
each class to an HTTP status and an ``X-Error-Code``::

    UsageError
    ├── BadRequest                 400  malformed body, bad name, bad path, unsupported option
    │   └── BodyTooLarge           413  a body beyond the configured limit
    RegistryError
    ├── RepoNotFound(LookupError)        404  unknown repo, or private and not readable
    ├── RevisionNotFound(LookupError)    404  unknown branch, tag or commit
    ├── EntryNotFound(LookupError)       404  unknown file or folder in a revision
    ├── LfsObjectMissing                 422  an lfsFile whose blob was never uploaded (to this repo)
    ├── InsufficientStorage              507  the disk (or a quota) is full; nothing was stored
    └── ConflictError
        ├── AlreadyExists                409  repo, branch or tag exists (``url`` for repos)
        ├── StaleParent                  412  parentCommit is not the branch head
        └── MergeConflict                409  a pull request and its base changed the same paths
    AuthError
    ├── Unauthenticated                  401  no token, or an unknown one
    └── Forbidden                        403  a token without the scope needed
"""

from __future__ import annotations

from nnparts.schemas.errors import AuthError, ConflictError, RegistryError, UsageError


class BadRequest(UsageError):
    """A request the server cannot accept as sent (400)."""


class BodyTooLarge(BadRequest):
    """A request body longer than the configured limit (413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"request body exceeds the limit of {limit} bytes",
            hint="split the upload or raise the server's body limit",
        )
        self.limit = limit


class RepoNotFound(RegistryError, LookupError):
    """No repository with that id is visible to the caller (404)."""


class RevisionNotFound(RegistryError, LookupError):
    """A branch, tag or commit that the repository does not have (404)."""


class EntryNotFound(RegistryError, LookupError):
    """A file or folder that a revision does not contain (404)."""


class LfsObjectMissing(RegistryError):
    """A commit references an LFS object that was never uploaded (422)."""


class InsufficientStorage(RegistryError):
    """The server ran out of disk space (or hit a quota) while storing; nothing was kept (507)."""


class AlreadyExists(ConflictError):
    """The repository, branch or tag already exists (409); ``url`` is set for repositories."""

    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message)
        self.url = url


class StaleParent(ConflictError):
    """``parentCommit`` is no longer the branch head (412): refresh and retry."""

    def __init__(self, expected: str, head: str | None) -> None:
        super().__init__(
            f"parent commit {expected} is not the head of the branch (head is {head})",
            hint="fetch the new head and retry the commit",
        )
        self.expected = expected
        self.head = head


class MergeConflict(ConflictError):
    """A pull request changes paths its base branch changed too (409); ``paths`` names them."""

    def __init__(self, num: int, paths: list[str]) -> None:
        shown = ", ".join(paths[:10]) + (" ..." if len(paths) > 10 else "")
        super().__init__(
            f"pull request #{num} conflicts with its base branch on {shown}",
            hint="update the pull request from the base branch, then merge",
        )
        self.num = num
        self.paths = paths


class Unauthenticated(AuthError):
    """No token, or a token the server does not know (401)."""


class Forbidden(AuthError):
    """A valid token whose scopes do not cover the namespace (403)."""
