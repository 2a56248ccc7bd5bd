"""Public keys and their fingerprints: ``sha256:`` + sha256 of the key's PEM (SubjectPublicKeyInfo).

The fingerprint of a key read from any PEM is computed on its canonical re-encoding, so it equals the
public-key hint model-signing writes into a signature; a signature therefore names its signer's
fingerprint, and verification proves it.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from nnparts.schemas.errors import FileMissing, UsageError
from nnparts.schemas.signature import FINGERPRINT_PREFIX, Signer, short_fingerprint

MAX_KEY_BYTES = 64 * 1024
_CURVES = ("secp256r1", "secp384r1", "secp521r1")


@dataclass(frozen=True)
class TrustedKey:
    """A public key that may sign packages, and where it came from (for messages)."""

    fingerprint: str
    pem: str
    source: str

    @property
    def short(self) -> str:
        return short_fingerprint(self.fingerprint)

    def signer(self) -> Signer:
        return Signer(self.fingerprint, self.pem)


def canonical_pem(data: bytes, *, source: str) -> str:
    """The canonical SubjectPublicKeyInfo PEM of an EC public key given as PEM.

    Raises:
        UsageError: not a PEM public key, or not on a curve model-signing supports.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        hint = "pass the PUBLIC key (openssl ec -in key.pem -pubout -out pub.pem)"
        raise UsageError(f"{source} is not a PEM public key ({exc})", hint=hint) from exc
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name not in _CURVES:
        raise UsageError(
            f"{source} is not an elliptic-curve key on P-256, P-384 or P-521",
            hint="make one with `openssl ecparam -name prime256v1 -genkey -noout -out key.pem`",
        )
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem.decode()


def fingerprint(pem: str) -> str:
    """``sha256:<hex>`` of a canonical PEM (see :func:`canonical_pem`)."""
    return FINGERPRINT_PREFIX + hashlib.sha256(pem.encode()).hexdigest()


def key_from_pem(data: bytes, *, source: str) -> TrustedKey:
    pem = canonical_pem(data, source=source)
    return TrustedKey(fingerprint(pem), pem, source)


def load_public_key(path: str | os.PathLike[str]) -> TrustedKey:
    """Read a PEM public key file.

    Raises:
        FileMissing: no such file.
        UsageError: too large, not a public key, or an unsupported curve.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise FileMissing(str(p), hint="pass a PEM public key file to --trust")
    if p.stat().st_size > MAX_KEY_BYTES:
        raise UsageError(f"{p} is over {MAX_KEY_BYTES} bytes; not a public key")
    return key_from_pem(p.read_bytes(), source=str(p))


def public_key_of(private_key: str | os.PathLike[str], *, password: str | None = None) -> TrustedKey:
    """The public half of a PEM private key file.

    Raises:
        FileMissing: no such file.
        UsageError: not a PEM private key, a wrong or missing password, or an unsupported curve.
    """
    from cryptography.hazmat.primitives import serialization

    p = Path(private_key).expanduser()
    if not p.is_file():
        raise FileMissing(str(p), hint="pass a PEM private key file")
    if p.stat().st_size > MAX_KEY_BYTES:
        raise UsageError(f"{p} is over {MAX_KEY_BYTES} bytes; not a private key")
    try:
        key = serialization.load_pem_private_key(p.read_bytes(), password.encode() if password else None)
    except (ValueError, TypeError) as exc:
        raise UsageError(
            f"{p} is not a usable PEM private key ({exc})",
            hint="an encrypted key needs its password in NNPARTS_KEY_PASSWORD",
        ) from exc
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return key_from_pem(pem, source=f"the public half of {p}")
