"""Write small but valid module packages by hand, without torch.

The manifest validates against ``manifest.schema.json``; ``graph.json`` against ``graph.schema.json``;
``weights.safetensors`` is a real safetensors file (``safetensors.numpy``) whose sha256, size and
tensor entries the manifest records. Content is a pure function of the arguments, so two calls with
the same arguments give byte-identical packages.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import save_file

from nnparts.schemas.integrity import pretty_json, sha256_file

ClassSpec = tuple[str, Sequence[str]]
ORIGIN_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def graph_doc(n_classes: int = 1) -> dict[str, Any]:
    """A sound graph (every attribute the checks in ``nnparts.schemas.graph`` require)."""
    return {
        "schema_version": 1,
        "input": {"name": "x", "channels": 3},
        "nodes": [
            {
                "name": "conv",
                "op": "conv2d",
                "inputs": ["x"],
                "attrs": {
                    "in_channels": 3,
                    "out_channels": 4,
                    "kernel_size": [3, 3],
                    "stride": [1, 1],
                    "padding": [1, 1],
                    "dilation": [1, 1],
                    "groups": 1,
                },
                "params": {"weight": "conv.weight", "bias": "conv.bias"},
            },
            {"name": "relu", "op": "relu", "inputs": ["conv"]},
            {"name": "pool", "op": "adaptive_avg_pool2d", "inputs": ["relu"], "attrs": {"output_size": 1}},
            {"name": "flat", "op": "flatten", "inputs": ["pool"]},
            {
                "name": "fc",
                "op": "linear",
                "inputs": ["flat"],
                "attrs": {"in_features": 4, "out_features": n_classes},
                "params": {"weight": "fc.weight"},
            },
        ],
        "output": "fc",
    }


def tensors(seed: int, n_classes: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "conv.weight": rng.standard_normal((4, 3, 3, 3)).astype(np.float32),
        "conv.bias": rng.standard_normal((4,)).astype(np.float32),
        "fc.weight": rng.standard_normal((n_classes, 4)).astype(np.float32),
    }


def manifest_doc(
    *,
    module_id: str = "toy/cat",
    version: str = "1.0.0",
    classes: Sequence[ClassSpec] = (("cat", ("kitty",)),),
    accuracy: float = 0.9,
    density: float = 0.5,
    files: Sequence[dict[str, Any]] = (),
    tensor_entries: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """A valid manifest document; ``files``/``tensor_entries`` default to placeholders with valid hashes."""
    class_list = [
        {
            "name": name,
            "aliases": list(aliases),
            "origin_index": ORIGIN_CLASSES.index(name) if name in ORIGIN_CLASSES else i,
        }
        for i, (name, aliases) in enumerate(classes)
    ]
    placeholder = hashlib.sha256(module_id.encode()).hexdigest()
    return {
        "schema_version": 1,
        "min_reader_version": 1,
        "id": module_id,
        "name": module_id.rsplit("/", 1)[-1],
        "version": version,
        "kind": "class_module",
        "origin": {
            "name": "resnet20-cifar10",
            "architecture": "cifar_resnet20",
            "arch_kwargs": {"num_classes": 10},
            "weights_sha256": hashlib.sha256(b"origin weights").hexdigest(),
            "dataset": "cifar10",
            "classes": list(ORIGIN_CLASSES),
            "accuracy": 0.92,
        },
        "classes": class_list,
        "method": {"name": "channel", "params": {"keep": density}},
        "mask": {
            "granularity": "channel",
            "density": density,
            "params_before": 1000,
            "params_after": round(1000 * density),
            "physically_smaller": True,
        },
        "metrics": {"split": "test", "samples": 1000, "overall": {"accuracy": accuracy}},
        "input": {
            "layout": "NCHW",
            "channels": 3,
            "height": 32,
            "width": 32,
            "mean": [0.4914, 0.4822, 0.4465],
            "std": [0.247, 0.2435, 0.2616],
        },
        "output": {"type": "ovr_score", "size": len(class_list)},
        "calibration": {"method": "none"},
        "graph": "graph.json",
        "files": list(files) or [{"path": "graph.json", "sha256": placeholder, "bytes": 1}],
        "tensors": list(tensor_entries),
        "license": "MIT",
        "tool": {"name": "nnparts", "version": "0.1.0"},
    }


def write_package(
    dest: str | Path,
    *,
    module_id: str = "toy/cat",
    version: str = "1.0.0",
    classes: Sequence[ClassSpec] = (("cat", ("kitty",)),),
    accuracy: float = 0.9,
    density: float = 0.5,
    seed: int = 0,
) -> Path:
    """Write a valid package folder at ``dest`` (created) and return it."""
    root = Path(dest)
    root.mkdir(parents=True, exist_ok=True)
    (root / "graph.json").write_bytes(pretty_json(graph_doc(len(classes))))
    arrays = tensors(seed, len(classes))
    save_file(arrays, str(root / "weights.safetensors"), metadata={"nnparts": "{}"})
    files = [
        {"path": name, "sha256": sha256_file(root / name), "bytes": (root / name).stat().st_size}
        for name in ("graph.json", "weights.safetensors")
    ]
    tensor_entries = [
        {
            "name": k,
            "file": "weights.safetensors",
            "shape": list(v.shape),
            "dtype": "float32",
            "storage": "dense",
        }
        for k, v in sorted(arrays.items())
    ]
    doc = manifest_doc(
        module_id=module_id,
        version=version,
        classes=classes,
        accuracy=accuracy,
        density=density,
        files=files,
        tensor_entries=tensor_entries,
    )
    (root / "manifest.json").write_bytes(pretty_json(doc))
    return root


def rewrite_manifest(package: str | Path, **changes: Any) -> dict[str, Any]:
    """Replace top-level manifest fields (e.g. ``version``) and rewrite the file; returns the new doc."""
    path = Path(package) / "manifest.json"
    doc: dict[str, Any] = copy.deepcopy(json.loads(path.read_bytes()))
    doc.update(changes)
    path.write_bytes(pretty_json(doc))
    return doc


def flip_byte(path: str | Path, offset: int = -1) -> None:
    """XOR one byte of ``path`` (default: the last), keeping its size."""
    p = Path(path)
    data = bytearray(p.read_bytes())
    data[offset] ^= 0x01
    p.write_bytes(bytes(data))
