"""Check a package folder's detached signature against trusted keys. Fails closed.

Refused, each with one line naming the package and the key: no signature; a signature by a key not
among the trusted ones; a signature that does not verify (any file added, removed or changed after
signing, the manifest included); a signature that exempts anything but itself from hashing.
"""

from __future__ import annotations

import base64
import json
import tempfile
from collections.abc import Sequence
from pathlib import Path

from nnparts.client.trust import _modelsign
from nnparts.client.trust.keys import TrustedKey
from nnparts.schemas.errors import TrustError
from nnparts.schemas.signature import MAX_SIGNATURE_BYTES, SIGNATURE_NAME, Signer, claimed_fingerprint

_SIGN_HINT = "sign it with `nnparts sign PKG --key KEY.pem` and publish it again"


def verify_signature(folder: Path, signature: Path | None, keys: Sequence[TrustedKey], *, ref: str) -> Signer:
    """Return the signer of ``folder`` if ``signature`` proves one of ``keys`` signed exactly its files.

    Raises:
        TrustError: unsigned, signed by another key, altered after signing, or a malformed signature.
    """
    if signature is None or not signature.is_file():
        raise TrustError(f"{ref} is unsigned and a trusted signature is required", ref=ref, hint=_SIGN_HINT)
    raw = signature.read_bytes()
    if len(raw) > MAX_SIGNATURE_BYTES:
        raise TrustError(f"{ref}: its signature is {len(raw)} bytes, over {MAX_SIGNATURE_BYTES}", ref=ref)
    claimed = claimed_fingerprint(raw)
    if claimed is None:
        raise TrustError(f"{ref}: its signature is not a readable key-based model-signing bundle", ref=ref)
    key = next((k for k in keys if k.fingerprint == claimed), None)
    if key is None:
        trusted = ", ".join(f"{k.short} ({k.source})" for k in keys) or "none"
        raise TrustError(
            f"{ref} is signed by key {claimed}, which is not trusted here (trusted: {trusted})",
            ref=ref,
            hint="pass --trust with the publisher's public key if you trust it",
        )
    with tempfile.TemporaryDirectory(prefix="nnparts-verify-") as tmp:
        pem = Path(tmp) / "key.pub.pem"
        pem.write_text(key.pem)
        try:
            _modelsign.verify_folder(folder, signature, pem)
        except Exception as exc:  # fail closed: any library failure is a refusal
            raise TrustError(
                f"{ref}: the signature by {key.short} does not match the package ({_modelsign.describe(exc)})",
                ref=ref,
                hint="the package was altered after signing; do not install it",
            ) from exc
    exempt = _ignored_paths(raw)
    if exempt - {SIGNATURE_NAME}:
        raise TrustError(
            f"{ref}: its signature leaves {', '.join(sorted(exempt - {SIGNATURE_NAME}))} unsigned",
            ref=ref,
            hint=_SIGN_HINT,
        )
    return key.signer()


def _ignored_paths(raw: bytes) -> set[str]:
    """The paths the (verified) signature's payload exempts from hashing."""
    try:
        payload = json.loads(base64.b64decode(json.loads(raw)["dsseEnvelope"]["payload"]))
        paths = payload["predicate"]["serialization"].get("ignore_paths", [])
        return {str(p) for p in paths}
    except (ValueError, KeyError, TypeError, AttributeError):
        return {"<unreadable payload>"}
