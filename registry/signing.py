"""Short-lived HMAC-signed URLs for LFS uploads (the client sends the ``PUT`` without auth)."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

from nnparts.registry.errors import Forbidden

_NUMBER = re.compile(r"[0-9]{1,18}")
_SIGNATURE = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class UploadGrant:
    """What a signed URL allows: one blob of ``size`` bytes with sha256 ``oid`` into ``repo``."""

    oid: str
    size: int
    repo: str
    expires: int


@dataclass(frozen=True)
class UrlSigner:
    """Signs and checks upload grants. The key is random per server process, so a restart
    invalidates outstanding URLs (the client then asks the batch API again)."""

    ttl_s: int
    key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)

    def query(self, oid: str, size: int, repo: str, *, now: float | None = None) -> str:
        """The query string (``size``, ``repo``, ``exp``, ``sig``) of a signed upload URL."""
        expires = int((time.time() if now is None else now) + self.ttl_s)
        grant = UploadGrant(oid=oid, size=size, repo=repo, expires=expires)
        return urlencode({"size": size, "repo": repo, "exp": expires, "sig": self._sign(grant)})

    def check(self, oid: str, params: dict[str, str], *, now: float | None = None) -> UploadGrant:
        """Return the grant of a signed URL; a bad, tampered or expired signature raises 403.

        Every field is checked for its exact shape first (ASCII digits, 64 lowercase hex), so a
        hostile value is a 403 like any other bad signature, never an exception of the parser."""
        size, exp = params.get("size", ""), params.get("exp", "")
        repo, signature = params.get("repo"), params.get("sig", "")
        if (
            repo is None
            or not _NUMBER.fullmatch(size)
            or not _NUMBER.fullmatch(exp)
            or not _SIGNATURE.fullmatch(signature)
        ):
            raise Forbidden("upload URL is not signed")
        grant = UploadGrant(oid=oid, size=int(size), repo=repo, expires=int(exp))
        if not hmac.compare_digest(signature, self._sign(grant)):
            raise Forbidden("upload URL signature is invalid")
        if grant.expires < (time.time() if now is None else now):
            raise Forbidden("upload URL has expired", hint="request a new one from the batch API")
        return grant

    def _sign(self, grant: UploadGrant) -> str:
        message = f"{grant.oid}\0{grant.size}\0{grant.repo}\0{grant.expires}".encode()
        return hmac.new(self.key, message, hashlib.sha256).hexdigest()
