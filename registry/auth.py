"""Bearer tokens with read or write scope per namespace.

The tokens file is JSON::

    {"tokens": [{"token": "s3cret", "user": "alice",
                 "scopes": {"alice": "write", "shared": "read", "*": "read"}}]}

A scope names a namespace (``*`` = every namespace not named) and grants ``read`` or ``write``
(write implies read). Without a tokens file the server is *open*: every caller may read and write
everything and private repositories are visible to all. With one, writes need a write-scoped token
(no token -> 401, wrong namespace -> 403), an unknown token is refused (401), and a private repo is
invisible (404, absent from listings) to callers without read scope on its namespace.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from nnparts.registry.errors import Forbidden, Unauthenticated
from nnparts.schemas.errors import UsageError

Scope = Literal["read", "write"]
INVALID_TOKEN = "Invalid credentials in Authorization header"


@dataclass(frozen=True)
class Principal:
    """Who is calling: ``user`` and the scope per lowercase namespace (``*`` = the rest)."""

    user: str
    scopes: dict[str, Scope]

    def scope_for(self, namespace: str) -> Scope | None:
        return self.scopes.get(namespace.lower(), self.scopes.get("*"))

    def can_read(self, namespace: str) -> bool:
        return self.scope_for(namespace) is not None

    def can_write(self, namespace: str) -> bool:
        return self.scope_for(namespace) == "write"


@dataclass(frozen=True)
class Authorizer:
    """Decides access. ``tokens`` maps sha256(token) to its principal; ``None`` = open server."""

    tokens: dict[str, Principal] | None

    @property
    def open(self) -> bool:
        return self.tokens is None

    @classmethod
    def from_file(cls, path: Path | None) -> Authorizer:
        """Load a tokens file (``None`` = open server); a malformed file raises ``UsageError``."""
        if path is None:
            return cls(tokens=None)
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            table: dict[str, Principal] = {}
            for item in doc["tokens"]:
                token, user, scopes = str(item["token"]), str(item["user"]), item.get("scopes", {})
                if not token or not isinstance(scopes, dict):
                    raise ValueError("empty token or scopes not an object")
                for ns, scope in scopes.items():
                    if scope not in ("read", "write"):
                        raise ValueError(f"scope of {ns!r} must be 'read' or 'write', got {scope!r}")
                clean: dict[str, Scope] = {str(ns).lower(): s for ns, s in scopes.items()}
                table[_digest(token)] = Principal(user=user, scopes=clean)
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise UsageError(
                f"cannot read tokens file {path}: {err}",
                hint='expected {"tokens": [{"token", "user", "scopes": {ns: "read"|"write"}}]}',
            ) from err
        return cls(tokens=table)

    def identify(self, authorization: str | None) -> Principal | None:
        """The principal of an ``Authorization: Bearer`` header; unknown tokens raise 401."""
        if self.tokens is None or not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated(INVALID_TOKEN)
        principal = self.tokens.get(_digest(token.strip()))
        if principal is None:
            raise Unauthenticated(INVALID_TOKEN)
        return principal

    def can_read(self, principal: Principal | None, namespace: str, *, private: bool) -> bool:
        """Whether a repo is visible: public ones always, private ones with read scope."""
        if self.open or not private:
            return True
        return principal is not None and principal.can_read(namespace)

    def require_write(self, principal: Principal | None, namespace: str) -> None:
        """Raise 401 without a token, 403 without write scope on ``namespace``."""
        if self.open:
            return
        if principal is None:
            raise Unauthenticated(
                f"writing to {namespace!r} needs a token", hint="pass token= or set HF_TOKEN"
            )
        if not principal.can_write(namespace):
            raise Forbidden(f"token of {principal.user!r} has no write scope on namespace {namespace!r}")

    def visible_private(self, principal: Principal | None) -> frozenset[str] | None:
        """Namespaces whose private repos the caller sees in listings (``None`` = all)."""
        if self.open:
            return None
        if principal is None:
            return frozenset()
        if "*" in principal.scopes:
            return None
        return frozenset(principal.scopes)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
