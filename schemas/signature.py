"""The detached signature of a module package, as far as it can be read without cryptography.

A signed package carries one extra file beside the files its manifest lists::

    <package>/
    ├── manifest.json
    ├── graph.json
    ├── *.safetensors
    └── package.sig      an OpenSSF model-signing bundle (sigstore bundle JSON, DSSE envelope) over
                         every other file of the folder, manifest included; NOT in the manifest

The signature is not pinned by the manifest or the index (it is made after them), so loaders and
``verify_package`` ignore it, registries carry it beside the package, and only a trust check
(``nnparts.client.trust``) gives it meaning. What this module reads here, the key fingerprint the
signer *claims*, is shown by ``nnparts show`` and the web page; it is proven only by verification.

A key fingerprint is ``sha256:`` + the hex sha256 of the public key's PEM (SubjectPublicKeyInfo)
encoding: the same digest model-signing records as the bundle's public-key hint.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

SIGNATURE_NAME = "package.sig"
MAX_SIGNATURE_BYTES = 1024 * 1024
FINGERPRINT_PREFIX = "sha256:"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Signer:
    """Who signed a package: the key's fingerprint and its PEM public key (public, safe to record)."""

    fingerprint: str
    public_key: str

    @property
    def short(self) -> str:
        """``sha256:`` and the first 16 hex digits, for messages."""
        return short_fingerprint(self.fingerprint)

    def to_dict(self) -> dict[str, str]:
        return {"fingerprint": self.fingerprint, "public_key": self.public_key}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Signer:
        return cls(fingerprint=str(d["fingerprint"]), public_key=str(d["public_key"]))


def short_fingerprint(fingerprint: str) -> str:
    return fingerprint[: len(FINGERPRINT_PREFIX) + 16]


def claimed_fingerprint(raw: bytes | None) -> str | None:
    """The key fingerprint a signature file claims (its public-key hint), or None.

    Never raises: a missing, oversized or malformed signature gives None (shown as "unsigned or
    unreadable"); a claim is not a proof.
    """
    if not raw or len(raw) > MAX_SIGNATURE_BYTES:
        return None
    try:
        doc = json.loads(raw)
        hint = doc["verificationMaterial"]["publicKey"]["hint"]
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(hint, str) or not _HEX64.match(hint):
        return None
    return FINGERPRINT_PREFIX + hint
