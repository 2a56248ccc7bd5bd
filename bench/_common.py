"""Shared helpers of ``bench/decompose.py`` and ``bench/assemble.py`` (not part of the library).

Everything expensive is cached under ``bench/.cache/`` (git-ignored), keyed by the settings that
produced it, so running both quick benchmarks decomposes ``resnet20-cifar10`` once:

- ``origins/<fixture>/``: origin packages imported from ``/work/shared/fixtures``;
- ``modules/<fixture>/<method>-<key>/<class>/``: module packages, ``key`` hashing the method, its
  params, the seed and the validation subset; ``_bench/<class>.json`` holds the extraction time of
  the run that wrote it and ``_scores/`` the module's raw scores on a test subset;
- ``scratch/<key>.pt``: from-scratch baselines (weights and their training record).

The module packages are written with the library's own pieces (``origin_net``, the registered
extractor, ``build_manifest``, ``write_package``), i.e. what ``pipeline.decompose`` does, except that
the validation and test splits may be stratified subsets (``--quick``): the manifest's metrics then
name the number of test samples they were measured on.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nnparts.client.data import DataSplit, load_split
from nnparts.client.data.transforms import to_tensor
from nnparts.client.extract.base import ExtractSettings, TensorData, get_extractor
from nnparts.client.extract.calibrate import calibrated
from nnparts.client.extract.pipeline import origin_net, score_batches, write_modules
from nnparts.client.pack.build import slug
from nnparts.client.pack.loader import load_package
from nnparts.client.zoo.architectures import build_model
from nnparts.client.zoo.evaluation import align_classes
from nnparts.client.zoo.origin import OriginModel, import_model, load_origin, tool_version
from nnparts.client.zoo.training import Augment, train_classifier
from nnparts.schemas.manifest import InputSpec
from nnparts.schemas.package import read_manifest

BENCH = Path(__file__).resolve().parent
CACHE = BENCH / ".cache"
RESULTS = BENCH / "results"
SHARED = BENCH.parent.parent / "shared"
FIXTURES = SHARED / "fixtures"
# the fixtures were trained on the whole official train sets, so val is carved from the test sets
# (``?val=test``: val and test are the two stratified halves); selection never sees a training image
CIFAR = f"cifar10:{SHARED / 'data' / 'cifar10'}?val=test"
FMNIST = f"fashion-mnist:{SHARED / 'data' / 'fashion-mnist'}?val=test"
CIFAR_MIXED = ("airplane", "automobile", "ship", "truck")
FMNIST_MIXED = ("sneaker", "bag", "trouser", "sandal")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def pick_device(arg: str) -> str:
    if arg == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return arg


def hardware(device: str) -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {
        "cpu": cpu,
        "cpu_cores_visible": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": device,
        "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
    }
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def key_of(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:12]


# -- origins and data -----------------------------------------------------------------------------


def fixture_json(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return doc


def import_fixture(name: str) -> Path:
    """The origin package of fixture ``name`` (imported once into the cache)."""
    out = CACHE / "origins" / name
    if (out / "model.json").exists():
        return out
    depth = int(fixture_json(name)["architecture"]["depth"])
    fx = FIXTURES
    import_model(
        f"cifar_resnet{depth}", [fx / f"{name}.safetensors"], out_dir=out, meta_json=fx / f"{name}.json"
    )
    return out


def stratified(y: np.ndarray | torch.Tensor, per_class: int | None, seed: int = 0) -> np.ndarray:
    """Indices of at most ``per_class`` samples of every label (seeded), in ascending order."""
    labels = y.numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
    if per_class is None:
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    picks = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        picks.append(np.sort(rng.permutation(idx)[:per_class]))
    return np.sort(np.concatenate(picks))


_SPLITS: dict[tuple[str, str], DataSplit] = {}


def split_of(data_spec: str, split: str) -> DataSplit:
    if (data_spec, split) not in _SPLITS:
        _SPLITS[(data_spec, split)] = load_split(data_spec, split)
    return _SPLITS[(data_spec, split)]


def subset_split(split: DataSplit, per_class: int | None, seed: int = 0) -> DataSplit:
    if per_class is None:
        return split
    idx = stratified(split.y, per_class, seed)
    return DataSplit(
        split.name, split.split, split.x[idx].copy(), split.y[idx].copy(), split.classes, split.spec
    )


def tensors_of(split: DataSplit, classes: Sequence[str], spec: InputSpec) -> TensorData:
    aligned = align_classes(split, classes)
    return TensorData(to_tensor(aligned.x, spec), torch.from_numpy(aligned.y.copy()).long())


@dataclass
class DataPlan:
    """Which samples a run uses: ``None`` = the whole split."""

    val_per_class: int | None
    test_per_class: int | None
    seed: int = 0

    def describe(self) -> dict[str, Any]:
        return {"val_per_class": self.val_per_class, "test_per_class": self.test_per_class, "seed": self.seed}


# -- decomposition with caching -------------------------------------------------------------------


@dataclass
class ModuleSet:
    """Module packages of one origin and method, and what producing them cost."""

    origin: str
    method: str
    params: dict[str, Any]
    paths: dict[str, Path]
    extract_seconds: float  # wall time of extraction (all classes, as measured when they were written)
    write_seconds: float  # metrics on the test subset + packaging (not counted as decomposition)
    cached: bool
    dir: Path
    test_key: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class Decomposer:
    """Decomposes origins once per settings; keeps loaded splits and origin test logits in memory."""

    def __init__(self, plan: DataPlan, device: str, batch_size: int = 256) -> None:
        self.plan = plan
        self.device = device
        self.batch_size = batch_size
        self._origins: dict[str, OriginModel] = {}
        self._data: dict[tuple[str, str], dict[str, TensorData]] = {}
        self._logits: dict[tuple[str, str], torch.Tensor] = {}

    def origin(self, fixture: str) -> OriginModel:
        if fixture not in self._origins:
            self._origins[fixture] = load_origin(import_fixture(fixture))
        return self._origins[fixture]

    def data(self, fixture: str, data_spec: str) -> dict[str, TensorData]:
        """train (whole), val and test (stratified subsets) in the origin's class order."""
        meta = self.origin(fixture).meta
        key = (data_spec, repr((meta.classes, meta.input)))
        if key not in self._data:
            out = {}
            for split, per in (
                ("train", None),
                ("val", self.plan.val_per_class),
                ("test", self.plan.test_per_class),
            ):
                raw = subset_split(
                    align_classes(split_of(data_spec, split), meta.classes), per, self.plan.seed
                )
                out[split] = tensors_of(raw, meta.classes, meta.input)
            self._data[key] = out
        return self._data[key]

    def origin_test_logits(self, fixture: str, data_spec: str) -> torch.Tensor:
        key = (fixture, data_spec)
        if key not in self._logits:
            net = origin_net(self.origin(fixture)).net.to(self.device)
            self._logits[key] = score_batches(
                net, self.data(fixture, data_spec)["test"], self.batch_size, self.device
            )
            net.cpu()
        return self._logits[key]

    def test_key(self, fixture: str) -> str:
        return key_of({"fixture": fixture, **self.plan.describe(), "what": "test"})

    def modules(
        self,
        fixture: str,
        data_spec: str,
        method: str,
        params: dict[str, Any],
        classes: Sequence[str] | None = None,
        *,
        seed: int = 0,
    ) -> ModuleSet:
        origin = self.origin(fixture)
        names = list(classes or origin.meta.classes)
        settings_key = key_of(
            {
                "origin": origin.weights_sha256,
                "method": method,
                "data": data_spec,
                "params": params,
                # the extractor's own defaults too: a changed default must not reuse stale modules
                "defaults": getattr(sys.modules[type(get_extractor(method)).__module__], "DEFAULTS", None),
                "seed": seed,
                "val_per_class": self.plan.val_per_class,
                "data_seed": self.plan.seed,
                "tool": tool_version(),
            }
        )
        folder = CACHE / "modules" / fixture / f"{method}-{settings_key}"
        missing = [c for c in names if not (folder / slug(c) / "manifest.json").exists()]
        if missing and method == "trunk":
            missing = names  # tails are trained jointly over one trunk: all classes at once
        extract_s = write_s = 0.0
        if missing:
            log(f"decompose {fixture} --method {method}: {len(missing)} class(es) {params}")
            splits = self.data(fixture, data_spec)
            net = origin_net(origin)
            settings = ExtractSettings(
                device=self.device, batch_size=self.batch_size, seed=seed, progress=True, params=dict(params)
            )
            wanted = [origin.meta.classes.index(c) for c in missing]
            t0 = time.perf_counter()
            extracted = get_extractor(method).extract(net, wanted, splits["train"], splits["val"], settings)
            extract_s = time.perf_counter() - t0
            logits = self.origin_test_logits(fixture, data_spec)
            t1 = time.perf_counter()
            write_modules(
                extracted, net, origin.meta, splits["test"], logits, folder, settings=settings, overwrite=True
            )
            (folder / "_bench").mkdir(parents=True, exist_ok=True)
            for name in missing:
                side = {
                    "extract_seconds_call": extract_s,
                    "classes_in_call": len(missing),
                    "device": self.device,
                }
                (folder / "_bench" / f"{slug(name)}.json").write_text(json.dumps(side))
            write_s = time.perf_counter() - t1
            log(f"  extracted in {extract_s:.1f}s, measured+written in {write_s:.1f}s")
        total = 0.0
        for c in names:
            side = json.loads((folder / "_bench" / f"{slug(c)}.json").read_text())
            total += float(side["extract_seconds_call"]) / int(side["classes_in_call"])
        return ModuleSet(
            fixture,
            method,
            dict(params),
            {c: folder / slug(c) for c in names},
            total,
            write_s,
            not missing,
            folder,
            self.test_key(fixture),
        )

    @staticmethod
    def _save_scores(folder: Path, name: str, test_key: str, scores: torch.Tensor) -> None:
        (folder / "_scores").mkdir(parents=True, exist_ok=True)
        torch.save(scores.cpu(), folder / "_scores" / f"{slug(name)}-{test_key}.pt")

    def module_scores(
        self, ms: ModuleSet, data_spec: str, classes: Sequence[str] | None = None
    ) -> torch.Tensor:
        """(N, K) calibrated log-odds of the modules of ``ms`` (all, or ``classes`` in that order) on
        the origin's test subset."""
        cols = []
        for name in ms.paths if classes is None else classes:
            path = ms.paths[name]
            cache = ms.dir / "_scores" / f"{slug(name)}-{ms.test_key}.pt"
            if cache.exists():
                raw = torch.load(cache)
            else:
                net = load_package(path).network().to(self.device)
                raw = score_batches(
                    net, self.data(ms.origin, data_spec)["test"], self.batch_size, self.device
                )
                raw = raw.view(-1)
                self._save_scores(ms.dir, name, ms.test_key, raw)
            cols.append(calibrated(raw.view(-1), read_manifest(path).calibration))
        return torch.stack(cols, 1)


