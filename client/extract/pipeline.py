"""From an origin-model package and a data spec to module packages on disk.

This is the glue every front end (CLI, Python API, quickstart, benchmarks) calls: load and verify
the origin, trace it, load the train/val/test splits in the origin's class order, run an extractor
(selection uses train and val only), measure each module on the test split, and write packages.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from nnparts.client.data import DataSplit, load_split, parse_spec
from nnparts.client.data.transforms import to_tensor
from nnparts.client.extract.base import ExtractedModule, ExtractSettings, OriginNet, TensorData, get_extractor
from nnparts.client.extract.calibrate import binary_metrics, calibrated
from nnparts.client.extract.heads import ovr_scores
from nnparts.client.pack.build import build_manifest, origin_of, slug
from nnparts.client.pack.writer import write_package
from nnparts.client.zoo.evaluation import align_classes
from nnparts.client.zoo.meta import ModelMeta
from nnparts.client.zoo.origin import OriginModel, load_origin, tool_version
from nnparts.client.zoo.runtime import GraphNet
from nnparts.client.zoo.trace import trace_model
from nnparts.index.search import nearest_names
from nnparts.schemas.errors import NnpartsWarning, UnknownClass
from nnparts.schemas.manifest import InputSpec, ModuleManifest, Requirement
from nnparts.schemas.package import manifest_sha256

#: the folder under a decomposition's output that holds the trunk package
TRUNK_FOLDER = "trunk"


@dataclass(frozen=True)
class WrittenModule:
    path: Path
    manifest: ModuleManifest


def origin_net(origin: OriginModel) -> OriginNet:
    """Trace the origin (BatchNorm folded) into the IR network extractors work on."""
    traced = trace_model(origin.module.cpu())
    net = GraphNet(traced.graph, traced.params).eval()
    return OriginNet(net, origin_of(origin.meta, origin.weights_sha256), origin.meta.input)


def tensor_data(split: DataSplit, spec: InputSpec) -> TensorData:
    x = to_tensor(split.x, spec)
    return TensorData(x, torch.from_numpy(split.y.copy()).long())


def load_splits(data_spec: str, classes: Sequence[str], spec: InputSpec) -> dict[str, TensorData]:
    """train/val/test of ``data_spec`` restricted to ``classes``, labelled by their index there."""
    return {
        name: tensor_data(align_classes(load_split(data_spec, name), classes), spec)
        for name in ("train", "val", "test")
    }


def blind_selection(
    name: str, dataset: str, training: Mapping[str, Any], data_spec: str, train_size: int
) -> str | None:
    """Why model selection on ``data_spec``'s val split is blind for an origin, or None.

    It is when val is carved from the train split of the data set the origin was trained on
    (``dataset``) and the origin's ``training["train_examples"]`` exceeds the ``train_size`` images
    left beside val: then the origin saw val images in training, and scores them as it scores
    training data. Without ``train_examples`` (or for another data set) nothing is known: None.
    """
    spec = parse_spec(data_spec)
    seen = training.get("train_examples")
    if spec.val_from != "train" or type(seen) is not int or seen <= train_size:
        return None
    if re.sub(r"[^a-z0-9]", "", dataset.casefold()) != re.sub(r"[^a-z0-9]", "", spec.kind):
        return None
    fix = (
        f"pass --data {replace(spec, val_from='test')} (val from the test split) or a split it never saw"
        if spec.path is not None
        else "use a held-out split the origin never saw"
    )
    return (
        f"origin {name!r} was trained on {seen} {spec.kind} images, more than the {train_size} left "
        f"beside the val carved from train: val is data it memorised, so selection on it is blind; {fix}"
    )


def resolve_classes(requested: Sequence[str] | None, classes: Sequence[str]) -> list[int]:
    if not requested:
        return list(range(len(classes)))
    folded = {c.casefold(): i for i, c in enumerate(classes)}
    out = []
    for name in requested:
        if name.casefold() not in folded:
            raise UnknownClass(name, nearest_names(name, classes))
        out.append(folded[name.casefold()])
    return out


def score_batches(net: torch.nn.Module, data: TensorData, batch: int, device: str) -> torch.Tensor:
    out = []
    with torch.no_grad():
        for x, _ in data.batches(batch):
            out.append(net(x.to(device)).cpu())
    return torch.cat(out)


def class_module_metrics(
    module: ExtractedModule, test: TensorData, origin_logits: torch.Tensor, settings: ExtractSettings
) -> dict[str, Any]:
    """Test-split metrics of a one-vs-rest module next to the origin on the same binary task."""
    scores = score_batches(module.network().to(settings.device), test, settings.batch_size, settings.device)
    return metrics_from_scores(module, scores, test, origin_logits)


def metrics_from_scores(
    module: ExtractedModule, scores: torch.Tensor, test: TensorData, origin_logits: torch.Tensor
) -> dict[str, Any]:
    """:func:`class_module_metrics` from the module's already computed test scores."""
    c = module.classes[0].origin_index
    positive = test.y == c
    mine = binary_metrics(calibrated(scores.view(-1), module.calibration), positive)
    origin = binary_metrics(ovr_scores(origin_logits)[:, c], positive)
    name = module.classes[0].name
    return {
        "split": "test",
        "samples": len(test),
        "overall": {"accuracy": mine["binary_accuracy"], **mine},
        "per_class": {name: {"precision": mine["precision"], "recall": mine["recall"]}},
        "origin": {
            "accuracy": origin["binary_accuracy"],
            "recall": origin["recall"],
            "precision": origin["precision"],
            "top1": round(float((origin_logits.argmax(1) == test.y).float().mean()), 6),
        },
        "selection": {k: v for k, v in module.metrics.items() if k != "cost"},
        **({"cost": module.metrics["cost"]} if "cost" in module.metrics else {}),
    }


