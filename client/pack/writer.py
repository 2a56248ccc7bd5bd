"""Write a module package: the only code that creates module files.

Writes are deterministic (same module -> byte-identical files, in any process): ``graph.json`` and
``manifest.json`` are sorted JSON, the safetensors header carries exactly one metadata key,
``"nnparts"``, holding canonical JSON, and no timestamps are written. The package is assembled in a
temporary sibling folder and renamed into place, so a reader never sees a half-written package.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors.torch import save as save_safetensors

from nnparts.client.pack.sparse import pack, pack_bits, worth_packing
from nnparts.client.zoo.ir import Graph
from nnparts.schemas.errors import UsageError
from nnparts.schemas.integrity import canonical_json, make_temp_dir, pretty_json, sha256_bytes
from nnparts.schemas.manifest import FileEntry, ModuleManifest, TensorEntry
from nnparts.schemas.package import MANIFEST_NAME
from nnparts.schemas.validate import validate

GRAPH_FILE = "graph.json"
WEIGHTS_FILE = "weights.safetensors"
_DTYPES = {
    torch.float32: "float32",
    torch.float16: "float16",
    torch.bfloat16: "bfloat16",
    torch.uint8: "uint8",
}


def safetensors_bytes(tensors: Mapping[str, torch.Tensor], meta: Mapping[str, object]) -> bytes:
    """Serialise tensors with one canonical-JSON metadata key (stable across processes)."""
    ordered = {k: tensors[k].detach().contiguous().cpu() for k in sorted(tensors)}
    return save_safetensors(ordered, metadata={"nnparts": canonical_json(dict(meta)).decode()})


def encode_tensors(
    tensors: Mapping[str, torch.Tensor], *, sparse: bool = True
) -> tuple[dict[str, torch.Tensor], list[TensorEntry]]:
    """Turn logical tensors into stored ones (bitmask-packed when that is smaller) plus entries."""
    stored: dict[str, torch.Tensor] = {}
    entries: list[TensorEntry] = []
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        if t.dtype not in _DTYPES and t.dtype != torch.bool:
            t = t.to(torch.float32)
        nnz = int(torch.count_nonzero(t))
        if t.dtype == torch.bool:
            stored[f"{name}::mask"] = pack_bits(t)
            entries.append(TensorEntry(name, WEIGHTS_FILE, tuple(t.shape), "bool", "bitmask", nnz))
        elif sparse and worth_packing(t):
            mask, values = pack(t)
            stored[f"{name}::mask"], stored[f"{name}::values"] = mask, values
            entries.append(TensorEntry(name, WEIGHTS_FILE, tuple(t.shape), _DTYPES[t.dtype], "bitmask", nnz))
        else:
            stored[name] = t
            entries.append(TensorEntry(name, WEIGHTS_FILE, tuple(t.shape), _DTYPES[t.dtype], "dense", nnz))
    return stored, entries


def write_package(
    out_dir: str | Path,
    manifest: ModuleManifest,
    graph: Graph,
    tensors: Mapping[str, torch.Tensor],
    *,
    sparse: bool = True,
    overwrite: bool = False,
) -> ModuleManifest:
    """Write ``manifest`` (its files and tensors filled in here), ``graph`` and ``tensors``.

    Returns the manifest as written. Raises UsageError if ``out_dir`` exists and ``overwrite`` is false.
    """
    target = Path(out_dir)
    if target.exists() and not overwrite:
        raise UsageError(f"output folder already exists: {target}", hint="choose a new --out or remove it")
    missing = [t for t in graph.param_names() if t not in tensors]
    if missing:
        raise UsageError(f"graph parameters without tensors: {', '.join(missing[:5])}")
    graph_doc = graph.to_dict()
    validate(graph_doc, "graph", source=GRAPH_FILE)
    graph_bytes = pretty_json(graph_doc)
    stored, entries = encode_tensors({k: tensors[k] for k in graph.param_names()}, sparse=sparse)
    weights = safetensors_bytes(
        stored, {"format": "nnparts-module", "id": manifest.id, "version": manifest.version}
    )
    header_len = int.from_bytes(weights[:8], "little")
    files = (
        FileEntry(GRAPH_FILE, sha256_bytes(graph_bytes), len(graph_bytes)),
        FileEntry(WEIGHTS_FILE, sha256_bytes(weights), len(weights), sha256_bytes(weights[8 + header_len :])),
    )
    final = manifest.with_changes(files=files, tensors=tuple(entries), graph=GRAPH_FILE)
    doc = final.to_dict()
    ModuleManifest.from_dict(doc, source=f"{target}/{MANIFEST_NAME}")  # validate what we write
    write_folder(target, {GRAPH_FILE: graph_bytes, WEIGHTS_FILE: weights, MANIFEST_NAME: pretty_json(doc)})
    return final


def write_folder(target: Path, files: Mapping[str, bytes]) -> None:
    """Create ``target`` holding exactly ``files`` (relative paths, nested allowed), atomically:
    a temporary sibling folder is filled, then renamed into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = make_temp_dir(target.parent, f".{target.name}.")
    try:
        for name, data in files.items():
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            with open(tmp / name, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        if target.exists():
            old = target.with_name(f".{target.name}.old.{os.getpid()}")
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