def compose(scores: torch.Tensor, rule: str = "argmax") -> torch.Tensor:
    """Composed prediction from calibrated log-odds (N, K), as ``AssembledModel.decide`` does."""
    best = scores.argmax(1)
    if rule == "vote":
        positive = scores > 0
        unique = positive.sum(1) == 1
        best = torch.where(unique, positive.float().argmax(1), best)
    return best


def module_size(path: Path) -> dict[str, Any]:
    """Params and FLOPs of running the module alone (a tail: with its trunk) and its file bytes:
    ``file_bytes`` counts its trunk's files too, ``own_bytes`` only its own."""
    m = read_manifest(path)
    trunk_bytes = m.trunk.bytes or 0 if m.trunk is not None else 0
    return {
        "params": m.mask.params_after,
        "params_origin": m.mask.params_before,
        "flops": m.mask.flops_after,
        "flops_origin": m.mask.flops_before,
        "file_bytes": m.total_bytes + trunk_bytes,
        "own_bytes": m.total_bytes,
        "trunk_bytes": trunk_bytes,
        "cost": m.metrics.get("cost", {}),
    }


def package_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


# -- from-scratch baselines -----------------------------------------------------------------------


@dataclass
class ScratchSpec:
    name: str
    classes: tuple[str, ...]
    epochs: int
    train_per_class: int | None
    val_per_class: int | None
    lr: float = 0.1
    batch_size: int = 128
    seed: int = 0

    def describe(self) -> dict[str, Any]:
        return {
            "classes": list(self.classes),
            "epochs": self.epochs,
            "train_per_class": self.train_per_class,
            "val_per_class": self.val_per_class,
            "lr": self.lr,
            "batch_size": self.batch_size,
            "seed": self.seed,
            "recipe": "train_classifier: SGD nesterov, one-cycle, wd 5e-4, crop pad 4 (+hflip), best-on-val epoch",
        }