def decompose(
    model_dir: str | Path,
    data_spec: str,
    out_dir: str | Path,
    *,
    classes: Sequence[str] | None = None,
    method: str = "trunk",
    settings: ExtractSettings | None = None,
    version: str = "1.0.0",
    overwrite: bool = False,
) -> list[WrittenModule]:
    """Cut one module per class out of an origin package and write them under ``out_dir/<class>``.

    With a trunk (the default method), the trunk package is written first, to ``out_dir/trunk``, and
    every class module pins it (id, version, manifest sha256) in its manifest's ``requires``.
    """
    settings = settings or ExtractSettings()
    origin = load_origin(model_dir)
    wanted = resolve_classes(classes, origin.meta.classes)
    net = origin_net(origin)
    splits = load_splits(data_spec, origin.meta.classes, origin.meta.input)
    meta = origin.meta
    blind = blind_selection(meta.name, meta.dataset, meta.training, data_spec, len(splits["train"]))
    if blind is not None:
        warnings.warn(blind, NnpartsWarning, stacklevel=2)
    modules = get_extractor(method).extract(net, wanted, splits["train"], splits["val"], settings)
    origin_logits = score_batches(net.net, splits["test"], settings.batch_size, "cpu")
    return write_modules(
        modules,
        net,
        origin.meta,
        splits["test"],
        origin_logits,
        out_dir,
        settings=settings,
        version=version,
        overwrite=overwrite,
    )


def write_modules(
    modules: Sequence[ExtractedModule],
    net: OriginNet,
    meta: ModelMeta,
    test: TensorData,
    origin_logits: torch.Tensor,
    out_dir: str | Path,
    *,
    settings: ExtractSettings,
    version: str = "1.0.0",
    overwrite: bool = False,
) -> list[WrittenModule]:
    """Measure each extracted module on ``test`` next to the origin and write its package under
    ``out_dir``: a trunk (written first) to ``trunk/``, each class module to its class's slug, pinning
    the trunk it runs on (id, version, manifest sha256) in ``requires``."""
    written: list[WrittenModule] = []
    features = test
    requires: tuple[Requirement, ...] = ()
    for module in modules:
        if module.kind == "trunk":
            trunk_net = module.network().to(settings.device)
            features = TensorData(
                score_batches(trunk_net, test, settings.batch_size, settings.device), test.y
            )
            metrics: dict[str, Any] = {
                "split": "test",
                "samples": len(test),
                "overall": {},
                "selection": module.metrics,
            }
            path = Path(out_dir) / TRUNK_FOLDER
        else:
            metrics = class_module_metrics(
                module, features if module.on_trunk else test, origin_logits, settings
            )
            path = Path(out_dir) / slug(module.classes[0].name)
        metrics["dataset"] = meta.dataset
        manifest = build_manifest(
            module, net.origin, meta, metrics=metrics, version=version, tool_version=tool_version()
        )
        if module.on_trunk:
            manifest = manifest.with_changes(requires=requires)
        package = write_package(path, manifest, module.graph, module.tensors, overwrite=overwrite)
        if module.kind == "trunk":
            requires = (
                Requirement(package.id, package.version, manifest_sha256(path), "trunk", package.total_bytes),
            )
        written.append(WrittenModule(path, package))
    return written
