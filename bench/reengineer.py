"""Benchmark SeaM re-engineering (issue 4) on the shared CIFAR-10 fixtures; CPU only.

    .venv/bin/python bench/reengineer.py --quick        # scaled down: within 15 min on 2 CPU cores
    .venv/bin/python bench/reengineer.py --scale cpu    # every class, full test halves, short search
                                                        # (~4 min a sub-model on 2 cores; ~75 min in all)
    .venv/bin/python bench/reengineer.py --scale cpu --classes deer,frog --di-seeds 1   # a partial run
    .venv/bin/python bench/reengineer.py                # full: longer search, every class at both granularities (GPU)

(a) binary, each CIFAR-10 class from ``resnet20-cifar10``: weight granularity (every class) and
channel granularity (every class, or the first few in --quick): retention, test accuracy vs the
origin (paper and restricted), file bytes, CPU latency (2 threads, batch 1 / 64) of the dense origin,
the zeroed sub-model and the extracted one, search wall time. (b) multi-class {airplane, automobile,
ship, truck} and the six animals. (c) defect inheritance: ``resnet20-cifar10-c0to4`` -> CIFAR-10
classes 5-9, standard fine-tuning vs SeaM + fine-tuning with masks kept, under the transferred PGD
attack of ALGORITHMS.md §3 (L-inf, eps 0.1 in normalised space, 40 steps of 0.01, random start, clip
[-2.2, 2.2], crafted on the pretrained feature extractor: penultimate feature 0 -> 1000, others -> 0),
repeated over seeds (new fc, shuffles): per-seed rows, the mean and its spread.
Writes ``bench/results/reengineer.json`` and ``bench/results/reengineer.md``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from _common import SHARED, verdict
from torch import nn
from tqdm.auto import tqdm

from nnparts.client.extract.base import ExtractSettings, TensorData
from nnparts.client.extract.pipeline import load_splits
from nnparts.client.extract.reengineer_pipeline import hardware, reengineer
from nnparts.client.extract.seam import cap_stratified, target_problem
from nnparts.client.extract.seam_masks import SeamMasks
from nnparts.client.extract.seam_search import SeamConfig, fine_tune, masked_accuracy, search
from nnparts.client.zoo.cost import infer_shapes
from nnparts.client.zoo.origin import import_model, load_origin
from nnparts.client.zoo.runtime import GraphNet
from nnparts.client.zoo.trace import trace_model

ROOT = Path(__file__).resolve().parent
ANIMALS = ["bird", "cat", "deer", "dog", "frog", "horse"]
VEHICLES = ["airplane", "automobile", "ship", "truck"]

SCALES: dict[str, dict[str, Any]] = {
    "quick": {
        "max_train": 2500, "max_val": 300, "max_test": 500, "max_train_multi": 2500, "epochs": 6, "lr_mask": 0.05,
        "fine_tune": True, "fine_tune_epochs": 1, "augment": True, "channel_classes": 2, "latency_seconds": 0.1,
        "allocation": "erk", "search_kd": 1.0, "channel_flops": 0.3, "repeat_classes": [],
        "allocation_classes": ["cat"],
        "di_train": 2500, "di_test": 300, "di_epochs": 2, "di_search_epochs": 4, "di_seeds": 1,
    },
    "cpu": {
        "max_train": 7000, "max_val": 1000, "max_test": None, "max_train_multi": 7000, "epochs": 3,
        "lr_mask": 0.05, "fine_tune": True, "fine_tune_epochs": 2, "augment": True, "channel_classes": 3,
        "allocation": "erk", "search_kd": 1.0, "channel_flops": 0.3, "repeat_classes": ["cat", "deer"],
        "allocation_classes": ["airplane", "cat"],
        "latency_seconds": 0.5, "di_train": 5000, "di_test": 1000, "di_epochs": 2, "di_search_epochs": 3, "di_seeds": 3,
    },
    "full": {
        "max_train": None, "max_val": None, "max_test": None, "max_train_multi": None, "epochs": 30,
        "lr_mask": 0.05, "fine_tune": True, "fine_tune_epochs": 10, "augment": True, "channel_classes": 10,
        "allocation": "erk", "search_kd": 1.0, "channel_flops": 0.3, "repeat_classes": ["cat", "deer"],
        "allocation_classes": ["airplane", "cat"],
        "latency_seconds": 0.5, "di_train": None, "di_test": 1000, "di_epochs": 10, "di_search_epochs": 20, "di_seeds": 3,
    },
}  # fmt: skip


def import_fixture(name: str, into: Path) -> Path:
    out = into / name
    fx = SHARED / "fixtures"
    import_model("cifar_resnet20", [fx / f"{name}.safetensors"], out_dir=out, meta_json=fx / f"{name}.json")
    return out


def run_one(
    origin: Path,
    splits: dict[str, TensorData],
    targets: list[str],
    granularity: str,
    cfg: dict[str, Any],
    out: Path,
    seed: int = 0,
    allocation: str | None = None,
) -> dict[str, Any]:
    cap = cfg["max_train"] if len(targets) == 1 else cfg["max_train_multi"]
    params = {"max_train": cap, "max_val": cfg["max_val"], "max_test": cfg["max_test"]}
    # a channel sub-model fine-tunes physically smaller (~1/3 of the FLOPs): 3x the epochs for the same time
    params |= {"fine_tune_epochs": cfg["fine_tune_epochs"] * (3 if granularity == "channel" else 1)}
    if cfg["augment"]:  # random crops (pad 4) and flips, as the CIFAR-10 fixtures were trained
        params |= {"augment_pad": 4, "augment_flip": True}
    allocation = allocation or cfg["allocation"]
    params |= {"allocation": allocation, "search_kd": cfg["search_kd"]} | cfg.get("seam_params", {})
    retention = 0.1 if granularity == "weight" else cfg["channel_flops"]
    cost = "params" if granularity == "weight" else "flops"
    start = time.perf_counter()
    w = reengineer(
        origin, "", out / f"{granularity}-{'+'.join(targets)}-s{seed}-{allocation}", targets=targets, granularity=granularity,
        target_retention=retention, lr_mask=cfg["lr_mask"], epochs=cfg["epochs"], cost=cost,
        fine_tune=cfg["fine_tune"],
        settings=ExtractSettings(seed=seed, progress=False, params=params), splits=splits,
        latency_seconds=cfg["latency_seconds"],
    )  # fmt: skip
    m = w.manifest
    lat = m.metrics["latency"]
    return {
        "targets": targets,
        "seed": seed,
        "granularity": granularity,
        "allocation": allocation,
        "cost": cost,
        "target_retention": retention,
        "retention": m.mask.density,
        "flops_fraction": round((m.mask.flops_after or 0) / (m.mask.flops_before or 1), 4),
        "accuracy": m.metrics["overall"]["accuracy"],
        "origin_paper": m.metrics["origin"]["accuracy_paper"],
        "origin_restricted": m.metrics["origin"]["accuracy_restricted"],
        "test_samples": m.metrics["samples"],
        "weights_bytes": m.file("weights.safetensors").bytes,
        "latency_ms": {k: lat[k] for k in ("origin", "zeroed", "sub_model")},
        "speedup_b64": round(lat["origin"]["batch_64_ms"] / lat["sub_model"]["batch_64_ms"], 3),
        "search_seconds": m.metrics["selection"]["search_seconds"],
        "wall_seconds": round(time.perf_counter() - start, 1),
    }


def _features(net: GraphNet) -> str:
    return next(n.name for n in net.graph.nodes if n.op == "flatten")


def pgd_transfer(
    source: GraphNet, x: torch.Tensor, *, eps: float = 0.1, step: float = 0.01, steps: int = 40
) -> torch.Tensor:
    """ReMoS-style attack crafted on the pretrained feature extractor (no target-model access)."""
    feat = _features(source)
    gen = torch.Generator().manual_seed(0)
    adv = (x + (torch.rand(x.shape, generator=gen) * 2 - 1) * eps).clamp(-2.2, 2.2)
    for _ in range(steps):
        adv.requires_grad_(True)
        f = source.run_values(adv, stop_after=feat)[feat]
        goal = torch.zeros_like(f)
        goal[:, 0] = 1000.0
        grad = torch.autograd.grad(F.mse_loss(f, goal), adv)[0]
        adv = adv.detach() - step * grad.sign()
        adv = torch.min(torch.max(adv, x - eps), x + eps).clamp(-2.2, 2.2)
    return adv.detach()


def _transfer_net(source_dir: Path, k: int, seed: int) -> tuple[GraphNet, list[str]]:
    module = load_origin(source_dir).module
    torch.manual_seed(seed)
    module.fc = nn.Linear(module.fc.in_features, k)
    net = GraphNet(*_traced(module)).eval()
    return net, [n.name for n in net.graph.nodes if n.op == "conv2d"]


def _traced(module: nn.Module) -> tuple[Any, dict[str, torch.Tensor]]:
    t = trace_model(module)
    return t.graph, t.params


def defect_inheritance(
    source_dir: Path, splits: dict[str, TensorData], cfg: dict[str, Any]
) -> dict[str, Any]:
    names = load_origin(source_dir).meta.classes
    cifar = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    targets = [cifar.index(c) for c in cifar[5:]]
    tr = cap_stratified(target_problem(splits["train"], targets, cifar).data, cfg["di_train"])
    va = cap_stratified(target_problem(splits["val"], targets, cifar).data, 256)
    te = cap_stratified(target_problem(splits["test"], targets, cifar).data, cfg["di_test"])
    source = GraphNet(*_traced(load_origin(source_dir).module)).eval()
    adv = pgd_transfer(source, te.x)
    out: dict[str, Any] = {
        "source_classes": list(names),
        "target_classes": cifar[5:],
        "test_samples": len(te),
    }
    out["runs"] = [_transfer_once(source_dir, tr, va, te, adv, cfg, seed) for seed in range(cfg["di_seeds"])]
    for variant in ("standard", "seam"):
        rows = [run[variant] for run in out["runs"]]
        mean = {k: round(statistics.fmean(r[k] for r in rows), 4) for k in rows[0]}
        mean["dir_sd"] = round(statistics.stdev(r["dir"] for r in rows), 4) if len(rows) > 1 else 0.0
        out[variant] = mean
    s, m = out["standard"], out["seam"]
    out["dir_reduction"] = _dir_reduction(out)
    out["dir_reduction_per_seed"] = [_dir_reduction(run) for run in out["runs"]]
    out["accuracy_cost_pp"] = round(100 * (s["accuracy"] - m["accuracy"]), 2)
    return out


def _dir_reduction(pair: dict[str, Any]) -> float | None:
    """``1 - DIR(seam) / DIR(standard)`` of one run or of the means; None when standard has no defects."""
    standard = pair["standard"]["dir"]
    return round(1 - pair["seam"]["dir"] / standard, 4) if standard else None


def _transfer_once(
    source_dir: Path,
    tr: TensorData,
    va: TensorData,
    te: TensorData,
    adv: torch.Tensor,
    cfg: dict[str, Any],
    seed: int,
) -> dict[str, Any]:
    """Standard fine-tuning and SeaM + masked fine-tuning from one seed (new fc, shuffles)."""
    out: dict[str, Any] = {"seed": seed}
    for variant in ("standard", "seam"):
        start = time.perf_counter()
        net, convs = _transfer_net(source_dir, 5, seed)
        shapes = infer_shapes(net, 32, 32)
        # epoch 0: the new fc alone
        probe = SeamConfig(epochs=1, lr_head=0.01, lr_mask=1e-9, alpha=0.0, seed=seed)
        masks = SeamMasks(net, convs, "weight", shapes, init="magnitude")
        search(masks, "fc", tr, va, probe, baseline=1.0)
        if variant == "seam":  # the paper stops at a pruned share t = 0.6, i.e. retention 0.4
            sc = SeamConfig(
                epochs=cfg["di_search_epochs"], lr_head=0.001, lr_mask=cfg["lr_mask"], alpha=0.5,
                target_retention=0.4, seed=seed,
            )  # fmt: skip
            search(masks, "fc", tr, va, sc, baseline=1.0)
        ft = SeamConfig(fine_tune_epochs=cfg["di_epochs"], lr_fine_tune=5e-4, seed=seed)
        fine_tune(masks, tr, va, ft)
        kept, total = masks.kept_entries()
        hard, gates = masks.masks(detach=True), masks.gates(detach=True)
        with torch.no_grad():
            clean = masks(te.x, hard, gates).argmax(1) == te.y
            attacked = masks(adv, hard, gates).argmax(1) == te.y
        out[variant] = {
            "accuracy": round(float(clean.float().mean()), 4),
            "val_accuracy": round(masked_accuracy(masks, va, 256, "cpu"), 4),
            "dir": round(float((clean & ~attacked).sum()) / max(int(clean.sum()), 1), 4),
            "retention": round(kept / total, 4),
            "seconds": round(time.perf_counter() - start, 1),
        }
    return out


def summarise(res: dict[str, Any]) -> dict[str, Any]:
    default = res["config"]["allocation"]
    weight = [
        r
        for r in res["binary"]
        if r["granularity"] == "weight" and r["seed"] == 0 and r["allocation"] == default
    ]
    alloc = {
        r["targets"][0]: {
            a["allocation"]: _gap(a)
            for a in res["binary"]
            if a["targets"] == r["targets"] and a["seed"] == 0 and a["granularity"] == "weight"
        }
        for r in res["binary"]
        if r["allocation"] != default
    }
    channel = [r for r in res["binary"] if r["granularity"] == "channel"]
    ok = [r for r in weight if r["retention"] <= 0.10 and r["accuracy"] >= r["origin_restricted"] - 0.005]
    fast = [r for r in channel if r["speedup_b64"] >= 2 and r["accuracy"] >= r["origin_restricted"] - 0.01]
    multi = res["multiclass"]
    multi_ok = [r for r in multi if r["retention"] <= 0.10 and r["accuracy"] >= r["origin_restricted"] - 0.01]
    multi_gaps = {"+".join(r["targets"]): _gap(r) for r in multi}
    spread = {
        r["targets"][0]: [
            _gap(w)
            for w in res["binary"]
            if w["granularity"] == "weight" and w["targets"] == r["targets"] and w["allocation"] == default
        ]
        for r in res["binary"]
        if r["seed"] != 0
    }
    alloc_means = {
        a: round(statistics.fmean(v[a] for v in alloc.values()), 2) for a in ("erk", "global") if alloc
    }
    near10 = [r for r in weight if r["retention"] <= 0.12]
    dense = res["dense_weights_bytes"]
    fractions = [round(r["weights_bytes"] / dense, 4) for r in near10]
    gaps = [_gap(r) for r in weight]
    di = res["defect_inheritance"]
    dir_met = (
        di["dir_reduction"] is not None and di["dir_reduction"] >= 0.57 and di["accuracy_cost_pp"] <= 1.0
    )

    return {
        "weight_classes_meeting_target": f"{len(ok)}/{len(weight)} (need >= 8/10) {verdict(len(ok) >= 8)}; "
        f"accuracy - restricted baseline per class (pp): {gaps}",
        "channel_classes_meeting_target": f"{len(fast)}/{len(channel)} (>= 2x at <= 1 pp on >= 2 of 3) "
        f"{verdict(len(fast) >= min(2, len(channel)) and bool(channel))}; accuracy - restricted (pp) "
        f"{[_gap(r) for r in channel]}, speed-up b64 {[r['speedup_b64'] for r in channel]}",
        "multiclass_meeting_target": f"{len(multi_ok)}/{len(multi)} (>= restricted - 1 pp at <= 10 % retention) "
        f"{verdict(bool(multi) and len(multi_ok) == len(multi))}; accuracy - restricted (pp) {multi_gaps}",
        "seed_spread_pp": f"weight granularity, accuracy - restricted (pp) at seed 0 and seed 1: {spread}",
        "allocation_pp": f"weight granularity, accuracy - restricted (pp) by allocation: {alloc}; mean {alloc_means} "
        f"(default {default})",
        "sparse_file_fraction_at_retention_le_12pct": f"{fractions} (<= 0.15) "
        f"{verdict(bool(fractions) and max(fractions) <= 0.15)}",
        "dir_reduction": f"{di['dir_reduction']} (>= 0.57 at <= 1 pp cost; cost {di['accuracy_cost_pp']} pp) "
        f"{verdict(dir_met)}",
    }


def _gap(r: dict[str, Any]) -> float:
    """Accuracy minus the restricted baseline, in percentage points."""
    return round(100 * (r["accuracy"] - r["origin_restricted"]), 2)


def previous_rows(path: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """The last committed run's rows (seed 0) by (targets, granularity), to report side by side."""
    if not path.exists():
        return {}
    old = json.loads(path.read_text())
    return {
        ("+".join(r["targets"]), r["granularity"]): r
        for r in old.get("binary", []) + old.get("multiclass", [])
        if r.get("seed", 0) == 0
    }


