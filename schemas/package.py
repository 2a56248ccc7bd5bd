"""Torch-free access to a module package folder: read its manifest, verify every file.

A module package on disk::

    <package>/
    ├── manifest.json        ModuleManifest (pretty, sorted JSON), validated on read
    ├── graph.json           the data-only network description (see graph.schema.json)
    └── *.safetensors        weights; each file's sha256 and size are in the manifest

Anything that reads a package calls :func:`read_manifest` and :func:`verify_package` first; tensor
shapes are checked by the torch-side loader (``nnparts.client.pack``) against ``manifest.tensors``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from nnparts.schemas.errors import FileMissing, IntegrityError, ManifestError
from nnparts.schemas.graph import check_graph
from nnparts.schemas.integrity import (
    read_safetensors_header,
    safetensors_data_sha256,
    sha256_bytes,
    verify_file,
)
from nnparts.schemas.manifest import ModuleManifest, Requirement

MANIFEST_NAME = "manifest.json"
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
MAX_GRAPH_BYTES = 64 * 1024 * 1024


def read_manifest(package: str | Path) -> ModuleManifest:
    """Parse and validate ``<package>/manifest.json``.

    Raises:
        FileMissing: the folder or its manifest does not exist.
        ManifestError: the JSON is malformed or violates the schema (with the field's pointer).
    """
    path = Path(package) / MANIFEST_NAME
    if not path.is_file():
        raise FileMissing(str(path), hint="a module package is a folder with manifest.json")
    raw = path.read_bytes()
    if len(raw) > MAX_MANIFEST_BYTES:
        raise ManifestError(f"manifest is {len(raw)} bytes, over {MAX_MANIFEST_BYTES}", source=str(path))
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise ManifestError(f"not valid JSON ({exc})", source=str(path), pointer="") from exc
    return ModuleManifest.from_dict(doc, source=str(path))


def manifest_sha256(package: str | Path) -> str:
    """sha256 of the manifest file's bytes: how lockfiles and assemblies pin a module."""
    return sha256_bytes((Path(package) / MANIFEST_NAME).read_bytes())


def safe_relpath(path: str) -> PurePosixPath:
    """Return ``path`` as a relative POSIX path, refusing absolute paths and ``..`` traversal."""
    p = PurePosixPath(path)
    if p.is_absolute() or ".." in p.parts or "\\" in path or "\x00" in path or not p.parts:
        raise ManifestError(
            f"unsafe file path {path!r}",
            pointer="/files",
            hint="paths must stay inside the package",
        )
    return p


def verify_package(package: str | Path, manifest: ModuleManifest | None = None) -> ModuleManifest:
    """Check every listed file's size and sha256 (and ``tensors_sha256``), that tensor entries name
    listed files, and that the graph is sound and bounded with exactly the tensor shapes it implies
    (see :mod:`nnparts.schemas.graph`), before anything is allocated from it.

    Returns the manifest. Raises :class:`IntegrityError` on the first mismatch, :class:`GraphError`
    for a malformed or oversized graph.
    """
    root = Path(package)
    m = manifest or read_manifest(root)
    listed = {f.path for f in m.files}
    for entry in m.files:
        verify_file(root / safe_relpath(entry.path), sha256=entry.sha256, size=entry.bytes)
        if (
            entry.tensors_sha256
            and safetensors_data_sha256(root / safe_relpath(entry.path)) != entry.tensors_sha256
        ):
            raise IntegrityError(
                f"the tensor bytes of {entry.path} differ from tensors_sha256", path=str(root)
            )
    if m.graph not in listed:
        raise IntegrityError(f"graph file {m.graph!r} is not listed in the manifest's files", path=str(root))
    headers: dict[str, dict[str, object]] = {}
    for t in m.tensors:
        if t.file not in listed:
            raise IntegrityError(f"tensor {t.name!r} lives in unlisted file {t.file!r}", path=str(root))
        if t.file not in headers:
            headers[t.file] = read_safetensors_header(root / safe_relpath(t.file))
        if t.storage == "dense":
            stored = [t.name]
        elif t.dtype == "bool":
            stored = [f"{t.name}::mask"]
        else:
            stored = [f"{t.name}::mask", f"{t.name}::values"]
        for key in stored:
            if key not in headers[t.file]:
                raise IntegrityError(
                    f"tensor {key!r} listed in the manifest is absent from {t.file}", path=str(root)
                )
    if m.kind != "assembled":
        check_tensor_shapes(root, m)
    return m


def check_tensor_shapes(root: Path, m: ModuleManifest) -> None:
    """The graph checks out and every tensor it uses has the shape it implies; no tensor declares
    more elements than its file could hold (8 per byte: a bitmask), so loading allocates only what
    the package really stores.

    Raises:
        GraphError: the graph is malformed or over the bounds of :mod:`nnparts.schemas.graph`.
        IntegrityError: a tensor's declared shape contradicts the graph or its file's size.
    """
    path = root / safe_relpath(m.graph)
    if path.stat().st_size > MAX_GRAPH_BYTES:
        raise IntegrityError(f"{m.graph} is over {MAX_GRAPH_BYTES} bytes", path=str(root))
    try:
        doc = json.loads(path.read_bytes())
    except ValueError as exc:
        raise ManifestError(f"not valid JSON ({exc})", source=str(path)) from exc
    shapes = check_graph(doc, source=str(path))
    sizes = {f.path: f.bytes for f in m.files}
    declared = {t.name: t for t in m.tensors}
    for name, shape in shapes.items():
        t = declared.get(name)
        if t is None:
            raise IntegrityError(
                f"graph parameter {name!r} is not listed in the manifest's tensors", path=str(root)
            )
        if tuple(t.shape) != shape:
            raise IntegrityError(
                f"tensor {name!r} is declared {tuple(t.shape)}, the graph implies {shape}", path=str(root)
            )
    for t in m.tensors:
        numel = 1
        for d in t.shape:
            numel *= d
        if numel > 8 * sizes.get(t.file, 0):
            raise IntegrityError(
                f"tensor {t.name!r} declares {numel:,} elements, more than {t.file} can hold", path=str(root)
            )


def find_trunk(package: str | Path, need: Requirement, search: Sequence[Path] = ()) -> Path:
    """The folder of the trunk ``need`` pins: a folder named by its manifest sha256 under one of
    ``search`` (install caches, an assembly's ``trunks/``) or a sibling of ``package`` (as
    ``nnparts decompose`` writes them). Only a folder whose manifest has exactly the pinned sha256
    qualifies; its files are verified when it is loaded.

    Raises:
        FileMissing: no such folder.
    """
    root = Path(package)
    candidates = [r / need.manifest_sha256 for r in search]
    if root.parent.is_dir():
        candidates += sorted(p for p in root.parent.iterdir() if p.is_dir() and p != root)
    for folder in candidates:
        manifest = folder / MANIFEST_NAME
        if manifest.is_file() and sha256_bytes(manifest.read_bytes()) == need.manifest_sha256:
            return folder
    raise FileMissing(
        f"trunk {need.ref} (manifest {need.manifest_sha256[:12]}...) of {root}",
        hint="install the module with `nnparts install` (it installs the trunk too), or keep the "
        "trunk folder `nnparts decompose` wrote beside it",
    )
