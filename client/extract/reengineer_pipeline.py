"""From an origin-model package, a data spec and target classes to a written SeaM sub-model package.

The glue behind ``nnparts reengineer``: load and verify the origin, trace it (BatchNorm folded), load
train/val/test in the origin's class order, run :func:`~nnparts.client.extract.seam.run_seam`
(train and val only), then measure on the target problem's **test** data: the sub-model's accuracy
(overall and per label), the origin's accuracy as SeaM computes it and restricted to the target
label space, and CPU latency of the origin, the zeroed dense sub-model and the extracted one.
"""

from __future__ import annotations

import platform
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from nnparts.client.extract.base import ExtractSettings, TensorData
from nnparts.client.extract.pipeline import (
    WrittenModule,
    blind_selection,
    load_splits,
    origin_net,
    resolve_classes,
    score_batches,
)
from nnparts.client.extract.seam import (
    TargetProblem,
    cap_stratified,
    run_seam,
    target_problem,
    task_baselines,
)
from nnparts.client.extract.seam_masks import COSTS, GRANULARITIES
from nnparts.client.pack.build import build_manifest
from nnparts.client.pack.writer import write_package
from nnparts.client.zoo.origin import load_origin, tool_version
from nnparts.client.zoo.runtime import GraphNet
from nnparts.schemas.errors import NnpartsWarning, UsageError

LATENCY_THREADS = 2


