"""Fetch one module by reference (``id`` or ``id@version``) from the first registry that has it.

The package lands in the content-addressed install cache (``<root>/<manifest sha256>/``), verified,
and so does the trunk a class module runs on, so the result loads and assembles like an installed
module. Torch-free.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from nnparts.client.home import installed_root
from nnparts.index.base import IndexBackend
from nnparts.schemas.errors import IntegrityError, ModuleNotFound, UsageError
from nnparts.schemas.index_entry import IndexEntry
from nnparts.schemas.manifest import ModuleManifest
from nnparts.schemas.package import read_manifest
from nnparts.schemas.signature import claimed_fingerprint


@dataclass(frozen=True)
class ModuleInfo:
    """One published module: its index entry, its (verified) manifest, the key fingerprint its
    ``package.sig`` claims (``None``: unsigned; only an install with trust verifies it) and the
    name of the registry that holds it."""

    entry: IndexEntry
    manifest: ModuleManifest
    signer: str | None
    registry: str


def split_ref(ref: str) -> tuple[str, str | None]:
    """``"ns/name@1.0.0"`` -> ``("ns/name", "1.0.0")``; ``"ns/name"`` -> ``("ns/name", None)``.

    Raises:
        UsageError: an empty id or version.
    """
    module_id, sep, version = ref.strip().partition("@")
    if not module_id or (sep and not version):
        raise UsageError(
            f"invalid module reference {ref!r}", hint="write ID or ID@VERSION, e.g. digits/cat@1.0.0"
        )
    return module_id, version or None


def find_entry(registries: Sequence[IndexBackend], ref: str) -> tuple[IndexBackend, IndexEntry]:
    """The first registry (in priority order) holding ``ref``, and its entry.

    Raises:
        ModuleNotFound: no registry holds it (the first registry's message).
    """
    module_id, version = split_ref(ref)
    first: ModuleNotFound | None = None
    for backend in registries:
        try:
            return backend, backend.get(module_id, version)
        except ModuleNotFound as err:
            first = first or err
    raise first or ModuleNotFound(ref, hint="pass --registry")


def describe_ref(registries: Sequence[IndexBackend], ref: str) -> ModuleInfo:
    """What the first registry holding ``ref`` publishes under it (nothing is installed).

    Raises:
        ModuleNotFound: no registry holds it.
        IntegrityError: the stored manifest differs from its entry's sha256.
    """
    backend, entry = find_entry(registries, ref)
    signer = claimed_fingerprint(backend.signature(entry))
    return ModuleInfo(entry, backend.manifest(entry), signer, backend.name)


def fetch_ref(registries: Sequence[IndexBackend], ref: str, *, root: Path | None = None) -> Path:
    """Fetch ``ref`` (and its trunk) into the install cache; return the package folder.

    Raises:
        ModuleNotFound: no registry holds the module (or its trunk's registry lacks the trunk).
        IntegrityError: a download differs from its pin.
    """
    cache = root or installed_root()
    backend, entry = find_entry(registries, ref)
    path = backend.fetch(entry, cache / entry.manifest_sha256)
    need = read_manifest(path).trunk
    if need is not None:
        trunk = backend.get(need.id, need.version)
        if trunk.manifest_sha256 != need.manifest_sha256:
            raise IntegrityError(
                f"{backend.name} holds another {need.ref} than {entry.ref} runs on",
                hint="republish the module with its own trunk",
            )
        backend.fetch(trunk, cache / trunk.manifest_sha256)
    return path