def train_scratch(
    spec: ScratchSpec,
    train: DataSplit,
    val: DataSplit,
    input_spec: InputSpec,
    device: str,
    *,
    hflip: bool = True,
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """A CIFAR ResNet-20 trained from scratch on ``train`` (cached by settings)."""
    content = hashlib.sha256(np.ascontiguousarray(train.x[:: max(1, len(train) // 256)]).tobytes())
    content.update(np.ascontiguousarray(train.y).tobytes())
    key = key_of(
        {
            **spec.describe(),
            "name": spec.name,
            "input": str(input_spec),
            "hflip": hflip,
            "n": len(train),
            "data": content.hexdigest(),
        }
    )
    path = CACHE / "scratch" / f"{spec.name}-{key}.pt"
    torch.manual_seed(spec.seed)  # the initial weights too (torch seeds itself randomly per process)
    model = build_model(
        "cifar_resnet20", {"num_classes": len(spec.classes), "in_channels": input_spec.channels}
    )
    if path.exists():
        saved = torch.load(path)
        model.load_state_dict(saved["state"])
        info = dict(saved["info"], cached=True)
        return model.eval(), info
    log(f"train from scratch: {spec.name} ({len(train)} train images, {spec.epochs} epochs)")
    result = train_classifier(
        model,
        train,
        val,
        input_spec,
        epochs=spec.epochs,
        lr=spec.lr,
        batch_size=spec.batch_size,
        device=device,
        seed=spec.seed,
        augment=Augment(pad=4, hflip=hflip),
        progress=True,
    )
    info = {
        **spec.describe(),
        "train_samples": len(train),
        "val_samples": len(val),
        "best_epoch": result.best_epoch,
        "best_val_top1": round(result.best_val_top1, 4),
        "train_seconds": round(result.seconds, 1),
        "device": device,
        "cached": False,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    model.cpu()
    torch.save({"state": model.state_dict(), "info": info}, path)
    return model.eval(), info


def predict_model(
    model: torch.nn.Module, x: np.ndarray, spec: InputSpec, device: str, batch: int = 256
) -> np.ndarray:
    model = model.to(device).eval()
    out = []
    with torch.no_grad():
        for s in range(0, len(x), batch):
            out.append(model(to_tensor(x[s : s + batch], spec, device=device)).argmax(1).cpu())
    model.cpu()
    return torch.cat(out).numpy()


# -- the mixed CIFAR-10 + Fashion-MNIST task ------------------------------------------------------


def as_cifar_images(x: np.ndarray, spec: InputSpec) -> np.ndarray:
    """uint8 NHWC images resized/replicated to the CIFAR geometry (as the assembly feeds them)."""
    raw = InputSpec(spec.channels, spec.height, spec.width, (0.0,) * spec.channels, (1.0,) * spec.channels)
    t = to_tensor(x, raw).mul(255.0).round().clamp(0, 255).to(torch.uint8)
    return t.permute(0, 2, 3, 1).contiguous().numpy()


def mixed_split(split: str, per_class: int | None, cifar_spec: InputSpec, seed: int = 0) -> DataSplit:
    """CIFAR {airplane, automobile, ship, truck} + Fashion-MNIST {sneaker, bag, trouser, sandal} as one
    8-class split of 32x32 RGB images (Fashion-MNIST resized and replicated to 3 channels)."""
    c = subset_split(split_of(CIFAR, split).select_classes(CIFAR_MIXED), per_class, seed)
    f = subset_split(split_of(FMNIST, split).select_classes(FMNIST_MIXED), per_class, seed)
    x = np.concatenate([c.x, as_cifar_images(f.x, cifar_spec)])
    y = np.concatenate([c.y, f.y + len(CIFAR_MIXED)]).astype(np.int64)
    return DataSplit("mixed", c.split, x, y, CIFAR_MIXED + FMNIST_MIXED)


def mixed_parts(split: str, per_class: int | None, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """The same samples as :func:`mixed_split`, each data set as its own raw images (8-class labels)."""
    c = subset_split(split_of(CIFAR, split).select_classes(CIFAR_MIXED), per_class, seed)
    f = subset_split(split_of(FMNIST, split).select_classes(FMNIST_MIXED), per_class, seed)
    return [(c.x, c.y.copy()), (f.x, f.y + len(CIFAR_MIXED))]


# -- timing and reporting -------------------------------------------------------------------------


def median_latency(fn: Callable[[], object], *, warmup: int = 2, runs: int = 10) -> dict[str, float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return {
        "median_ms": round(statistics.median(times) * 1000, 2),
        "min_ms": round(min(times) * 1000, 2),
        "runs": runs,
        "warmup": warmup,
    }


def pct(v: float) -> str:
    return f"{100 * v:.2f} %"


def md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "| " + " | ".join("---" for _ in headers) + " |"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def paired_ci95_pp(before_correct: torch.Tensor, after_correct: torch.Tensor) -> float:
    """Half-width (pp) of the 95 % normal interval of ``mean(before) - mean(after)`` on the same images.

    The per-image difference of two correctness vectors is paired, so the interval reflects only the
    images on which the two classifiers disagree (how far the test set's size lets a gap be resolved).
    """
    d = before_correct.float() - after_correct.float()
    if len(d) < 2:
        return float("nan")
    return round(100 * 1.96 * float(d.std()) / float(np.sqrt(len(d))), 2)


def verdict(met: bool) -> str:
    return "**met**" if met else "**missed**"


def targets_section(doc: dict[str, Any], quick_note: str) -> list[str]:
    """The report's "## Targets" table, and ``quick_note`` under it in quick mode."""
    lines = [
        "## Targets",
        "",
        md_table(
            ["target", "measured", "verdict"],
            [[t["target"], t["measured"], verdict(t["met"])] for t in doc["targets"]],
        ),
    ]
    if doc["mode"] == "quick":
        lines += ["", quick_note]
    return lines


def write_results(name: str, doc: dict[str, Any], markdown: str, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(doc, indent=1, default=str) + "\n")
    (out / f"{name}.md").write_text(markdown + "\n")
    print(markdown)
    log(f"wrote {out / f'{name}.json'} and {out / f'{name}.md'}")


# -- the mixed 8-way task through the library's assembly ------------------------------------------


def predict_assembled(model: torch.nn.Module, x: np.ndarray, batch: int = 256) -> np.ndarray:
    out = []
    with torch.no_grad():
        for s in range(0, len(x), batch):
            out.append(model.predict(torch.from_numpy(np.array(x[s : s + batch]))).cpu())  # type: ignore[operator]
    return torch.cat(out).numpy()


def assembled_scores(model: torch.nn.Module, x: np.ndarray, batch: int = 256) -> torch.Tensor:
    out = []
    with torch.no_grad():
        for s in range(0, len(x), batch):
            out.append(model.scores(torch.from_numpy(np.ascontiguousarray(x[s : s + batch]))).cpu())  # type: ignore[operator]
    return torch.cat(out)


def mixed_eval(
    dec: Decomposer,
    channel_params: dict[str, Any],
    scratch: ScratchSpec,
    work: Path,
    device: str,
    method: str = "channel",
    fm_params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """CIFAR-10 {airplane, automobile, ship, truck} + Fashion-MNIST {sneaker, bag, trouser, sandal}:
    8-way accuracy of the assembled modules (zero-shot, and with the few-shot stitching head fitted
    on validation data) vs a CIFAR ResNet-20 trained from scratch on those 8 classes."""
    from nnparts.client.assemble import assemble_paths, load_assembly, write_assembly
    from nnparts.client.assemble.build import parts_from_paths
    from nnparts.client.assemble.runtime import fit_stitch

    cifar = dec.modules("resnet20-cifar10", CIFAR, method, channel_params)
    fm = dec.modules("resnet20-fashionmnist", FMNIST, method, fm_params or channel_params, FMNIST_MIXED)
    paths = [cifar.paths[c] for c in CIFAR_MIXED] + [fm.paths[c] for c in FMNIST_MIXED]
    classes = list(CIFAR_MIXED + FMNIST_MIXED)
    zero = assemble_paths(paths, work / "mixed-zero", requested=classes, overwrite=True)
    model = load_assembly(zero).model()
    test = mixed_parts("test", dec.plan.test_per_class, dec.plan.seed)
    val = mixed_parts("val", scratch.val_per_class, dec.plan.seed)
    log("mixed task: zero-shot assembly")
    y_test = np.concatenate([y for _, y in test])
    pred_zero = np.concatenate([predict_assembled(model, x) for x, _ in test])
    log("mixed task: fitting the stitching head on validation scores")
    val_scores = torch.cat([assembled_scores(model, x) for x, _ in val])
    stitch = fit_stitch(
        val_scores, torch.from_numpy(np.concatenate([y for _, y in val])), data=(CIFAR, FMNIST)
    )
    specs, order = parts_from_paths(paths, classes)
    write_assembly(work / "mixed-stitched", specs, order, stitch=stitch, overwrite=True)
    stitched = load_assembly(work / "mixed-stitched").model()
    pred_st = np.concatenate([predict_assembled(stitched, x) for x, _ in test])
    cifar_spec = dec.origin("resnet20-cifar10").meta.input
    train = mixed_split("train", scratch.train_per_class, cifar_spec, scratch.seed)
    val_split = mixed_split("val", scratch.val_per_class, cifar_spec, scratch.seed)
    model_s, info = train_scratch(scratch, train, val_split, cifar_spec, device, hflip=True)
    test_split = mixed_split("test", dec.plan.test_per_class, cifar_spec, dec.plan.seed)
    assert np.array_equal(test_split.y, y_test)
    pred_scratch = predict_model(model_s, test_split.x, cifar_spec, device)

    def per_ds(pred: np.ndarray) -> dict[str, float]:
        n_c = len(test[0][1])
        return {
            "cifar10": round(float((pred[:n_c] == y_test[:n_c]).mean()), 4),
            "fashion-mnist": round(float((pred[n_c:] == y_test[n_c:]).mean()), 4),
        }

    return {
        "classes": classes,
        "test_samples": len(y_test),
        "val_samples_for_stitching": len(val_scores),
        "zero_shot": round(float((pred_zero == y_test).mean()), 4),
        "zero_shot_by_dataset": per_ds(pred_zero),
        "stitched": round(float((pred_st == y_test).mean()), 4),
        "stitched_by_dataset": per_ds(pred_st),
        "scratch": round(float((pred_scratch == y_test).mean()), 4),
        "scratch_by_dataset": per_ds(pred_scratch),
        "scratch_training": info,
        "module_params_total": sum(module_size(p)["params"] for p in paths),
        "fashion_mnist_decompose_seconds": round(fm.extract_seconds, 1),
        "fashion_mnist_modules_cached": fm.cached,
    }


@dataclass
class Session:
    """What every decomposition-based benchmark starts with: options, settings, a Decomposer and
    the results document's header."""

    cfg: dict[str, Any]
    device: str
    dec: Decomposer
    doc: dict[str, Any]
    out: Path
    start: float


def start_session(
    name: str,
    description: str | None,
    quick: dict[str, Any],
    full: dict[str, Any],
    targets: dict[str, Any],
    cpu: dict[str, Any] | None = None,
) -> Session:
    """Parse ``--scale/--quick/--device/--out/--threads`` and build the session of benchmark ``name``.

    ``--scale quick`` (or ``--quick``) is a smoke run, ``--scale cpu`` decides the targets on 2 CPU
    cores, ``--scale full`` (the default) is meant for a GPU.
    """
    import argparse

    ap = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="the same as --scale quick")
    ap.add_argument(
        "--scale",
        choices=["quick", "cpu", "full"] if cpu is not None else ["quick", "full"],
        default="full",
        help="quick: smoke run; cpu: every target decided on 2 CPU cores; full: GPU settings",
    )
    ap.add_argument(
        "--device", default="cpu", help="cpu, cuda or auto for decomposition/training (default cpu)"
    )
    ap.add_argument("--out", type=Path, default=RESULTS, help="results folder (default bench/results)")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    scale = "quick" if args.quick else args.scale
    cfg = {"quick": quick, "cpu": cpu, "full": full}[scale]
    assert cfg is not None
    doc: dict[str, Any] = {
        "benchmark": name,
        "command": " ".join([".venv/bin/python", *sys.argv]),
        "mode": scale,
        "hardware": hardware(device),
        "settings": cfg,
        "targets_spec": targets,
    }
    dec = Decomposer(DataPlan(cfg["val_per_class"], cfg["test_per_class"]), device)
    return Session(cfg, device, dec, doc, args.out, time.perf_counter())


def mixed_table(result: dict[str, Any]) -> str:
    """The CIFAR-10 + Fashion-MNIST 8-way table of :func:`mixed_eval`'s result."""
    return md_table(
        ["", "8-way top-1", "CIFAR part", "F-MNIST part", "vs scratch pp"],
        [
            [
                k,
                pct(result[k]),
                pct(result[f"{k}_by_dataset"]["cifar10"]),
                pct(result[f"{k}_by_dataset"]["fashion-mnist"]),
                round(100 * (result[k] - result["scratch"]), 2),
            ]
            for k in ("zero_shot", "stitched", "scratch")
        ],
    )


def mixed_targets(result: dict[str, Any], label: str, min_pp: float) -> list[dict[str, Any]]:
    """Target rows: zero-shot and stitched 8-way accuracy at least ``min_pp`` from scratch."""
    rows = []
    for k in ("zero_shot", "stitched"):
        diff = 100 * (result[k] - result["scratch"])
        rows.append(
            {
                "target": f"{label} ({k})",
                "measured": f"{diff:+.2f} pp ({pct(result[k])} vs {pct(result['scratch'])})",
                "met": diff >= min_pp,
            }
        )
    return rows


def mixed_scratch(cfg: dict[str, Any]) -> ScratchSpec:
    """The from-scratch baseline of the mixed CIFAR-10 + Fashion-MNIST 8-class task."""
    return ScratchSpec(
        "mixed8",
        CIFAR_MIXED + FMNIST_MIXED,
        int(cfg["mixed_epochs"]),
        cfg["mixed_train_per_class"],
        cfg["mixed_val_per_class"],
    )