def markdown(res: dict[str, Any]) -> str:
    lines = [
        f"# SeaM re-engineering benchmark ({res['scale']})",
        "",
        f"Command: `{res['command']}`; wall time {res['wall_seconds']:.0f} s.",
        "",
        f"Hardware: {res['hardware']}. {res['note']}",
        "",
        *(
            [
                f"**Partial run**: binary classes {res['partial']} only, no multi-class problems, defect "
                f"inheritance over {res['config']['di_seeds']} seed(s); a verdict below covers these rows only.",
                "",
            ]
            if res.get("partial")
            else []
        ),
        "| targets | seed | gran. | retention | FLOPs | acc | origin paper | origin restr. | acc - restr. "
        "| previous: retention / acc - restr. / speed-up | weights bytes | "
        "b1 ms origin/zeroed/sub | b64 ms origin/zeroed/sub | speed-up b64 | search s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    previous = res.get("previous", {})
    for r in res["binary"] + res["multiclass"]:
        first = r["seed"] == 0 and r["allocation"] == res["config"]["allocation"]
        old = previous.get(f"{'+'.join(r['targets'])}/{r['granularity']}") if first else None
        before = f"{old['retention']:.2%} / {_gap(old):+.2f} pp / {old['speedup_b64']:.2f}x" if old else "-"
        lat = r["latency_ms"]
        b1 = "/".join(f"{lat[k]['batch_1_ms']:.2f}" for k in ("origin", "zeroed", "sub_model"))
        b64 = "/".join(f"{lat[k]['batch_64_ms']:.1f}" for k in ("origin", "zeroed", "sub_model"))
        lines.append(
            f"| {'+'.join(r['targets'])} | {r['seed']} | {r['granularity']} ({r['allocation']}) | {r['retention']:.2%} | "
            f"{r['flops_fraction']:.2%} | {r['accuracy']:.2%} | {r['origin_paper']:.2%} | "
            f"{r['origin_restricted']:.2%} | {_gap(r):+.2f} pp | {before} | "
            f"{r['weights_bytes']} | {b1} | {b64} | {r['speedup_b64']:.2f}x | {r['search_seconds']:.0f} |"
        )
    di = res["defect_inheritance"]
    origin_b64 = statistics.median(
        r["latency_ms"]["origin"]["batch_64_ms"] for r in res["binary"] + res["multiclass"]
    )
    lines += [
        "",
        f"Dense origin (BatchNorm folded, float32): {res['dense_weights_bytes']} tensor bytes. Latency: 2 torch "
        "threads on a 2-core machine that other work shared at times (a row whose origin time is far off the "
        f"median {origin_b64:.1f} ms at batch 64 was timed under load; compare within a row). Weight-granularity "
        "sub-models keep dense shapes, so they run at dense speed on stock PyTorch (pitfall P5); only channel "
        "granularity is physically smaller.",
        "",
        "## Defect inheritance (resnet20-cifar10-c0to4 -> CIFAR-10 classes 5-9)",
        "",
        "| seed | variant | test acc | DIR | retention |",
        "|---|---|---|---|---|",
        *(
            f"| {run['seed']} | {v} | {run[v]['accuracy']:.2%} | {run[v]['dir']:.2%} | {run[v]['retention']:.2%} |"
            for run in di["runs"]
            for v in ("standard", "seam")
        ),
        *(
            f"| mean | {v} | {di[v]['accuracy']:.2%} | {di[v]['dir']:.2%} (sd {di[v]['dir_sd']:.2%}) | "
            f"{di[v]['retention']:.2%} |"
            for v in ("standard", "seam")
        ),
        "",
        f"DIR reduction of the means {di['dir_reduction']} (per seed {di['dir_reduction_per_seed']}), "
        f"accuracy cost {di['accuracy_cost_pp']} pp. SeaM stops at retention 0.4 (the paper's pruned share "
        "t = 0.6); the adversarial test images are crafted once on the source model.",
        "",
        "## Targets",
        "",
        *(f"- {k}: {v}" for k, v in res["summary"].items()),
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="same as --scale quick (<= 15 min on 2 CPU cores)")
    ap.add_argument("--scale", choices=sorted(SCALES), default="full", help="run size (see SCALES)")
    ap.add_argument("--out", type=Path, default=ROOT / "results")
    ap.add_argument(
        "--classes",
        default=None,
        help="partial run: only these binary classes (comma-separated), no multi-class problems; "
        "writes reengineer-partial.{json,md} and leaves the full results alone",
    )
    ap.add_argument("--di-seeds", type=int, default=None, help="override the defect-inheritance seeds")
    args = ap.parse_args()
    torch.set_num_threads(2)
    scale = "quick" if args.quick else args.scale
    cfg = dict(SCALES[scale])
    if args.di_seeds is not None:
        cfg["di_seeds"] = args.di_seeds
    only = None if args.classes is None else [c.strip() for c in args.classes.split(",")]
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        tmpd = Path(tmp)
        origin = import_fixture("resnet20-cifar10", tmpd)
        source = import_fixture("resnet20-cifar10-c0to4", tmpd)
        meta = load_origin(origin).meta
        # the fixtures saw all 50k training images: val is carved from the test set (half/half)
        splits = load_splits(f"cifar10:{SHARED / 'data' / 'cifar10'}?val=test", meta.classes, meta.input)
        default, other = cfg["allocation"], {"erk": "global", "global": "erk"}[cfg["allocation"]]
        jobs = [([c], "weight", 0, default) for c in meta.classes]
        jobs += [([c], "weight", 1, default) for c in cfg["repeat_classes"]]  # the spread over a second seed
        jobs += [([c], "weight", 0, other) for c in cfg["allocation_classes"]]  # which allocation is better
        jobs += [([c], "channel", 0, default) for c in meta.classes[: cfg["channel_classes"]]]
        if only is None:
            jobs += [(group, "weight", 0, default) for group in (VEHICLES, ANIMALS)]
        else:
            jobs = [j for j in jobs if j[0][0] in only]
        runs = []
        for targets, gran, seed, allocation in tqdm(jobs, desc="sub-models"):
            runs.append(run_one(origin, splits, targets, gran, cfg, tmpd, seed, allocation))
            print(f"[{time.perf_counter() - t0:.0f}s] {json.dumps(runs[-1])}", file=sys.stderr, flush=True)
        binary = [r for r in runs if len(r["targets"]) == 1]
        multi = [r for r in runs if len(r["targets"]) > 1]
        di = defect_inheritance(source, splits, cfg)
        print(f"[{time.perf_counter() - t0:.0f}s] {json.dumps(di)}", file=sys.stderr, flush=True)
        dense_bytes = 4 * sum(t.numel() for t in trace_model(load_origin(origin).module).params.values())
    res: dict[str, Any] = {
        "quick": scale == "quick",
        "scale": scale,
        "config": cfg,
        "note": {
            "quick": "--quick: target-problem train/val/test capped (stratified, seeded), a few epochs, channel "
            "granularity on the first classes only, crop+flip augmentation; numbers are a smoke-scale "
            "measurement.",
            "cpu": f"--scale cpu: target-problem train sets capped at {cfg['max_train']} images (multi-class "
            f"{cfg['max_train_multi']}, defect inheritance {cfg['di_train']}; stratified, seeded), "
            f"{cfg['epochs']} search epochs (the first fits the head only; distillation weight "
            f"{cfg['search_kd']} in the search) and {cfg['fine_tune_epochs']} fine-tuning epochs with masks "
            "fixed (channel: channels chosen once by Fisher importance, then 3x the epochs on the "
            "extracted network), CE + distillation from the origin "
            "(T 4), AdamW one-cycle 2e-3, crop+flip augmentation; biases never masked; val capped at 1000 "
            f"images, channel granularity at {cfg['channel_flops']} of the FLOPs on the first "
            f"{cfg['channel_classes']} classes, {cfg['repeat_classes']} repeated with seed 1, the other "
            f"allocation on {cfg['allocation_classes']}, defect inheritance over 3 seeds: a short search "
            "sized for 2 CPU cores (SeaM runs 300 epochs).",
            "full": "full splits",
        }[scale],
        "hardware": hardware(),
        "previous": {f"{k[0]}/{k[1]}": v for k, v in previous_rows(args.out / "reengineer.json").items()},
        "dense_weights_bytes": dense_bytes,
        "binary": binary,
        "multiclass": multi,
        "defect_inheritance": di,
        "wall_seconds": round(time.perf_counter() - t0, 1),
        "command": " ".join(["bench/reengineer.py", *sys.argv[1:]]),
    }
    res["partial"] = only
    res["summary"] = summarise(res)
    args.out.mkdir(parents=True, exist_ok=True)
    name = "reengineer" if only is None else "reengineer-partial"
    (args.out / f"{name}.json").write_text(json.dumps(res, indent=1) + "\n")
    (args.out / f"{name}.md").write_text(markdown(res))
    print(markdown(res))


if __name__ == "__main__":
    main()
