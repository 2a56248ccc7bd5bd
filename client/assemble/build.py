"""From a lockfile (installed, verified packages) to an assembled package, and its evaluation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from nnparts.client.assemble.package import Assembly, PartSpec, load_assembly, write_assembly
from nnparts.client.data import DataSplit, load_split
from nnparts.client.extract.calibrate import fit_temperature
from nnparts.client.resolve.installer import install_frozen
from nnparts.schemas.errors import UsageError
from nnparts.schemas.package import read_manifest


def parts_from_paths(
    paths: Sequence[Path], requested: Sequence[str] | None = None
) -> tuple[list[PartSpec], list[str]]:
    """Part specs and the assembly's class order (``requested`` order, else the packages' order)."""
    specs: list[PartSpec] = []
    classes: list[str] = []
    for path in paths:
        m = read_manifest(path)
        names = list(m.class_names)
        specs.append(PartSpec(Path(path), tuple(names)))
        classes += [c for c in names if c not in classes]
    if requested:
        order: list[str] = []
        for q in requested:
            for spec in specs:
                m = read_manifest(spec.path)
                match = next((c.name for c in m.classes if c.matches(q)), None)
                if match and match not in order:
                    order.append(match)
        classes = order + [c for c in classes if c not in order]
    return specs, classes


def assemble_from_lock(
    lock_path: str | Path,
    out_dir: str | Path,
    *,
    calibrate: Sequence[str] = (),
    abstain: float | None = None,
    rule: str = "argmax",
    name: str = "assembly",
    overwrite: bool = False,
) -> Path:
    """Assemble every module the lock pins (installed and verified offline) into ``out_dir``."""
    installed = install_frozen(lock_path)
    paths = [installed.paths[f"{m.id}@{m.version}"] for m in installed.lock.modules]
    specs, classes = parts_from_paths(paths, installed.lock.requested)
    if calibrate:
        specs = recalibrate(specs, calibrate)
    write_assembly(out_dir, specs, classes, rule=rule, abstain=abstain, name=name, overwrite=overwrite)
    return Path(out_dir)


def _matching(split: DataSplit, classes: Sequence[str]) -> dict[int, int]:
    """data label -> assembly column, by case-insensitive class name."""
    folded = {c.casefold(): i for i, c in enumerate(classes)}
    return {j: folded[c.casefold()] for j, c in enumerate(split.classes) if c.casefold() in folded}


def recalibrate(specs: Sequence[PartSpec], data_specs: Sequence[str]) -> list[PartSpec]:
    """Refit each one-vs-rest part's temperature on the validation split of the data that holds its
    class (the other classes of that data set are its negatives)."""
    out = []
    splits = [load_split(d, "val") for d in data_specs]
    from nnparts.client.data.transforms import to_tensor
    from nnparts.client.pack.loader import load_package

    for spec in specs:
        loaded = load_package(spec.path)
        m = loaded.manifest
        split = next(
            (s for s in splits if any(c.casefold() == spec.classes[0].casefold() for c in s.classes)), None
        )
        if m.output_type != "ovr_score" or split is None:
            out.append(spec)
            continue
        label = [c.casefold() for c in split.classes].index(spec.classes[0].casefold())
        net = loaded.network()
        with torch.no_grad():
            scores = torch.cat(
                [net(to_tensor(split.x[i : i + 512], m.input)).view(-1) for i in range(0, len(split), 512)]
            )
        out.append(replace(spec, calibration=fit_temperature(scores, torch.from_numpy(split.y == label))))
    return out


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
    for spec in data_specs:
        data = load_split(spec, split)
        mapping = _matching(data, assembly.classes)
        if not mapping:
            raise UsageError(
                f"no class of {spec} is in the assembly",
                hint=f"assembly classes: {', '.join(assembly.classes)}",
            )
        keep = np.isin(data.y, list(mapping))
        x, y = data.x[keep], np.vectorize(mapping.get)(data.y[keep])
        for start in tqdm(range(0, len(y), batch_size), desc=f"eval {data.name}", leave=False, disable=None):
            pred = (
                model.predict(torch.from_numpy(np.ascontiguousarray(x[start : start + batch_size])))
                .cpu()
                .numpy()
            )
            pred = np.where(pred < 0, k, pred)
            np.add.at(confusion, (y[start : start + batch_size], pred), 1)
    total = int(confusion.sum())
    per_class = {
        c: round(float(confusion[i, i] / max(confusion[i].sum(), 1)), 6)
        for i, c in enumerate(assembly.classes)
    }
    return {
        "split": split,
        "samples": total,
        "overall": {
            "accuracy": round(float(np.trace(confusion[:, :k]) / max(total, 1)), 6),
            "abstained": round(float(confusion[:, k].sum() / max(total, 1)), 6),
        },
        "per_class": {c: {"recall": v} for c, v in per_class.items()},
        "datasets": list(data_specs),
    }


def load_and_evaluate(path: str | Path, data_specs: Sequence[str], **kwargs: Any) -> dict[str, Any]:
    return evaluate_assembly(load_assembly(path), data_specs, **kwargs)
