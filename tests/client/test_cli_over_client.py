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


def _untrained_origin(tmp_path: Path) -> Path:
    """A digits CNN for 0 and 1, untrained: enough to cut and to check what a command prints."""
    import torch

    from nnparts.client.zoo.architectures import build_model
    from nnparts.client.zoo.origin import save_origin
    from nnparts.schemas.manifest import InputSpec

    torch.manual_seed(0)
    kwargs = {"num_classes": 2, "in_channels": 1}
    out = tmp_path / "origin"
    save_origin(
        build_model("digits_cnn", kwargs),
        out,
        name="digits-01",
        architecture="digits_cnn",
        arch_kwargs=kwargs,
        classes=("0", "1"),
        dataset="digits",
        input_spec=InputSpec(1, 8, 8, (0.3,), (0.4,)),
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
