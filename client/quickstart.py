"""The quickstart: the whole nnparts loop on scikit-learn's bundled digits, in a few minutes on a CPU.

1. train two small CNNs, one on digits 0-4 and one on 5-9 (validation-selected);
2. decompose both into one structured module per digit;
3. publish the ten modules to a registry (the embedded local one by default);
4. install all ten digits back *by class name* (resolver + lockfile);
5. assemble a 0-9 classifier from the lock and evaluate it on the test split, zero-shot and with a
   few-shot stitching head fitted on the validation split;
6. train a 0-9 model from scratch for comparison.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from nnparts.client.assemble.build import assemble_paths, evaluate_assembly
from nnparts.client.assemble.package import load_assembly
from nnparts.client.data import load_split
from nnparts.client.extract.base import ExtractSettings
from nnparts.client.extract.pipeline import decompose
from nnparts.client.resolve.installer import install
from nnparts.client.zoo.architectures import build_model
from nnparts.client.zoo.evaluation import evaluate
from nnparts.client.zoo.meta import Accuracy
from nnparts.client.zoo.origin import save_origin
from nnparts.client.zoo.training import train_classifier
from nnparts.index.base import IndexBackend
from nnparts.schemas.integrity import atomic_write_bytes, pretty_json, sha256_bytes
from nnparts.schemas.manifest import InputSpec, ModuleManifest, Requirement
from nnparts.schemas.package import MANIFEST_NAME, read_manifest
from nnparts.schemas.version import version_key

DIGITS = InputSpec(1, 8, 8, (0.3,), (0.4,))
#: a 24 k-parameter CNN on 8x8 images has little to cut: milder goals than the ResNet defaults, and
#: crops without flips (a flipped digit is another digit)
DIGITS_DECOMPOSITION = {"trunk_goal": 0.6, "tail_goal": 0.3, "augment": "crop"}
GROUPS = {"digits-0to4": ("0", "1", "2", "3", "4"), "digits-5to9": ("5", "6", "7", "8", "9")}


@dataclass
class QuickstartReport:
    origins: dict[str, float] = field(default_factory=dict)
    modules: dict[str, dict[str, Any]] = field(default_factory=dict)
    assembled: dict[str, Any] = field(default_factory=dict)
    stitched: dict[str, Any] = field(default_factory=dict)
    scratch: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    lock: Path | None = None
    assembly: Path | None = None


def _train(
    classes: tuple[str, ...], seed: int, epochs: int, device: str, progress: bool
) -> tuple[torch.nn.Module, float]:
    train = load_split("digits", "train").select_classes(classes)
    val = load_split("digits", "val").select_classes(classes)
    test = load_split("digits", "test").select_classes(classes)
    torch.manual_seed(seed)  # the initial weights too: this torch seeds itself randomly per process
    model = build_model("digits_cnn", {"num_classes": len(classes), "in_channels": 1})
    train_classifier(
        model,
        train,
        val,
        DIGITS,
        epochs=epochs,
        lr=0.05,
        batch_size=64,
        device=device,
        seed=seed,
        progress=progress,
    )
    return model.cpu(), evaluate(model.cpu(), test, DIGITS).top1


def _at_version(manifest: ModuleManifest, version: str, trunk: Requirement | None) -> bytes:
    changes: dict[str, Any] = {"version": version}
    if trunk is not None:
        changes["requires"] = (trunk,)
    doc = manifest.with_changes(**changes).to_dict()
    ModuleManifest.from_dict(doc)  # still valid
    return pretty_json(doc)


def publish_next_free(registry: IndexBackend, packages: Sequence[Path]) -> None:
    """Publish one decomposition (its trunk first, if any); if an ``id@version`` is taken by other
    bytes (modules of an earlier nnparts, or other settings), publish all of them as the next patch
    version free for every one, with the tails' trunk pins rewritten to match: published versions
    are immutable, and the quickstart must run again after an upgrade."""
    manifests = [read_manifest(p) for p in packages]
    order = sorted(range(len(packages)), key=lambda i: manifests[i].kind != "trunk")
    ids = {m.id for m in manifests}
    taken: dict[tuple[str, str], str] = {
        (e.id, e.version): e.manifest_sha256 for e in registry.list(include_yanked=True) if e.id in ids
    }
    major, minor, patch = version_key(manifests[0].version)[0][:3]
    while True:
        version = f"{major}.{minor}.{patch}"
        docs: dict[int, bytes] = {}
        trunk: Requirement | None = None
        for i in order:
            m = manifests[i]
            docs[i] = _at_version(m, version, trunk if m.trunk is not None else None)
            if m.kind == "trunk":
                trunk = Requirement(m.id, version, sha256_bytes(docs[i]), "trunk", m.total_bytes)
        if all(
            taken.get((manifests[i].id, version), sha256_bytes(d)) == sha256_bytes(d) for i, d in docs.items()
        ):
            break
        patch += 1
    for i in order:
        manifest_file = packages[i] / MANIFEST_NAME
        if manifest_file.read_bytes() != docs[i]:
            atomic_write_bytes(manifest_file, docs[i])
        registry.publish(packages[i])


def run_quickstart(
    workdir: Path,
    registry: IndexBackend,
    *,
    cache: Path | None = None,
    device: str = "cpu",
    epochs: int = 30,
    tune_epochs: float = 3.0,
    progress: bool = True,
    log: Any = print,
) -> QuickstartReport:
    """Run the quickstart under ``workdir``, publishing to ``registry`` and installing into the
    install cache ``cache`` (default: ``$NNPARTS_HOME/installed``); on the CPU with one torch thread
    (tiny networks: one thread beats threads that contend), restored afterwards."""
    threads = torch.get_num_threads()
    if device == "cpu":
        torch.set_num_threads(1)
    try:
        return _run(workdir, registry, cache, device, epochs, tune_epochs, progress, log)
    finally:
        torch.set_num_threads(threads)


def _run(
    workdir: Path,
    registry: IndexBackend,
    cache: Path | None,
    device: str,
    epochs: int,
    tune_epochs: float,
    progress: bool,
    log: Any,
) -> QuickstartReport:
    report = QuickstartReport()
    t0 = time.perf_counter()
    settings = ExtractSettings(
        device=device,
        batch_size=256,
        progress=progress,
        params=DIGITS_DECOMPOSITION | {"tail_epochs": tune_epochs, "trunk_epochs": tune_epochs / 3},
    )
    for seed, (name, classes) in enumerate(GROUPS.items()):
        log(f"[1/5] training origin {name} on digits {', '.join(classes)}")
        model, acc = _train(classes, seed, epochs, device, progress)
        report.origins[name] = acc
        origin_dir = workdir / "origins" / name
        save_origin(
            model,
            origin_dir,
            name=name,
            architecture="digits_cnn",
            arch_kwargs={"num_classes": len(classes), "in_channels": 1},
            classes=classes,
            dataset="digits",
            input_spec=DIGITS,
            accuracy=Accuracy("test", acc),
            license="CC-BY-4.0",
            overwrite=True,
        )
        report.timings[f"train {name}"] = time.perf_counter() - t0
        log(f"[2/5] decomposing {name} into {len(classes)} channel modules")
        t1 = time.perf_counter()
        written = decompose(
            origin_dir, "digits", workdir / "modules" / name, settings=settings, overwrite=True
        )
        report.timings[f"decompose {name}"] = time.perf_counter() - t1
        log(f"[3/5] publishing {len(written)} packages to {registry.url}")
        publish_next_free(registry, [w.path for w in written])
        for w in written:
            m = w.manifest
            if m.kind == "trunk":
                continue
            report.modules[m.classes[0].name] = {
                "origin": name,
                "binary_accuracy": m.metrics["overall"]["accuracy"],
                "recall": m.metrics["overall"]["recall"],
                "flops": (m.mask.flops_after or 0) / max(m.mask.flops_before or 1, 1),
                "bytes": m.total_bytes,
            }
    wanted = [c for group in GROUPS.values() for c in group]
    log(f"[4/5] installing digits {' '.join(wanted)} by class name")
    lock = workdir / "nnparts.lock"
    installed = install(wanted, [registry], lock_path=lock, root=cache)
    log("[5/5] assembling a 0-9 classifier from the lock (zero-shot, then with a few-shot stitching head)")
    paths, requested = installed.module_paths(), installed.lock.requested
    assembly_dir = assemble_paths(
        paths, workdir / "assembled-digits", requested=requested, name="digits-0to9", overwrite=True
    )
    report.assembled = evaluate_assembly(load_assembly(assembly_dir), ["digits"])
    stitched_dir = assemble_paths(
        paths,
        workdir / "assembled-digits-stitched",
        requested=requested,
        name="digits-0to9",
        calibrate=["digits"],
        overwrite=True,
    )
    report.stitched = evaluate_assembly(load_assembly(stitched_dir), ["digits"])
    report.lock, report.assembly = lock, stitched_dir
    log("comparison: training a 0-9 model from scratch")
    _, report.scratch = _train(tuple(wanted), 7, epochs, device, progress)
    report.timings["total"] = time.perf_counter() - t0
    return report


def format_report(r: QuickstartReport) -> str:
    lines = ["", "origin models (test top-1 on their own 5 digits)"]
    lines += [f"  {name:<14} {acc:7.2%}" for name, acc in r.origins.items()]
    lines += [
        "",
        "modules (test, one-vs-rest within their origin's digits)",
        f"  {'class':<6} {'origin':<14} {'binary acc':>10} {'recall':>8} {'FLOPs':>7} {'bytes':>8}",
    ]
    for cls in sorted(r.modules):
        m = r.modules[cls]
        lines.append(
            f"  {cls:<6} {m['origin']:<14} {m['binary_accuracy']:10.2%} {m['recall']:8.2%} {m['flops']:7.1%} {m['bytes']:8d}"
        )
    zero, few = r.assembled["overall"]["accuracy"], r.stitched["overall"]["accuracy"]
    n = r.assembled["samples"]
    lines += [
        "",
        f"assembled 0-9 classifier from 2 origins, test ({n} images):",
        f"  zero-shot (calibrated module scores, argmax):          {zero:7.2%}",
        f"  few-shot (+ 10x10 stitching head fitted on val):       {few:7.2%}",
        f"model trained from scratch on 0-9, test:                 {r.scratch:7.2%}",
        f"  difference, few-shot assembly vs scratch: {100 * (few - r.scratch):+.2f} pp",
        "",
        f"lockfile: {r.lock}",
        f"assembled package: {r.assembly}",
        f"total time: {r.timings['total']:.0f} s",
    ]
    return "\n".join(lines)
