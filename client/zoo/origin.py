"""Origin-model packages: import trained weights once, then load them verified.

A package is a folder (layout in :mod:`nnparts.client.zoo.meta`): ``model.json`` plus
``weights.safetensors``. Writing is deterministic: the same weights and metadata give byte-identical
files, and the weights file's header depends only on the tensors, the architecture and its kwargs,
so its sha256 identifies the trained model whatever name it is imported under.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nnparts.client.zoo.architectures import build_model
from nnparts.client.zoo.meta import (
    MODEL_JSON,
    WEIGHTS_NAME,
    Accuracy,
    MetaHints,
    ModelMeta,
    read_meta_json,
    read_model_meta,
)
from nnparts.client.zoo.weights import load_strict, read_weights, weights_bytes
from nnparts.schemas.errors import IntegrityError, UsageError
from nnparts.schemas.integrity import atomic_write_bytes, pretty_json, sha256_bytes, sha256_file, verify_file
from nnparts.schemas.manifest import FileEntry, InputSpec

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")


@dataclass(frozen=True, eq=False)
class OriginModel:
    """A loaded origin model: its metadata, the module (eval mode) and the weights file's sha256."""

    meta: ModelMeta
    module: nn.Module
    weights_sha256: str
    path: Path


def tool_version() -> str:
    try:
        return version("nnparts")
    except PackageNotFoundError:  # pragma: no cover - only when run from an uninstalled tree
        return "0+unknown"


def output_size(module: nn.Module) -> int | None:
    """``out_features`` of the module's last ``nn.Linear`` (None when it has none)."""
    last = None
    for m in module.modules():
        if isinstance(m, nn.Linear):
            last = m
    return None if last is None else int(last.out_features)


def save_origin(
    module: nn.Module,
    out_dir: str | Path,
    *,
    name: str,
    architecture: str,
    arch_kwargs: Mapping[str, Any],
    classes: Sequence[str],
    dataset: str,
    input_spec: InputSpec,
    origin_class_indices: Sequence[int] = (),
    accuracy: Accuracy | None = None,
    training: Mapping[str, Any] | None = None,
    license: str = "",
    overwrite: bool = False,
) -> ModelMeta:
    """Write ``module``'s state dict and its ``model.json`` to ``out_dir``.

    The weights are written first and ``model.json`` last, each atomically, so a package with a
    ``model.json`` is complete.

    Raises:
        UsageError: invalid name, or ``out_dir`` already holds a package and ``overwrite`` is false.
        ManifestError: the resulting model.json would violate the schema.
    """
    out = Path(out_dir)
    if not _NAME_RE.match(name):
        raise UsageError(
            f"invalid model name {name!r}", hint="use letters, digits, '.', '_' and '-' (max 96)"
        )
    if (out / MODEL_JSON).exists() and not overwrite:
        raise UsageError(f"{out} already holds an origin model", hint="choose another --out or pass --force")
    header = {"kind": "origin-model", "architecture": architecture, "arch_kwargs": dict(arch_kwargs)}
    data = weights_bytes(module.state_dict(), header)
    meta = ModelMeta(
        name=name,
        architecture=architecture,
        arch_kwargs=dict(arch_kwargs),
        classes=tuple(classes),
        dataset=dataset,
        input=input_spec,
        files=(FileEntry(WEIGHTS_NAME, sha256_bytes(data), len(data)),),
        tool_version=tool_version(),
        origin_class_indices=tuple(origin_class_indices) or tuple(range(len(classes))),
        accuracy=accuracy,
        training=dict(training or {}),
        license=license,
    )
    doc = meta.to_dict()
    ModelMeta.from_dict(doc, source=str(out / MODEL_JSON))  # validate before writing anything
    atomic_write_bytes(out / WEIGHTS_NAME, data)
    atomic_write_bytes(out / MODEL_JSON, pretty_json(doc))
    return meta


