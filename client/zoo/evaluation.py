"""Top-1 evaluation of a classifier on a data split, and loading any evaluable package.

``load_any(path)`` is the one entry point commands use to turn a package folder into something
:func:`evaluate` can run: an origin-model package (``model.json``) today; module and assembled
packages (``manifest.json``) are refused until their loader is wired in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from nnparts.client.data import DataSplit
from nnparts.client.data.transforms import iterate_batches, num_batches
from nnparts.client.zoo.meta import MODEL_JSON
from nnparts.client.zoo.origin import load_origin
from nnparts.schemas.errors import FileMissing, UsageError
from nnparts.schemas.manifest import InputSpec
from nnparts.schemas.package import MANIFEST_NAME

MANIFEST_JSON = MANIFEST_NAME


@dataclass(frozen=True)
class EvalResult:
    """Top-1 accuracy of one model on one split.

    ``per_class[i]`` is None when class ``i`` has no samples in the split. ``confusion[t][p]``
    counts images of true class ``t`` predicted as ``p`` (present when asked for).
    """

    top1: float
    per_class: tuple[float | None, ...]
    per_class_samples: tuple[int, ...]
    classes: tuple[str, ...]
    samples: int
    split: str
    confusion: tuple[tuple[int, ...], ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "split": self.split,
            "samples": self.samples,
            "top1": self.top1,
            "classes": list(self.classes),
            "per_class": list(self.per_class),
            "per_class_samples": list(self.per_class_samples),
        }
        if self.confusion is not None:
            d["confusion"] = [list(row) for row in self.confusion]
        return d


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """A package loaded for inference: ``module(x)`` gives one logit per entry of ``classes``."""

    name: str
    kind: Literal["origin"]
    module: nn.Module
    input_spec: InputSpec
    classes: tuple[str, ...]
    path: Path


def load_any(path: str | Path, *, device: str | torch.device = "cpu") -> LoadedModel:
    """Load a package folder by what it holds: ``model.json`` (origin model) or ``manifest.json``.

    Raises:
        FileMissing: the folder does not exist.
        UsageError: it holds neither file, or holds a module package (not supported yet).
        ManifestError, IntegrityError, WeightsError: from the package loader.
    """
    root = Path(path)
    if not root.exists():
        raise FileMissing(str(root), hint="MODEL is a package folder (with model.json or manifest.json)")
    if (root / MODEL_JSON).is_file():
        origin = load_origin(root, device=device)
        return LoadedModel(
            origin.meta.name, "origin", origin.module, origin.meta.input, origin.meta.classes, root
        )
    if (root / MANIFEST_JSON).is_file():
        raise UsageError("module packages are not supported yet", hint=f"{root} holds a manifest.json")
    raise UsageError(
        f"{root} is not a model package", hint="expected model.json (origin model) or manifest.json (module)"
    )


def align_classes(split: DataSplit, classes: Sequence[str]) -> DataSplit:
    """Restrict ``split`` to a model's classes, relabelled to the model's output order (by name).

    Raises:
        UsageError: a model class is not in the data set.
    """
    if tuple(classes) == split.classes:
        return split
    return split.select_classes(classes)


def evaluate(
    module: nn.Module,
    split: DataSplit,
    input_spec: InputSpec,
    *,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
    confusion: bool = False,
    progress: bool = False,
) -> EvalResult:
    """Top-1 accuracy of ``module`` on ``split``, whose labels index the module's outputs.

    Runs under ``torch.inference_mode`` in eval mode and restores the module's train/eval flag.
    Cost: one forward pass over the split.

    Raises:
        UsageError: the split is empty or the module has fewer outputs than the split has classes.
    """
    if len(split) == 0:
        raise UsageError(f"the {split.split} split of {split.spec or split.name} is empty")
    k = len(split.classes)
    counts = np.zeros((k, k), dtype=np.int64)
    was_training = module.training
    module.eval()
    batches = iterate_batches(split, input_spec, batch_size, device)
    bar = tqdm(
        batches,
        total=num_batches(split, batch_size),
        desc="eval",
        unit="batch",
        disable=None if progress else True,
    )
    try:
        with torch.inference_mode():
            for inputs, labels in bar:
                logits = module(inputs)
                if logits.shape[-1] < k:
                    raise UsageError(f"the model has {logits.shape[-1]} outputs but the data has {k} classes")
                pred = logits[:, :k].argmax(dim=1)
                pairs = (labels * k + pred).cpu().numpy()
                counts += np.bincount(pairs, minlength=k * k).reshape(k, k)
    finally:
        bar.close()
        module.train(was_training)
    per_class_samples = counts.sum(axis=1)
    per_class = tuple(
        float(counts[i, i] / per_class_samples[i]) if per_class_samples[i] else None for i in range(k)
    )
    samples = int(per_class_samples.sum())
    return EvalResult(
        top1=float(np.trace(counts) / samples),
        per_class=per_class,
        per_class_samples=tuple(int(c) for c in per_class_samples),
        classes=split.classes,
        samples=samples,
        split=split.split,
        confusion=tuple(tuple(int(v) for v in row) for row in counts) if confusion else None,
    )
