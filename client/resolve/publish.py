"""Publishing a package with what it runs on: a class module's trunk goes to the registry first.

A tail is useless without its trunk, and its manifest pins that trunk by id, version and sha256.
So publishing a tail checks the registry for exactly that trunk and, when it is missing, publishes
the local copy (found beside the module, as ``nnparts decompose`` writes it, or in the install
cache) before the module. A registry holding a *different* trunk under that id@version refuses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nnparts.client.home import installed_root
from nnparts.index.base import IndexBackend
from nnparts.schemas.errors import IntegrityError, ModuleNotFound
from nnparts.schemas.index_entry import IndexEntry
from nnparts.schemas.package import find_trunk, read_manifest
from nnparts.schemas.signature import Signer


@dataclass(frozen=True)
class Signed:
    """A package folder signed in place (``path/package.sig``) as ``ref`` (``id@version``)."""

    path: Path
    ref: str
    signer: Signer


@dataclass(frozen=True)
class Published:
    """What a publish put into ``registry`` (its name): the trunk first when the registry lacked
    it, then the package; ``signed``: the folders signed just before (with a signing key)."""

    entries: tuple[IndexEntry, ...]
    registry: str
    signed: tuple[Signed, ...] = ()

    @property
    def ref(self) -> str:
        """``id@version`` of the package itself (the last entry)."""
        return self.entries[-1].ref

    def __str__(self) -> str:
        return self.ref


def publish_package(
    index: IndexBackend,
    package: str | Path,
    *,
    sign: Callable[[Path], Signer] | None = None,
    trunk_search: tuple[Path, ...] | None = None,
) -> Published:
    """Publish ``package`` (and, first, its trunk when the registry lacks it).

    ``sign(folder)`` signs each folder in place just before it is published; a trunk that is not
    beside the package is looked for in ``trunk_search`` (default: the install cache).
    """
    root = Path(package)
    manifest = read_manifest(root)
    published: list[IndexEntry] = []
    signed: list[Signed] = []

    def before(folder: Path) -> None:
        if sign is not None:
            m = read_manifest(folder)
            signed.append(Signed(folder, f"{m.id}@{m.version}", sign(folder)))

    need = manifest.trunk
    if need is not None:
        try:
            present = index.get(need.id, need.version)
        except ModuleNotFound:
            present = None
        if present is None:
            search = [installed_root()] if trunk_search is None else list(trunk_search)
            folder = find_trunk(root, need, search)
            before(folder)
            published.append(index.publish(folder))
        elif present.manifest_sha256 != need.manifest_sha256:
            raise IntegrityError(
                f"{index.name} holds another {need.ref} (manifest {present.manifest_sha256[:12]}...) than "
                f"{manifest.id} runs on ({need.manifest_sha256[:12]}...)",
                hint="decompose again with a new --version, so the trunk and its modules get one",
            )
    before(root)
    published.append(index.publish(root))
    return Published(tuple(published), index.name, tuple(signed))
