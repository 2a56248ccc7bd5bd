"""Load a module package into a runnable network, verifying everything first.

Order of checks: the manifest validates against its schema; every file's size and sha256 match;
every stored tensor exists with the dtype and shape the manifest records (bitmask tensors unpack to
exactly their recorded non-zero count); no tensor is left unaccounted for. Tensors are read with
safetensors, never with pickle.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open
from torch import nn

from nnparts.client.home import installed_root
from nnparts.client.pack.sparse import unpack, unpack_bits
from nnparts.client.zoo.ir import Graph
from nnparts.client.zoo.runtime import GraphNet
from nnparts.schemas.errors import IntegrityError
from nnparts.schemas.manifest import ModuleManifest
from nnparts.schemas.package import find_trunk, read_manifest, safe_relpath, verify_package

_DTYPES = {
    "bool": torch.bool,
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "uint8": torch.uint8,
}


class OnTrunk(nn.Module):
    """A class module's tail run on its trunk's output: the module as one image-to-score network."""

    def __init__(self, trunk: GraphNet, tail: GraphNet) -> None:
        super().__init__()
        self.trunk, self.tail = trunk, tail

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.tail(self.trunk(x))
        return out


@dataclass(frozen=True)
class LoadedModule:
    path: Path
    manifest: ModuleManifest
    graph: Graph
    tensors: dict[str, torch.Tensor]
    trunk: LoadedModule | None = None  # the verified trunk package a tail runs on

    def own_network(self) -> GraphNet:
        """This package's own graph (for a tail: without its trunk)."""
        return GraphNet(self.graph, self.tensors).eval()

    def network(self) -> nn.Module:
        """Images (normalised, NCHW) to outputs; a tail runs on its trunk."""
        own = self.own_network()
        return own if self.trunk is None else OnTrunk(self.trunk.own_network(), own).eval()


def read_tensors(root: Path, manifest: ModuleManifest) -> dict[str, torch.Tensor]:
    """Logical tensors of a verified package, checked against ``manifest.tensors``."""
    out: dict[str, torch.Tensor] = {}
    by_file: dict[str, list[str]] = {}
    for t in manifest.tensors:
        by_file.setdefault(t.file, []).append(t.name)
    for file, _names in by_file.items():
        path = root / safe_relpath(file)
        with safe_open(str(path), framework="pt") as fh:
            present = set(fh.keys())
            expected: set[str] = set()
            for t in (t for t in manifest.tensors if t.file == file):
                if t.storage == "dense":
                    expected.add(t.name)
                    value = fh.get_tensor(t.name)
                elif t.dtype == "bool":
                    expected.add(f"{t.name}::mask")
                    value = unpack_bits(fh.get_tensor(f"{t.name}::mask"), t.shape)
                    if t.nnz is not None and int(value.sum()) != t.nnz:
                        raise IntegrityError(
                            f"bit tensor {t.name!r} has {int(value.sum())} set bits, manifest says {t.nnz}"
                        )
                else:
                    expected.update({f"{t.name}::mask", f"{t.name}::values"})
                    mask, values = fh.get_tensor(f"{t.name}::mask"), fh.get_tensor(f"{t.name}::values")
                    if t.nnz is not None and values.numel() != t.nnz:
                        raise IntegrityError(
                            f"tensor {t.name!r} has {values.numel()} values, manifest says {t.nnz}"
                        )
                    try:
                        value = unpack(mask, values, t.shape)
                    except ValueError as exc:
                        raise IntegrityError(f"tensor {t.name!r}: {exc}", path=str(path)) from exc
                if tuple(value.shape) != t.shape or value.dtype != _DTYPES[t.dtype]:
                    raise IntegrityError(
                        f"tensor {t.name!r} is {value.dtype} {tuple(value.shape)}, "
                        f"manifest says {t.dtype} {t.shape}",
                        path=str(path),
                    )
                out[t.name] = value
            extra = present - expected
            if extra:
                raise IntegrityError(f"{file} holds tensors the manifest does not list: {sorted(extra)[:5]}")
    return out


def load_package(package: str | Path, *, trunk_search: Sequence[Path] = ()) -> LoadedModule:
    """Verify and load a module package (any kind), and the trunk a class module runs on.

    Raises IntegrityError/ManifestError on a mismatch, FileMissing when a required trunk is absent.
    """
    root = Path(package)
    manifest = verify_package(root, read_manifest(root))
    graph = Graph.from_dict(json.loads((root / safe_relpath(manifest.graph)).read_bytes()))
    tensors = read_tensors(root, manifest)
    unused = set(tensors) - set(graph.param_names())
    if unused:
        raise IntegrityError(f"tensors not used by the graph: {sorted(unused)[:5]}", path=str(root))
    trunk = None
    if manifest.trunk is not None:
        trunk = load_package(find_trunk(root, manifest.trunk, [*trunk_search, installed_root()]))
        if (
            trunk.manifest.kind != "trunk"
            or trunk.manifest.origin.weights_sha256 != manifest.origin.weights_sha256
        ):
            raise IntegrityError(
                f"{trunk.path} is not a trunk of {manifest.id}'s origin", path=str(trunk.path)
            )
        if trunk.graph.output != graph.input_name:
            raise IntegrityError(
                f"{manifest.id} reads {graph.input_name!r}, its trunk ends at {trunk.graph.output!r}",
                path=str(root),
            )
    return LoadedModule(root, manifest, graph, tensors, trunk)