def import_model(
    arch: str | None,
    weights_files: Sequence[str | Path],
    *,
    out_dir: str | Path,
    arch_kwargs: Mapping[str, Any] | None = None,
    meta_json: str | Path | None = None,
    classes: Sequence[str] | None = None,
    name: str | None = None,
    dataset: str | None = None,
    input_spec: InputSpec | None = None,
    license: str | None = None,
    overwrite: bool = False,
) -> ModelMeta:
    """Import trained safetensors weights as an origin-model package.

    Explicit arguments win over ``meta_json`` (the fixture JSON format, see
    :func:`~nnparts.client.zoo.meta.read_meta_json`). The meta file's architecture kwargs apply only
    when its architecture is ``arch`` (or ``arch`` is None). Classes default to the meta file's, else
    to ``"0".."n-1"`` for the last linear layer's ``n`` outputs. When the meta file lists a sha256 for
    a weights file (by file name), the file must match it.

    Raises:
        UsageError: no architecture, no input spec, bad kwargs, class count not matching the outputs,
            a non-safetensors weights file.
        FileMissing: a weights or meta file does not exist.
        IntegrityError: a weights file differs from the sha256 in the meta file.
        WeightsError: the weights do not fit the architecture (names the keys).
    """
    hints = read_meta_json(meta_json) if meta_json is not None else MetaHints()
    architecture = arch or hints.architecture
    if not architecture:
        raise UsageError(
            "no architecture given", hint="pass --arch (e.g. cifar_resnet20) or a --meta naming one"
        )
    kwargs: dict[str, Any] = {}
    if hints.architecture in (None, architecture):
        kwargs.update(hints.arch_kwargs)
    kwargs.update(arch_kwargs or {})
    paths = [Path(f) for f in weights_files]
    _verify_listed_hashes(paths, hints.sha256)
    state = read_weights(paths)
    module = build_model(architecture, kwargs)
    load_strict(module, state)
    n_out = output_size(module)
    class_names = tuple(classes) if classes else hints.classes
    if not class_names:
        if n_out is None:
            raise UsageError("cannot tell how many classes the model has", hint="pass --classes")
        class_names = tuple(str(i) for i in range(n_out))
    if n_out is not None and n_out != len(class_names):
        raise UsageError(
            f"the model has {n_out} outputs but {len(class_names)} classes were given",
            hint="pass one class name per output, in output order",
        )
    spec = input_spec or hints.input
    if spec is None:
        raise UsageError("no input spec", hint="pass --meta with an 'input' object or --input-spec JSON")
    oci = hints.origin_class_indices if len(hints.origin_class_indices) == len(class_names) else ()
    return save_origin(
        module,
        out_dir,
        name=name or hints.name or Path(out_dir).resolve().name,
        architecture=architecture,
        arch_kwargs=kwargs,
        classes=class_names,
        dataset=dataset or hints.dataset or "unknown",
        input_spec=spec,
        origin_class_indices=oci,
        accuracy=hints.accuracy,
        training=hints.training,
        license=license if license is not None else (hints.license or ""),
        overwrite=overwrite,
    )


def _verify_listed_hashes(paths: Sequence[Path], listed: Mapping[str, str]) -> None:
    for p in paths:
        expected = listed.get(p.name)
        if expected is not None and p.is_file():
            actual = sha256_file(p)
            if actual != expected:
                raise IntegrityError(
                    f"sha256 mismatch for {p}: the meta file says {expected[:12]}..., "
                    f"file has {actual[:12]}...",
                    path=str(p),
                )


def load_origin(package: str | Path, *, device: str | torch.device = "cpu") -> OriginModel:
    """Load an origin-model package: verify every file's sha256 and size, then load strictly.

    Raises:
        FileMissing: no model.json.
        ManifestError: model.json violates the schema.
        IntegrityError: a file is missing or differs from model.json.
        WeightsError: the weights do not fit the recorded architecture.
    """
    root = Path(package)
    meta = read_model_meta(root)
    for f in meta.files:
        verify_file(root / f.path, sha256=f.sha256, size=f.bytes)
    weight_files = [f for f in meta.files if f.path.endswith(".safetensors")]
    if not weight_files:
        raise IntegrityError(f"{root / MODEL_JSON} lists no .safetensors file", path=str(root))
    module = build_model(meta.architecture, meta.arch_kwargs)
    load_strict(module, read_weights([root / f.path for f in weight_files]))
    module.to(device).eval()
    primary = next((f for f in weight_files if f.path == WEIGHTS_NAME), weight_files[0])
    return OriginModel(meta, module, primary.sha256, root)
