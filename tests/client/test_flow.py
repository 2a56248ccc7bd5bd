"""The user's flow end to end on small real data: train, decompose (both methods), publish to two
registries (a local folder and a running ``nnparts serve``), install by class name, freeze, assemble
modules of two data sets with different input specs, evaluate, replace, predict."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from hub_server import HubServer
from PIL import Image

from nnparts.client.assemble import (
    assemble_from_lock,
    assemble_paths,
    load_assembly,
    with_part_replaced,
    write_assembly,
)
from nnparts.client.assemble.build import evaluate_assembly
from nnparts.client.cli import main
from nnparts.client.data import load_split
from nnparts.client.extract.base import ExtractSettings
from nnparts.client.extract.pipeline import decompose
from nnparts.client.pack import load_package
from nnparts.client.resolve import install, install_frozen, read_lockfile
from nnparts.client.resolve.publish import publish_package
from nnparts.client.zoo.architectures import build_model
from nnparts.client.zoo.evaluation import evaluate
from nnparts.client.zoo.meta import Accuracy
from nnparts.client.zoo.origin import save_origin
from nnparts.client.zoo.training import train_classifier
from nnparts.index import DirectoryIndex, open_index
from nnparts.schemas.manifest import InputSpec
from nnparts.schemas.package import manifest_sha256

DIGITS = InputSpec(1, 8, 8, (0.3,), (0.4,))
COLORS = InputSpec(3, 12, 12, (0.5, 0.5, 0.5), (0.3, 0.3, 0.3))
FAST = ExtractSettings(progress=False, params={"tail_epochs": 1.0, "trunk_epochs": 0.5, "augment": "crop"})


def _origin(tmp: Path, name: str, spec: str, classes: tuple[str, ...], input_spec: InputSpec) -> Path:
    train = load_split(spec, "train").select_classes(classes)
    val = load_split(spec, "val").select_classes(classes)
    model = build_model("digits_cnn", {"num_classes": len(classes), "in_channels": input_spec.channels})
    train_classifier(model, train, val, input_spec, epochs=6, lr=0.05, batch_size=64, progress=False)
    acc = evaluate(model, load_split(spec, "test").select_classes(classes), input_spec).top1
    out = tmp / "origins" / name
    save_origin(
        model,
        out,
        name=name,
        architecture="digits_cnn",
        arch_kwargs={"num_classes": len(classes), "in_channels": input_spec.channels},
        classes=classes,
        dataset=spec.split(":")[0],
        input_spec=input_spec,
        accuracy=Accuracy("test", acc),
        license="MIT",
    )
    return out


def _color_folder(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for split, n in (("train", 40), ("test", 12)):
        for k, color in enumerate(("red", "green", "blue")):
            folder = root / split / color
            folder.mkdir(parents=True)
            for i in range(n):
                img = rng.integers(0, 90, (12, 12, 3), dtype=np.uint8)
                img[2:10, 2:10, k] = rng.integers(170, 255, (8, 8), dtype=np.uint8)
                Image.fromarray(img).save(folder / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    return tmp_path_factory.mktemp("flow")


@pytest.fixture(scope="module")
def digit_modules(work: Path) -> list[Path]:
    origin = _origin(work, "digits-0to4", "digits", ("0", "1", "2", "3", "4"), DIGITS)
    written = decompose(origin, "digits", work / "modules" / "digits", classes=["1", "2", "3"], settings=FAST)
    return [w.path for w in written if w.manifest.kind != "trunk"]


@pytest.fixture(scope="module")
def color_modules(work: Path) -> tuple[list[Path], str]:
    folder = _color_folder(work / "colors")
    spec = f"imagefolder:{folder}"
    origin = _origin(work, "colors", spec, ("blue", "green", "red"), COLORS)
    written = decompose(origin, spec, work / "modules" / "colors", settings=FAST)
    return [w.path for w in written if w.manifest.kind != "trunk"], spec


def test_channel_modules_record_honest_metrics(digit_modules: list[Path]) -> None:
    assert len(digit_modules) == 3
    for path in digit_modules:
        loaded = load_package(path)
        m = loaded.manifest
        assert m.kind == "class_module" and m.method == "channel" and m.mask.physically_smaller
        assert m.mask.params_after <= m.mask.params_before
        assert m.mask.flops_after is not None and m.mask.flops_before is not None
        assert m.mask.flops_after <= m.mask.flops_before
        assert m.metrics["split"] == "test" and m.metrics["samples"] > 0
        assert 0.0 <= m.metrics["overall"]["accuracy"] <= 1.0
        assert "origin" in m.metrics and m.calibration.method == "temperature"
        assert m.metrics["selection"]["val"]["binary_accuracy"] >= 0.0  # selected on val, reported on test
        # the default: a tail on a shared trunk, pinned by content; the trunk keeps residual streams
        assert m.trunk is not None and loaded.trunk is not None
        assert loaded.trunk.manifest.kind == "trunk" and loaded.trunk.manifest.mask.residual_policy == "keep"
        assert manifest_sha256(loaded.trunk.path) == m.trunk.manifest_sha256
        assert m.mask.flops_after == m.metrics["cost"]["tail_flops"] + m.metrics["cost"]["trunk_flops"]


def test_activation_method_keeps_every_weight(work: Path) -> None:
    origin = work / "origins" / "digits-0to4"
    if not origin.exists():
        pytest.skip("origin not trained")
    written = decompose(origin, "digits", work / "act", classes=["3"], method="activation", settings=FAST)
    m = written[0].manifest
    assert m.mask.granularity == "activation" and not m.mask.physically_smaller
    assert m.mask.params_after == m.mask.params_before
    assert "not smaller" in (m.mask.note or "")
    loaded = load_package(written[0].path)
    masks = [t for t in loaded.manifest.tensors if t.dtype == "bool"]
    assert masks and all(t.storage == "bitmask" for t in masks)


def test_two_registries_two_datasets_install_freeze_assemble(
    work: Path, digit_modules: list[Path], color_modules: tuple[list[Path], str]
) -> None:
    local = DirectoryIndex(work / "local-registry")
    for p in digit_modules:
        publish_package(local, p)
    server = HubServer(work / "server-root")
    try:
        remote = open_index(server.endpoint, cache_dir=work / "hub-cache")
        colors, color_spec = color_modules
        for p in colors:
            publish_package(remote, p)
        lock = work / "nnparts.lock"
        result = install(["1", "3", "red", "Blue"], [local, remote], lock_path=lock)
        assert {p.requested: p.registry for p in result.plan.picks} == {
            "1": local.name,
            "3": local.name,
            "red": remote.name,
            "Blue": remote.name,
        }
        locked = read_lockfile(lock)
        assert [m.classes for m in locked.modules] == [("1",), ("3",), ("red",), ("blue",)]
        assert all(len(f.sha256) == 64 for m in locked.modules for f in m.files)
        # each origin's trunk is installed and pinned once, whatever number of its classes
        assert len(locked.trunks) == 2 and {t.registry for t in locked.trunks} == {local.name, remote.name}
    finally:
        server.stop()
    # registries unreachable now: the frozen install and the assembly work from the verified cache
    shutil.rmtree(work / "local-registry")
    frozen = install_frozen(lock)
    assert frozen.fetched == 0 and len(frozen.paths) == 6  # four modules, two trunks
    out = assemble_from_lock(lock, work / "assembled")
    assembly = load_assembly(out)
    assert assembly.classes == ("1", "3", "red", "blue")
    report = evaluate_assembly(assembly, ["digits", color_spec])
    # digits 1 and 3 (8x8 gray) and the colours (12x12 RGB) each through their own input spec
    assert report["samples"] == sum(int((load_split("digits", "test").y == d).sum()) for d in (1, 3)) + 24
    # zero-shot cross-dataset composition is hard (every module sees the other data set's images);
    # a few-shot stitching head fitted on the val splits must fix most of it
    stitched = assemble_from_lock(lock, work / "assembled-stitched", calibrate=["digits", color_spec])
    few_shot = evaluate_assembly(load_assembly(stitched), ["digits", color_spec])
    assert few_shot["stitched"] and not report["stitched"]
    assert few_shot["overall"]["accuracy"] >= 0.8
    assert 0.0 <= report["overall"]["accuracy"] <= 1.0


def test_replace_and_predict(work: Path, digit_modules: list[Path], tmp_path: Path) -> None:
    out = assemble_paths(digit_modules, tmp_path / "digits")
    assembly = load_assembly(out)
    before = evaluate_assembly(assembly, ["digits"])
    specs = with_part_replaced(assembly, "3", digit_modules[2])
    write_assembly(tmp_path / "replaced", specs, assembly.classes)
    after = evaluate_assembly(load_assembly(tmp_path / "replaced"), ["digits"])
    assert after["overall"]["accuracy"] == before["overall"]["accuracy"]
    split = load_split("digits", "test")
    img = split.x[int(np.flatnonzero(split.y == 2)[0])][..., 0]
    Image.fromarray(img).save(tmp_path / "two.png")
    res = CliRunner().invoke(main, ["predict", str(out), str(tmp_path / "two.png")])
    assert res.exit_code == 0, res.output
    assert res.output.split("\t")[1] in assembly.classes


def test_onnx_export_matches_onnxruntime(digit_modules: list[Path], tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime", reason="onnxruntime (dev extra) checks the export")
    res = CliRunner().invoke(
        main,
        [
            "compose",
            *map(str, digit_modules),
            "--out",
            str(tmp_path / "c"),
            "--onnx",
            str(tmp_path / "c.onnx"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert (tmp_path / "c.onnx").stat().st_size > 0 and "max |onnxruntime - torch|" in res.output, res.output


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    runner = CliRunner()
    cases = [
        ["decompose", str(tmp_path / "missing"), "--data", "digits", "--out", str(tmp_path / "o")],
        ["decompose", str(tmp_path), "--data", "nosuch:x", "--out", str(tmp_path / "o")],
        ["decompose", str(tmp_path), "--data", "digits", "--out", str(tmp_path / "o"), "--flops-goal", "1.5"],
        ["install", "--registry", str(tmp_path / "empty"), "cat"],
        ["install"],
        ["install", "cat", "--min-accuracy", "7"],
        ["assemble", "--lock", str(tmp_path / "none.lock"), "--out", str(tmp_path / "a")],
        ["replace", str(tmp_path), "no-equals-sign"],
        ["predict", str(tmp_path / "nope"), "x.png"],
    ]
    (tmp_path / "empty").mkdir()
    for args in cases:
        res = runner.invoke(main, args)
        assert res.exit_code == 2, (args, res.output)
        lines = [line for line in res.output.strip().splitlines() if line.strip()]
        assert len(lines) == 1 and "Traceback" not in res.output, (args, res.output)
    assert not (tmp_path / "o").exists() and not (tmp_path / "a").exists()


def test_cli_decompose_publish_install_assemble_eval(
    work: Path, digit_modules: list[Path], tmp_path: Path
) -> None:
    runner = CliRunner()
    origin = work / "origins" / "digits-0to4"
    registry = tmp_path / "registry"
    res = runner.invoke(
        main,
        [
            "decompose",
            str(origin),
            "--data",
            "digits",
            "--out",
            str(tmp_path / "m"),
            "--classes",
            "0,4",
            "--epochs",
            "0.5",
            "--flops-goal",
            "0.2",
            "--quiet",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "FLOPs" in res.output and (tmp_path / "m" / "0" / "manifest.json").is_file()
    assert (tmp_path / "m" / "trunk" / "manifest.json").is_file()
    for cls, published in (("0", 2), ("4", 1)):  # the first publish brings the trunk along
        res = runner.invoke(main, ["publish", str(tmp_path / "m" / cls), "--registry", str(registry)])
        assert res.exit_code == 0 and res.output.count("published") == published, res.output
    lock = tmp_path / "x.lock"
    res = runner.invoke(
        main, ["install", "4", "0", "--registry", str(registry), "--lock", str(lock), "--explain"]
    )
    assert res.exit_code == 0, res.output
    assert "digits-0to4/4-channel@1.0.0" in res.output
    res = runner.invoke(main, ["install", "--frozen", "--lock", str(lock)])
    assert res.exit_code == 0 and "0 fetched" in res.output, res.output
    res = runner.invoke(main, ["assemble", "--lock", str(lock), "--out", str(tmp_path / "asm")])
    assert res.exit_code == 0, res.output
    res = runner.invoke(main, ["eval", str(tmp_path / "asm"), "--data", "digits", "--json", "--latency"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.output)
    assert "accuracy" in report["overall"]
    assert (
        report["latency_ms"]["1"] > 0
        and report["latency_ms"]["64"] > 0
        and report["latency_ms"]["threads"] >= 1
    )
    # a class module on its trunk, and the trunk package itself, are timed the same way
    for package in (tmp_path / "m" / "4", tmp_path / "m" / "trunk"):
        res = runner.invoke(main, ["eval", str(package), "--data", "digits", "--json", "--latency"])
        assert res.exit_code == 0, res.output
        assert set(json.loads(res.output)["latency_ms"]) >= {"1", "64", "threads", "rounds"}
