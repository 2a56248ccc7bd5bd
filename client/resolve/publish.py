"""Publishing a package with what it runs on: a class module's trunk goes to the registry first.

A tail is useless without its trunk, and its manifest pins that trunk by id, version and sha256.
So publishing a tail checks the registry for exactly that trunk and, when it is missing, publishes
the local copy (found beside the module, as ``nnparts decompose`` writes it, or in the install
cache) before the module. A registry holding a *different* trunk under that id@version refuses.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from nnparts.client.home import installed_root
from nnparts.index.base import IndexBackend
from nnparts.schemas.errors import IntegrityError, ModuleNotFound
from nnparts.schemas.index_entry import IndexEntry
from nnparts.schemas.package import find_trunk, read_manifest


def publish_package(
    index: IndexBackend, package: str | Path, *, before: Callable[[Path], None] | None = None
) -> list[IndexEntry]:
    """Publish ``package`` (and, first, its trunk when the registry lacks it); returns what was published.

    ``before(folder)`` runs on each folder just before it is published (e.g. signing).
    """
    root = Path(package)
    manifest = read_manifest(root)
    published: list[IndexEntry] = []
    need = manifest.trunk
    if need is not None:
        try:
            present = index.get(need.id, need.version)
        except ModuleNotFound:
            present = None
        if present is None:
            folder = find_trunk(root, need, [installed_root()])
            if before is not None:
                before(folder)
            published.append(index.publish(folder))
        elif present.manifest_sha256 != need.manifest_sha256:
            raise IntegrityError(
                f"{index.name} holds another {need.ref} (manifest {present.manifest_sha256[:12]}...) than "
                f"{manifest.id} runs on ({need.manifest_sha256[:12]}...)",
                hint="decompose again with a new --version, so the trunk and its modules get one",
            )
    if before is not None:
        before(root)
    published.append(index.publish(root))
    return published
