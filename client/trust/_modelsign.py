"""The one adapter over OpenSSF ``model-signing`` (imported lazily: it loads sigstore, requests, pydantic).

Key-based signing only (an elliptic-curve key, P-256/384/521), so nothing touches a network. Every
file of the folder is hashed (sha256, one digest per file), the signature file itself excepted, git
paths included: a file added beside a signed package makes verification fail.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nnparts.schemas.signature import SIGNATURE_NAME


def _hashing() -> Any:
    from model_signing import hashing

    return hashing.Config().set_ignored_paths(  # type: ignore[no-untyped-call]
        paths=[SIGNATURE_NAME], ignore_git_paths=False
    )


def sign_folder(folder: Path, private_key: Path, signature: Path, *, password: str | None = None) -> None:
    """Sign every file of ``folder`` with the PEM private key; write the bundle to ``signature``.

    Raises whatever model-signing raises (``ValueError`` for an unsupported key, ``TypeError`` for a
    wrong password ...); callers turn it into one line.
    """
    from model_signing import signing

    config = signing.Config().set_hashing_config(_hashing())  # type: ignore[no-untyped-call]
    config.use_elliptic_key_signer(private_key=private_key, password=password).sign(folder, signature)


def verify_folder(folder: Path, signature: Path, public_key: Path) -> None:
    """Raise unless ``signature`` is a valid signature by ``public_key`` over exactly ``folder``'s files."""
    from model_signing import verifying

    config = verifying.Config().set_hashing_config(_hashing())  # type: ignore[no-untyped-call]
    config.use_elliptic_key_verifier(public_key=public_key).verify(folder, signature)


def describe(exc: BaseException) -> str:
    """A library error as one short line."""
    text = " ".join(str(exc).split())
    return (text[:200] + "...") if len(text) > 200 else (text or type(exc).__name__)
