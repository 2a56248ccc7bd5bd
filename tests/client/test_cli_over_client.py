"""The CLI stands on :class:`~nnparts.client.Client`: a command and its method behave alike, and
``-q``/``--json`` mean the same on every computing command."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fake_package import write_package
from trust_keys import cli

from nnparts.client import Client
from nnparts.schemas.errors import FileMissing


def _locked(tmp_path: Path) -> Path:
    """Two published fake modules (cat, dog), installed with a lock; returns the lock."""
    registry, lock = tmp_path / "registry", tmp_path / "nnparts.lock"
    for i, name in enumerate(("cat", "dog")):
        package = write_package(
            tmp_path / "src" / name, module_id=f"zoo/{name}", classes=[(name, [])], seed=i
        )
        assert cli("publish", package, "--registry", registry).exit_code == 0
    result = cli("install", "cat", "dog", "--registry", registry, "--lock", lock)
    assert result.exit_code == 0, result.output
    return lock


def test_assemble_reopens_the_locks_registry_as_the_client_does(tmp_path: Path) -> None:
    lock = _locked(tmp_path)
    home = Path(Client().home)
    shutil.rmtree(home / "installed")  # a wiped cache: the lock's own registry has the packages
    result = cli("assemble", "--lock", lock, "--out", tmp_path / "asm")
    assert result.exit_code == 0, result.output
    assert "assembled 2 modules" in result.output and (tmp_path / "asm" / "manifest.json").is_file()


def test_eval_of_a_missing_folder_names_it(tmp_path: Path) -> None:
    with pytest.raises(FileMissing):
        Client().evaluate(tmp_path / "none", "digits")
    result = cli("eval", tmp_path / "none", "--data", "digits")
    assert result.exit_code == 2 and str(tmp_path / "none") in result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output


def _untrained_origin(tmp_path: Path, training: dict[str, object] | None = None) -> Path:
    """A digits CNN for 0 and 1, untrained: enough to cut and to check what a command prints."""
    import torch

    from nnparts.client.zoo.architectures import build_model
    from nnparts.client.zoo.origin import save_origin
    from nnparts.schemas.manifest import InputSpec

    torch.manual_seed(0)
    kwargs = {"num_classes": 2, "in_channels": 1}
    out = tmp_path / f"origin-{len(list(tmp_path.glob('origin-*')))}"
    save_origin(
        build_model("digits_cnn", kwargs),
        out,
        name="digits-01",
        architecture="digits_cnn",
        arch_kwargs=kwargs,
        classes=("0", "1"),
        dataset="digits",
        input_spec=InputSpec(1, 8, 8, (0.3,), (0.4,)),
        training=training,
    )
    return out


def test_decompose_json_and_quiet(tmp_path: Path) -> None:
    origin = _untrained_origin(tmp_path)
    args = ("decompose", origin, "--data", "digits", "--out", tmp_path / "m", "--classes", "1")
    result = cli(*args, "--method", "activation", "-q", "--json")
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)
    assert row["class"] == "1" and row["kind"] == "class_module" and 0.0 <= row["accuracy"] <= 1.0
    assert Path(row["path"]).is_dir() and row["bytes"] > 0 and row["module"].endswith("@1.0.0")


def test_assemble_compose_replace_json_and_quiet(tmp_path: Path) -> None:
    lock = _locked(tmp_path)
    result = cli("assemble", "--lock", lock, "--out", tmp_path / "asm", "-q", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc == {
        "path": str(tmp_path / "asm"),
        "modules": 2,
        "classes": ["cat", "dog"],
        "calibrated": False,
    }
    packages = [tmp_path / "src" / name for name in ("cat", "dog")]
    result = cli("compose", *packages, "--out", tmp_path / "cmp", "--quiet", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["classes"] == ["cat", "dog"]
    other = write_package(tmp_path / "src" / "cat2", module_id="zoo/cat2", classes=[("cat", [])], seed=7)
    result = cli("replace", tmp_path / "cmp", f"cat={other}", "-q", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc == {
        "path": str(tmp_path / "cmp"),
        "class": "cat",
        "module": str(other),
        "stitch_dropped": False,
    }


def test_blind_selection_is_named_only_when_the_origin_saw_val() -> None:
    from nnparts.client.extract.pipeline import blind_selection

    all_of_train = {"train_examples": 50000}
    why = blind_selection("r20", "cifar10", all_of_train, "cifar10:/d", 45000)
    assert why is not None and "blind" in why and "--data cifar10:/d?val=test" in why
    assert blind_selection("r20", "CIFAR-10", all_of_train, "cifar10:/d?val=test", 45000) is None
    assert blind_selection("r20", "cifar10", {"train_examples": 45000}, "cifar10:/d", 45000) is None
    assert blind_selection("r20", "cifar10", {}, "cifar10:/d", 45000) is None  # nothing known
    assert blind_selection("fm", "fashionmnist", {"train_examples": 60000}, "cifar10:/d", 45000) is None
    fm = blind_selection("fm", "fashionmnist", {"train_examples": 60000}, "fashion-mnist:/f", 54000)
    assert fm is not None and "fashion-mnist:/f?val=test" in fm


def test_decompose_warns_once_on_stderr_when_val_was_training_data(tmp_path: Path) -> None:
    args = ("--data", "digits", "--classes", "1", "--method", "activation", "-q", "--json")
    seen_all = _untrained_origin(tmp_path, {"train_examples": 1797})  # all of digits
    result = cli("decompose", seen_all, *args, "--out", tmp_path / "a")
    assert result.exit_code == 0, result.output
    warned = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warned) == 1 and "selection on it is blind" in warned[0], result.stderr
    assert "Traceback" not in result.stderr and json.loads(result.stdout)[0]["class"] == "1"
    held_out = _untrained_origin(tmp_path, {"train_examples": 100})
    result = cli("decompose", held_out, *args, "--out", tmp_path / "b")
    assert result.exit_code == 0 and "warning" not in result.stderr, result.stderr


def test_reengineer_warns_when_val_was_training_data(tmp_path: Path) -> None:
    seen_all = _untrained_origin(tmp_path, {"train_examples": 1797})  # all of digits
    args = ("--data", "digits", "--target", "1", "--epochs", "1", "-q", "--out", tmp_path / "sub")
    result = cli("reengineer", seen_all, *args)
    assert result.exit_code == 0, result.output
    warned = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warned) == 1 and "selection on it is blind" in warned[0], result.stderr
