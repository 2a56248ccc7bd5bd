"""Architectures, strict weights, origin-model packages, training and evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from nnparts.client.data import DataSplit, load_split
from nnparts.client.zoo import (
    align_classes,
    build_model,
    evaluate,
    import_model,
    list_architectures,
    load_any,
    load_origin,
    read_meta_json,
    register_architecture,
    train_classifier,
)
from nnparts.client.zoo.architectures import CifarResNet
from nnparts.client.zoo.meta import MODEL_JSON, WEIGHTS_NAME
from nnparts.client.zoo.training import Augment
from nnparts.client.zoo.weights import load_strict
from nnparts.schemas.errors import FileMissing, IntegrityError, UsageError, WeightsError
from nnparts.schemas.integrity import read_safetensors_header, sha256_file
from nnparts.schemas.manifest import InputSpec
from nnparts.schemas.validate import validate

CIFAR_SPEC = InputSpec(3, 32, 32, (0.4914, 0.4822, 0.4465), (0.247, 0.2435, 0.2616))
DIGITS_SPEC = InputSpec(1, 8, 8, (0.3055,), (0.376,))


@pytest.fixture(autouse=True)
def _two_threads() -> None:
    torch.set_num_threads(2)


def _randomised(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random BN statistics too, so a wrong load would change the outputs."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
    return model.eval()


# --- registry -----------------------------------------------------------------------------------


def test_registry_lists_the_builtins_and_refuses_duplicates() -> None:
    names = list_architectures()
    assert {"cifar_resnet", "cifar_resnet20", "cifar_resnet32", "cifar_resnet56", "digits_cnn"} <= set(names)
    assert list(names) == sorted(names)
    with pytest.raises(UsageError, match="already registered"):
        register_architecture("cifar_resnet20")(lambda: nn.Identity())
    with pytest.raises(UsageError, match="invalid architecture name"):
        register_architecture("a:b")


@pytest.mark.parametrize(
    "name", ["cifar_resnet", "cifar_resnet20", "cifar_resnet32", "cifar_resnet56", "digits_cnn"]
)
def test_every_builtin_builds_and_runs_with_num_classes_and_in_channels(name: str) -> None:
    model = build_model(name, {"num_classes": 7, "in_channels": 1}).eval()
    size = 8 if name == "digits_cnn" else 16
    assert model(torch.zeros(2, 1, size, size)).shape == (2, 7)


@pytest.mark.parametrize(("depth", "params"), [(20, 272474), (32, 466906), (56, 855770)])
def test_cifar_resnet_parameter_counts(depth: int, params: int) -> None:
    model = build_model(f"cifar_resnet{depth}", {"num_classes": 10})
    assert sum(p.numel() for p in model.parameters()) == params
    same = build_model("cifar_resnet", {"depth": depth})
    assert list(same.state_dict()) == list(model.state_dict())


def test_cifar_resnet_uses_torchvision_key_names() -> None:
    keys = set(build_model("cifar_resnet20", {}).state_dict())
    for key in (
        "conv1.weight",
        "bn1.running_mean",
        "layer1.0.conv1.weight",
        "layer2.0.downsample.0.weight",
        "layer2.0.downsample.1.running_var",
        "layer3.2.bn2.num_batches_tracked",
        "fc.weight",
        "fc.bias",
    ):
        assert key in keys
    assert not any(k.startswith("layer1.0.downsample") for k in keys)
    with pytest.raises(UsageError, match="6n\\+2"):
        CifarResNet(depth=21)


def test_build_model_torchvision_and_factories() -> None:
    model = build_model("torchvision:resnet18", {"num_classes": 3})
    assert isinstance(model.fc, nn.Linear) and model.fc.out_features == 3
    linear = build_model("torch.nn:Linear", {"in_features": 4, "out_features": 2})
    assert isinstance(linear, nn.Linear)


@pytest.mark.parametrize(
    ("arch", "kwargs", "fragment"),
    [
        ("cifar_resnet2", {}, "did you mean cifar_resnet"),
        ("resnet", {}, "unknown architecture 'resnet'"),
        ("torchvision:resnet19", {}, "did you mean torchvision:resnet18"),
        ("torchvision:resnet18", {"weights": "DEFAULT"}, "never downloads"),
        ("no_such_pkg.mod:f", {}, "cannot import 'no_such_pkg.mod'"),
        ("torch.nn:NoSuchThing", {}, "has no attribute 'NoSuchThing'"),
        ("builtins:dict", {}, "returned dict, not a torch.nn.Module"),
        ("cifar_resnet20", {"widht": 2}, "rejects kwargs"),
    ],
)
def test_build_model_errors(arch: str, kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(UsageError) as info:
        build_model(arch, kwargs)
    assert fragment in str(info.value)


# --- strict loading -----------------------------------------------------------------------------


def test_load_strict_names_missing_unexpected_and_mismatched_keys() -> None:
    model = build_model("cifar_resnet20", {})
    state = dict(build_model("cifar_resnet20", {"num_classes": 5}).state_dict())
    del state["layer1.0.bn1.running_mean"]
    state["head.weight"] = torch.zeros(1)
    with pytest.raises(WeightsError) as info:
        load_strict(model, state)
    err = info.value
    assert err.missing == ["layer1.0.bn1.running_mean"]
    assert err.unexpected == ["head.weight"]
    assert err.mismatched == ["fc.bias: (5,) vs model (10,)", "fc.weight: (5, 64) vs model (10, 64)"]
    assert "missing keys: layer1.0.bn1.running_mean" in str(err) and "\n" not in str(err)


# --- origin-model packages ----------------------------------------------------------------------


def _fixture_like(
    tmp_path: Path, model: nn.Module, *, classes: int = 10, sha: bool = True
) -> tuple[Path, Path]:
    weights = tmp_path / "src" / "tiny-r20.safetensors"
    weights.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(weights))
    meta = {
        "name": "tiny-r20",
        "dataset": "cifar10",
        "classes": [f"c{i}" for i in range(classes)],
        "origin_class_indices": list(range(classes)),
        "input": {"layout": "NCHW", **CIFAR_SPEC.to_dict()},
        "test_accuracy": 0.5,
        "per_class_test_accuracy": [0.5] * classes,
        "epochs": 1,
        "seed": 0,
        "recipe": "none",
        "architecture": {"family": "cifar_resnet", "depth": 20, "num_classes": classes, "in_channels": 3},
        "sha256": {weights.name: sha256_file(weights)} if sha else {},
    }
    meta_path = tmp_path / "src" / "tiny-r20.json"
    meta_path.write_text(json.dumps(meta))
    return weights, meta_path


def test_import_round_trip_from_fixture_style_meta(tmp_path: Path) -> None:
    model = _randomised(build_model("cifar_resnet20", {"num_classes": 4}))
    weights, meta_path = _fixture_like(tmp_path, model, classes=4)
    meta = import_model(None, [weights], meta_json=meta_path, out_dir=tmp_path / "pkg")
    assert meta.architecture == "cifar_resnet20" and dict(meta.arch_kwargs) == {
        "num_classes": 4,
        "in_channels": 3,
    }
    assert (
        meta.classes == ("c0", "c1", "c2", "c3") and meta.accuracy is not None and meta.accuracy.top1 == 0.5
    )
    doc = json.loads((tmp_path / "pkg" / MODEL_JSON).read_text())
    validate(doc, "model")
    assert doc["files"][0]["sha256"] == sha256_file(tmp_path / "pkg" / WEIGHTS_NAME)
    assert doc["training"] == {"epochs": 1, "recipe": "none", "seed": 0}
    header = read_safetensors_header(tmp_path / "pkg" / WEIGHTS_NAME)
    assert list(header["__metadata__"]) == ["nnparts"]
    loaded = load_origin(tmp_path / "pkg")
    assert not loaded.module.training and loaded.meta == meta
    assert loaded.weights_sha256 == doc["files"][0]["sha256"]
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded.module(x), model(x))
    via_any = load_any(tmp_path / "pkg")
    assert via_any.kind == "origin" and via_any.classes == meta.classes and via_any.input_spec == CIFAR_SPEC


def test_import_is_deterministic_and_independent_of_the_name(tmp_path: Path) -> None:
    model = _randomised(build_model("cifar_resnet20", {}))
    weights, meta_path = _fixture_like(tmp_path, model)
    import_model("cifar_resnet20", [weights], meta_json=meta_path, out_dir=tmp_path / "a")
    import_model("cifar_resnet20", [weights], meta_json=meta_path, out_dir=tmp_path / "b")
    import_model("cifar_resnet20", [weights], meta_json=meta_path, out_dir=tmp_path / "c", name="renamed")
    for name in (MODEL_JSON, WEIGHTS_NAME):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (tmp_path / "a" / WEIGHTS_NAME).read_bytes() == (tmp_path / "c" / WEIGHTS_NAME).read_bytes()
    with pytest.raises(UsageError, match="already holds an origin model"):
        import_model("cifar_resnet20", [weights], meta_json=meta_path, out_dir=tmp_path / "a")
    import_model("cifar_resnet20", [weights], meta_json=meta_path, out_dir=tmp_path / "a", overwrite=True)


def test_import_merges_shards_and_refuses_duplicate_keys(tmp_path: Path) -> None:
    model = _randomised(build_model("digits_cnn", {}))
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    keys = sorted(state)
    save_file({k: state[k] for k in keys[:10]}, str(tmp_path / "a.safetensors"))
    save_file({k: state[k] for k in keys[10:]}, str(tmp_path / "b.safetensors"))
    meta = import_model(
        "digits_cnn",
        [tmp_path / "a.safetensors", tmp_path / "b.safetensors"],
        input_spec=DIGITS_SPEC,
        dataset="digits",
        out_dir=tmp_path / "pkg",
    )
    assert meta.classes == tuple(str(i) for i in range(10)) and meta.dataset == "digits"
    loaded = load_origin(tmp_path / "pkg")
    assert all(torch.equal(loaded.module.state_dict()[k], state[k]) for k in keys)
    save_file({keys[0]: state[keys[0]]}, str(tmp_path / "dup.safetensors"))
    with pytest.raises(WeightsError, match=f"key '{keys[0]}' is in both"):
        import_model(
            "digits_cnn",
            [tmp_path / "a.safetensors", tmp_path / "dup.safetensors"],
            input_spec=DIGITS_SPEC,
            out_dir=tmp_path / "x",
        )


def test_import_refuses_pickles_and_non_safetensors(tmp_path: Path) -> None:
    model = build_model("digits_cnn", {})
    torch.save(model.state_dict(), tmp_path / "model.pt")
    with pytest.raises(UsageError) as info:
        import_model("digits_cnn", [tmp_path / "model.pt"], input_spec=DIGITS_SPEC, out_dir=tmp_path / "p")
    assert "pickle-based checkpoint" in str(info.value) and "safetensors" in str(info.value)
    assert "save_file" in str(info.value)
    (tmp_path / "junk.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}......")
    with pytest.raises(UsageError, match="not a safetensors file"):
        import_model(
            "digits_cnn", [tmp_path / "junk.safetensors"], input_spec=DIGITS_SPEC, out_dir=tmp_path / "p"
        )
    with pytest.raises(FileMissing):
        import_model(
            "digits_cnn", [tmp_path / "absent.safetensors"], input_spec=DIGITS_SPEC, out_dir=tmp_path / "p"
        )
    assert not (tmp_path / "p").exists()


def test_import_checks_the_meta_sha256_classes_and_weights(tmp_path: Path) -> None:
    model = build_model("cifar_resnet20", {})
    weights, meta_path = _fixture_like(tmp_path, model)
    with weights.open("r+b") as fh:
        fh.seek(-1, 2)
        last = fh.read(1)
        fh.seek(-1, 2)
        fh.write(bytes([last[0] ^ 1]))
    with pytest.raises(IntegrityError, match="sha256 mismatch"):
        import_model(None, [weights], meta_json=meta_path, out_dir=tmp_path / "p")
    weights, meta_path = _fixture_like(tmp_path, model, sha=False)
    with pytest.raises(UsageError, match="10 outputs but 3 classes"):
        import_model(None, [weights], meta_json=meta_path, classes=["a", "b", "c"], out_dir=tmp_path / "p")
    with pytest.raises(WeightsError, match=r"shape mismatches: fc\.bias"):
        import_model(
            None, [weights], meta_json=meta_path, arch_kwargs={"num_classes": 5}, out_dir=tmp_path / "p"
        )
    with pytest.raises(UsageError, match="no input spec"):
        import_model("cifar_resnet20", [weights], out_dir=tmp_path / "p")
    with pytest.raises(UsageError, match="no architecture"):
        import_model(None, [weights], out_dir=tmp_path / "p")


def test_load_origin_refuses_a_modified_weights_file(tmp_path: Path) -> None:
    weights, meta_path = _fixture_like(tmp_path, build_model("cifar_resnet20", {}))
    import_model(None, [weights], meta_json=meta_path, out_dir=tmp_path / "pkg")
    target = tmp_path / "pkg" / WEIGHTS_NAME
    data = bytearray(target.read_bytes())
    data[-5] ^= 0x40
    target.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="sha256 mismatch"):
        load_origin(tmp_path / "pkg")


def test_read_meta_json_parses_the_fixture_format(tmp_path: Path) -> None:
    _, meta_path = _fixture_like(tmp_path, build_model("cifar_resnet20", {}))
    hints = read_meta_json(meta_path)
    assert hints.architecture == "cifar_resnet20" and dict(hints.arch_kwargs) == {
        "num_classes": 10,
        "in_channels": 3,
    }
    assert hints.input == CIFAR_SPEC and hints.dataset == "cifar10" and len(hints.classes) == 10
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(UsageError, match="cannot read meta file"):
        read_meta_json(tmp_path / "bad.json")


def test_load_any_dispatches_on_the_package_kind(tmp_path: Path) -> None:
    (tmp_path / "module").mkdir()
    (tmp_path / "module" / "manifest.json").write_text("{}")
    with pytest.raises(UsageError, match="module packages are not supported yet"):
        load_any(tmp_path / "module")
    with pytest.raises(UsageError, match="is not a model package"):
        load_any(tmp_path)
    with pytest.raises(FileMissing):
        load_any(tmp_path / "absent")


# --- evaluation and training --------------------------------------------------------------------


class _Constant(nn.Module):
    """Always predicts class ``k`` of ``n``."""

    def __init__(self, k: int, n: int) -> None:
        super().__init__()
        self.k, self.n = k, n

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(x.shape[0], self.n)
        out[:, self.k] = 1.0
        return out


def test_evaluate_counts_exactly() -> None:
    test = load_split("digits", "test")
    result = evaluate(_Constant(3, 10), test, DIGITS_SPEC, batch_size=50, confusion=True)
    counts = test.class_counts()
    assert result.samples == len(test) and result.per_class_samples == counts
    assert result.top1 == pytest.approx(counts[3] / len(test))
    assert result.per_class == tuple(1.0 if i == 3 else 0.0 for i in range(10))
    assert result.confusion is not None and [row[3] for row in result.confusion] == list(counts)
    assert json.loads(json.dumps(result.to_dict()))["top1"] == result.top1


def test_align_classes_selects_the_models_classes_by_name() -> None:
    test = load_split("digits", "test")
    sub = align_classes(test, ["4", "9"])
    result = evaluate(_Constant(1, 2), sub, DIGITS_SPEC)
    assert result.classes == ("4", "9") and result.per_class == (0.0, 1.0)
    assert align_classes(test, test.classes) is test
    empty = DataSplit("e", "test", np.zeros((0, 8, 8, 1), np.uint8), np.zeros(0, np.int64), ("a",))
    with pytest.raises(UsageError, match="is empty"):
        evaluate(_Constant(0, 1), empty, DIGITS_SPEC)


def test_training_digits_cnn_reaches_90_percent_on_val() -> None:
    train, val = load_split("digits", "train"), load_split("digits", "val")
    torch.manual_seed(0)
    model = build_model("digits_cnn", {})
    result = train_classifier(
        model, train, val, DIGITS_SPEC, epochs=6, lr=0.1, batch_size=64, seed=0, progress=False
    )
    assert result.best_val_top1 >= 0.9
    assert len(result.history) == 6 and result.best_epoch == 1 + max(
        range(6), key=lambda i: (result.history[i].val_top1, -i)
    )
    assert not model.training
    assert evaluate(model, val, DIGITS_SPEC).top1 == pytest.approx(result.best_val_top1)


def test_training_is_deterministic_for_a_seed() -> None:
    train, val = load_split("digits", "train"), load_split("digits", "val")
    states = []
    for _ in range(2):
        torch.manual_seed(1)
        model = build_model("digits_cnn", {})
        rng_before = torch.get_rng_state()
        train_classifier(
            model, train, val, DIGITS_SPEC, epochs=1, lr=0.05, seed=5, augment=Augment(pad=1), progress=False
        )
        assert torch.equal(torch.get_rng_state(), rng_before)  # the caller's RNG is untouched
        states.append(model.state_dict())
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    with pytest.raises(UsageError, match="must be positive"):
        train_classifier(build_model("digits_cnn", {}), train, val, DIGITS_SPEC, epochs=0, lr=0.1)
