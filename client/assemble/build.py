"""From installed, verified packages to an assembled package; few-shot stitching; evaluation."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from tqdm.auto import tqdm

from nnparts.client.assemble.package import Assembly, PartSpec, load_assembly, write_assembly
from nnparts.client.assemble.runtime import Stitch, fit_stitch
from nnparts.client.data import DataSplit, load_split
from nnparts.client.data.transforms import to_tensor
from nnparts.client.pack.loader import load_package
from nnparts.client.resolve.installer import install_frozen
from nnparts.client.zoo.latency import ImageModel
from nnparts.client.zoo.meta import MODEL_JSON
from nnparts.client.zoo.origin import load_origin
from nnparts.schemas.errors import UsageError
from nnparts.schemas.package import read_manifest

LabelledImages = tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64], str]


def parts_from_paths(
    paths: Sequence[Path], requested: Sequence[str] | None = None
) -> tuple[list[PartSpec], list[str]]:
    """Part specs and the assembly's class order (``requested`` order, else the packages' order)."""
    manifests = [read_manifest(p) for p in paths]
    specs = [PartSpec(Path(p), m.class_names) for p, m in zip(paths, manifests, strict=True)]
    classes: list[str] = []
    for q in requested or ():
        match = next((c.name for m in manifests for c in m.classes if c.matches(q)), None)
        if match and match not in classes:
            classes.append(match)
    for m in manifests:
        classes += [c for c in m.class_names if c not in classes]
    return specs, classes


def draft_assembly(
    specs: Sequence[PartSpec], classes: Sequence[str], *, rule: str = "argmax", abstain: float | None = None
) -> Assembly:
    """An in-memory assembly of package folders (nothing written)."""
    parts = tuple((load_package(s.path), s) for s in specs)
    return Assembly(Path("."), parts[0][0].manifest, tuple(classes), rule, abstain, parts)


def assemble_paths(
    paths: Sequence[Path],
    out_dir: str | Path,
    *,
    requested: Sequence[str] | None = None,
    calibrate: Sequence[str] = (),
    abstain: float | None = None,
    rule: str = "argmax",
    name: str = "assembly",
    overwrite: bool = False,
) -> Path:
    """Assemble module package folders into ``out_dir`` (with a stitching head if ``calibrate``)."""
    specs, classes = parts_from_paths(paths, requested)
    stitch = fit_stitch_on(draft_assembly(specs, classes, rule=rule), calibrate) if calibrate else None
    write_assembly(
        out_dir, specs, classes, rule=rule, abstain=abstain, name=name, overwrite=overwrite, stitch=stitch
    )
    return Path(out_dir)


def assemble_from_lock(lock_path: str | Path, out_dir: str | Path, **kwargs: Any) -> Path:
    """Assemble every module the lock pins (installed and verified, offline) into ``out_dir``."""
    installed = install_frozen(lock_path)
    return assemble_paths(installed.module_paths(), out_dir, requested=installed.lock.requested, **kwargs)


def _matching(split: DataSplit, classes: Sequence[str]) -> dict[int, int]:
    """data label -> assembly column, by case-insensitive class name."""
    folded = {c.casefold(): i for i, c in enumerate(classes)}
    return {j: folded[c.casefold()] for j, c in enumerate(split.classes) if c.casefold() in folded}


def labelled_images(classes: Sequence[str], data_specs: Sequence[str], split: str) -> list[LabelledImages]:
    """For each data spec: its images of the assembly's classes, labelled by assembly column."""
    out = []
    for spec in data_specs:
        data = load_split(spec, split)
        mapping = _matching(data, classes)
        if not mapping:
            raise UsageError(
                f"no class of {spec} is in the assembly", hint=f"assembly classes: {', '.join(classes)}"
            )
        keep = np.isin(data.y, list(mapping))
        labels = np.array([mapping[int(v)] for v in data.y[keep]], dtype=np.int64)
        out.append((data.x[keep], labels, data.name))
    return out


def fit_stitch_on(assembly: Assembly, data_specs: Sequence[str], *, batch_size: int = 256) -> Stitch:
    """Fit the few-shot stitching head on the validation split of ``data_specs``."""
    model = assembly.model()
    scores, labels = [], []
    for x, y, _ in labelled_images(assembly.classes, data_specs, "val"):
        with torch.no_grad():
            for start in range(0, len(y), batch_size):
                scores.append(
                    model.scores(torch.from_numpy(np.ascontiguousarray(x[start : start + batch_size])))
                )
        labels.append(torch.from_numpy(y))
    return fit_stitch(torch.cat(scores), torch.cat(labels), data=tuple(data_specs))