def cpu_latency(
    net: torch.nn.Module,
    shape: tuple[int, int, int],
    batch: int,
    *,
    threads: int = LATENCY_THREADS,
    min_seconds: float = 0.5,
    max_reps: int = 50,
) -> float:
    """Median wall-clock milliseconds of one forward pass on the CPU with ``threads`` threads.

    Two warm-up passes, then repeated timed passes until ``min_seconds`` or ``max_reps``.
    The caller's thread setting is restored.
    """
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        net = net.cpu().eval()
        x = torch.randn(batch, *shape, generator=torch.Generator().manual_seed(0))
        times: list[float] = []
        with torch.inference_mode():
            for _ in range(2):
                net(x)
            start = time.perf_counter()
            while len(times) < max_reps and (time.perf_counter() - start < min_seconds or len(times) < 3):
                t0 = time.perf_counter()
                net(x)
                times.append(time.perf_counter() - t0)
    finally:
        torch.set_num_threads(old)
    times.sort()
    return round(1000 * times[len(times) // 2], 4)


def hardware() -> dict[str, Any]:
    """The machine latency was measured on."""
    return {
        "processor": platform.processor() or platform.machine(),
        "machine": platform.machine(),
        "system": platform.system(),
        "torch": torch.__version__,
        "torch_threads": LATENCY_THREADS,
    }


def latency_metrics(
    nets: dict[str, torch.nn.Module], shape: tuple[int, int, int], *, min_seconds: float = 0.5
) -> dict[str, Any]:
    """``{name: {"batch_1_ms", "batch_64_ms"}}`` for each network, plus the hardware.

    Each value is the lower of two medians taken in interleaved rounds over the networks.
    """
    out: dict[str, Any] = {"hardware": hardware(), "device": "cpu", "method": "min over 2 interleaved rounds"}
    for name in nets:
        out[name] = {}
    for b in (1, 64):
        for _ in range(2):  # interleaved, so a burst of load on a shared machine hits every network
            for name, net in nets.items():
                ms = cpu_latency(net, shape, b, min_seconds=min_seconds)
                out[name][f"batch_{b}_ms"] = min(out[name].get(f"batch_{b}_ms", ms), ms)
    return out


def problem_metrics(
    logits: torch.Tensor, origin_logits: torch.Tensor, problem: TargetProblem
) -> dict[str, Any]:
    """Test metrics of the sub-model's ``logits`` on ``problem`` next to the origin's two baselines."""
    y = problem.data.y
    pred = logits.argmax(1)
    per_class = {
        name: {
            "accuracy": round(float((pred[y == i] == i).float().mean()), 6),
            "samples": int((y == i).sum()),
        }
        for i, name in enumerate(problem.names)
    }
    base = task_baselines(origin_logits, problem)
    return {
        "split": "test",
        "samples": len(problem.data),
        "overall": {"accuracy": round(float((pred == y).float().mean()), 6)},
        "per_class": per_class,
        "origin": {f"accuracy_{k}": round(v, 6) for k, v in base.items()},
    }


def reengineer(
    model_dir: str | Path,
    data_spec: str,
    out_dir: str | Path,
    *,
    targets: Sequence[str],
    granularity: str = "weight",
    target_retention: float | None = None,
    alpha: float = 1.0,
    lr_mask: float = 0.05,
    epochs: int = 20,
    fine_tune: bool = False,
    cost: str = "params",
    settings: ExtractSettings | None = None,
    measure_latency: bool = True,
    latency_seconds: float = 0.5,
    splits: dict[str, TensorData] | None = None,
    version: str = "1.0.0",
    overwrite: bool = False,
) -> WrittenModule:
    """Re-engineer ``model_dir`` for ``targets`` and write the sub-model package to ``out_dir``.

    Extra SeaM knobs (``lr_head``, ``batch``, ``anneal``, ``tol``, ``fine_tune_epochs``,
    ``lr_fine_tune``, ``augment_pad``, ``augment_flip``, ``max_train``, ``max_test``) may be given in
    ``settings.params``; the named arguments win. ``splits`` (train/val/test in the origin's class
    order, as :func:`load_splits` returns them) skips loading the data again (benchmarks);
    ``latency_seconds`` is the timing budget per network and batch size.

    Raises:
        UsageError: bad granularity/cost/retention/epochs, repeated targets, an existing ``out_dir``.
        UnknownClass: a target is not a class of the origin.
    """
    settings = settings or ExtractSettings()
    if granularity not in GRANULARITIES:
        raise UsageError(f"unknown granularity {granularity!r}", hint="use weight, kernel or channel")
    if cost not in COSTS:
        raise UsageError(f"unknown retention cost {cost!r}", hint="use params or flops")
    if target_retention is not None and not 0.0 < target_retention < 1.0:
        raise UsageError(f"target retention must be in (0, 1), got {target_retention}")
    if epochs < 1:
        raise UsageError(f"epochs must be positive, got {epochs}")
    if Path(out_dir).exists() and not overwrite:
        raise UsageError(f"output folder already exists: {out_dir}", hint="choose a new --out or remove it")
    origin = load_origin(model_dir)
    wanted = resolve_classes(list(targets), origin.meta.classes)
    if len(set(wanted)) != len(wanted):
        raise UsageError(f"repeated target class in {list(targets)}")
    params = {
        "fine_tune_epochs": max(1, epochs // 4) if fine_tune else 0,
        **settings.params,
        "granularity": granularity,
        "cost": cost,
        "alpha": alpha,
        "lr_mask": lr_mask,
        "epochs": epochs,
        "target_retention": target_retention,
    }
    if not fine_tune:
        params["fine_tune_epochs"] = 0
    run_settings = ExtractSettings(
        settings.device, settings.batch_size, settings.seed, settings.progress, params
    )
    net = origin_net(origin)
    if splits is None:
        splits = load_splits(data_spec, origin.meta.classes, origin.meta.input)
        meta = origin.meta
        blind = blind_selection(meta.name, meta.dataset, meta.training, data_spec, len(splits["train"]))
        if blind is not None:
            warnings.warn(blind, NnpartsWarning, stacklevel=2)
    outcome = run_seam(net, wanted, splits["train"], splits["val"], run_settings)
    module = outcome.module
    test = target_problem(splits["test"], wanted, origin.meta.classes, seed=settings.seed)
    if params.get("max_test"):
        test = TargetProblem(cap_stratified(test.data, int(params["max_test"])), test.names, test.targets)
    sub_net = module.network()
    logits = score_batches(sub_net, test.data, settings.batch_size, "cpu")
    origin_logits = score_batches(net.net.cpu(), test.data, settings.batch_size, "cpu")
    metrics = problem_metrics(logits, origin_logits, test)
    metrics["dataset"] = origin.meta.dataset
    metrics["retention"] = module.mask.density
    metrics["selection"] = module.metrics["selection"]
    if measure_latency:
        spec = origin.meta.input
        shape = (spec.channels, spec.height, spec.width)
        zeroed = GraphNet(outcome.zeroed_graph, outcome.zeroed_tensors).eval()
        metrics["latency"] = latency_metrics(
            {"sub_model": sub_net, "zeroed": zeroed, "origin": net.net}, shape
        )
    manifest = build_manifest(
        module, net.origin, origin.meta, metrics=metrics, version=version, tool_version=tool_version()
    )
    labels = ", ".join(f"{i}: {n}" for i, n in enumerate(test.names))
    manifest = manifest.with_changes(description=f"SeaM sub-model; output logits {labels}")
    path = Path(out_dir)
    return WrittenModule(
        path, write_package(path, manifest, module.graph, module.tensors, overwrite=overwrite)
    )
