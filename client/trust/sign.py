"""Sign a module package folder in place: ``<package>/package.sig`` over every file, manifest included."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from nnparts.client.trust import _modelsign
from nnparts.client.trust.keys import public_key_of
from nnparts.schemas.errors import UsageError
from nnparts.schemas.integrity import atomic_write_bytes
from nnparts.schemas.package import MANIFEST_NAME, read_manifest, verify_package
from nnparts.schemas.signature import SIGNATURE_NAME, Signer

PASSWORD_ENV = "NNPARTS_KEY_PASSWORD"


def sign_package(package: str | os.PathLike[str], key: str | os.PathLike[str]) -> Signer:
    """Verify the package, then sign it with the PEM private ``key``; returns the signer.

    The folder must hold exactly the manifest and the files it lists (plus an old ``package.sig``,
    which is replaced atomically): registries carry only those, so a signature over anything else
    would not verify after an install. An encrypted key's password is read from
    ``$NNPARTS_KEY_PASSWORD``.

    Raises:
        FileMissing, ManifestError, IntegrityError: the package is absent, malformed or corrupt.
        UsageError: extra files in the folder, or an unusable key.
    """
    folder = Path(package)
    manifest = verify_package(folder, read_manifest(folder))
    expected = {MANIFEST_NAME, SIGNATURE_NAME, *(f.path for f in manifest.files)}
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if not p.is_dir()}
    extra = sorted(present - expected)
    if extra:
        raise UsageError(
            f"{folder} holds files its manifest does not list: {', '.join(extra[:5])}",
            hint="move them out: a registry carries only the listed files, so the signature would not verify",
        )
    password = os.environ.get(PASSWORD_ENV) or None
    signer = public_key_of(key, password=password).signer()
    with tempfile.TemporaryDirectory(prefix="nnparts-sign-") as tmp:
        out = Path(tmp) / SIGNATURE_NAME
        try:
            _modelsign.sign_folder(folder, Path(key), out, password=password)
        except (ValueError, TypeError, OSError) as exc:
            raise UsageError(f"cannot sign {folder} with {key}: {_modelsign.describe(exc)}") from exc
        atomic_write_bytes(folder / SIGNATURE_NAME, out.read_bytes())
    return signer