def evaluate_assembly(
    assembly: Assembly,
    data_specs: Sequence[str],
    *,
    split: str = "test",
    batch_size: int = 256,
    device: str = "cpu",
) -> dict[str, Any]:
    """Top-1 over the assembly's classes on the samples of ``data_specs`` whose class it has.

    Each data set is fed as its own raw images; every part converts them to its own input spec.
    """
    model = assembly.model().to(device)
    k = len(assembly.classes)
    confusion = np.zeros((k, k + 1), dtype=np.int64)  # last column: abstained
    for x, y, name in labelled_images(assembly.classes, data_specs, split):
        for start in tqdm(range(0, len(y), batch_size), desc=f"eval {name}", leave=False, disable=None):
            batch = torch.from_numpy(np.ascontiguousarray(x[start : start + batch_size]))
            pred = model.predict(batch).cpu().numpy()
            pred = np.where(pred < 0, k, pred)
            np.add.at(confusion, (y[start : start + batch_size], pred), 1)
    total = int(confusion.sum())
    return {
        "split": split,
        "samples": total,
        "overall": {
            "accuracy": round(float(np.trace(confusion[:, :k]) / max(total, 1)), 6),
            "abstained": round(float(confusion[:, k].sum() / max(total, 1)), 6),
        },
        "per_class": {
            c: {"recall": round(float(confusion[i, i] / max(confusion[i].sum(), 1)), 6)}
            for i, c in enumerate(assembly.classes)
        },
        "datasets": list(data_specs),
        "stitched": assembly.stitch is not None,
    }


def load_and_evaluate(path: str | Path, data_specs: Sequence[str], **kwargs: Any) -> dict[str, Any]:
    return evaluate_assembly(load_assembly(path), data_specs, **kwargs)


def evaluate_module(
    path: str | Path,
    data_specs: Sequence[str],
    *,
    split: str = "test",
    batch_size: int = 256,
    device: str = "cpu",
) -> dict[str, Any]:
    """One-vs-rest metrics of a class module on the data sets that hold its class (every other
    image of those data sets is a negative)."""
    from nnparts.client.extract.calibrate import binary_metrics, calibrated

    loaded = load_package(path)
    m = loaded.manifest
    net = loaded.network().to(device)
    scores, positive = [], []
    for spec in data_specs:
        data = load_split(spec, split)
        names = [c.casefold() for c in data.classes]
        label = next(
            (
                names.index(q.casefold())
                for c in m.classes
                for q in (c.name, *c.aliases)
                if q.casefold() in names
            ),
            None,
        )
        if label is None:
            continue
        with torch.no_grad():
            for start in range(0, len(data), batch_size):
                x = to_tensor(data.x[start : start + batch_size], m.input, device=device)
                scores.append(net(x).view(-1).cpu())
        positive.append(torch.from_numpy(data.y == label))
    if not scores:
        raise UsageError(f"no data set holds class {m.classes[0].name!r}", hint="pass a --data that has it")
    s, p = torch.cat(scores), torch.cat(positive)
    metrics = binary_metrics(calibrated(s, m.calibration), p)
    return {"split": split, "samples": len(p), "overall": metrics, "datasets": list(data_specs)}


def image_model(path: str | Path) -> tuple[ImageModel, tuple[int, int, int]]:
    """Any package as a uint8-NHWC-images-to-outputs callable (input conversion included), with the
    image shape (height, width, channels) it expects: an origin, a module (on its trunk), a trunk,
    a sub-model or an assembly."""
    root = Path(path)
    if (root / MODEL_JSON).is_file():
        origin = load_origin(root)
        spec, module = origin.meta.input, origin.module.eval()
    else:
        m = read_manifest(root)
        if m.kind == "assembled" or m.output_type == "logits":
            assembled = (
                load_assembly(root) if m.kind == "assembled" else draft_assembly(*parts_from_paths([root]))
            )
            model = assembled.model()
            first = assembled.parts[0][0].manifest.input
            return model, (first.height, first.width, first.channels)
        spec, module = m.input, load_package(root).network()

    def run(images: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = module(to_tensor(images, spec))
        return out

    return run, (spec.height, spec.width, spec.channels)


def evaluate_package(path: str | Path, data_specs: Sequence[str], **kwargs: Any) -> dict[str, Any]:
    """Evaluate any module package: an assembly (top-1), a sub-model (top-1 over its classes) or a
    class module (one-vs-rest metrics)."""
    m = read_manifest(path)
    if m.kind == "trunk":  # features, no answers: its accuracy is that of the modules on it
        load_package(path)  # verified all the same
        return {
            "split": kwargs.get("split", "test"),
            "samples": 0,
            "overall": {},
            "datasets": list(data_specs),
            "note": "a trunk computes features for its class modules; evaluate those",
        }
    if m.kind == "assembled":
        return evaluate_assembly(load_assembly(path), data_specs, **kwargs)
    if m.output_type == "logits":
        specs, classes = parts_from_paths([Path(path)])
        return evaluate_assembly(draft_assembly(specs, classes), data_specs, **kwargs)
    return evaluate_module(path, data_specs, **kwargs)
