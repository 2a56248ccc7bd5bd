"""``nnparts model import|show`` and ``nnparts eval`` through click's runner and a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner, Result
from safetensors.torch import save_file

from nnparts.client.cli import main
from nnparts.client.data import load_split
from nnparts.client.zoo import build_model, evaluate, load_origin

DIGITS_INPUT = '{"channels": 1, "height": 8, "width": 8, "mean": [0.3055], "std": [0.376]}'
NNPARTS = Path(sys.executable).parent / "nnparts"


def _run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def _one_line_error(result: Result, fragment: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and fragment in lines[0], lines[0]


@pytest.fixture
def digits_weights(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    model = build_model("digits_cnn", {})
    path = tmp_path / "digits.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path


@pytest.fixture
def digits_package(tmp_path: Path, digits_weights: Path) -> Path:
    out = tmp_path / "digits-pkg"
    result = _run(
        "model",
        "import",
        "--arch",
        "digits_cnn",
        "--weights",
        str(digits_weights),
        "--arch-kwargs",
        '{"num_classes": 10}',
        "--classes",
        "0,1,2,3,4",
        "--classes",
        "5,6,7,8,9",
        "--dataset",
        "digits",
        "--input-spec",
        DIGITS_INPUT,
        "--name",
        "digits-random",
        "--license",
        "Apache-2.0",
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("imported digits-random (digits_cnn, 10 classes, weights sha256 ")
    return out


def test_import_then_show(digits_package: Path) -> None:
    shown = _run("model", "show", str(digits_package))
    assert shown.exit_code == 0, shown.output
    assert "digits_cnn" in shown.stdout and "10: 0, 1, 2" in shown.stdout and "1x8x8" in shown.stdout
    as_json = _run("model", "show", str(digits_package), "--json")
    doc = json.loads(as_json.stdout)
    assert doc["name"] == "digits-random" and doc["license"] == "Apache-2.0" and doc["dataset"] == "digits"


def test_eval_json_and_table_match_the_python_api(digits_package: Path) -> None:
    result = _run(
        "eval", str(digits_package), "--data", "digits", "--json", "--device", "cpu", "--batch-size", "64"
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    loaded = load_origin(digits_package)
    expected = evaluate(loaded.module, load_split("digits", "test"), loaded.meta.input)
    assert doc["top1"] == expected.top1 and doc["per_class"] == list(expected.per_class)
    assert doc["samples"] == 359 and doc["split"] == "test" and doc["model"] == "digits-random"
    table = _run("eval", str(digits_package), "--data", "digits", "--split", "val", "--quiet")
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert lines[1].startswith("data   digits (val, 359 images)") and lines[2].startswith("top-1  ")
    assert lines[4].split() == ["class", "images", "top-1"] and len(lines) == 15


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--arch", "digits_cnn", "--arch-kwargs", "{num_classes: 3}"], "--arch-kwargs is not valid JSON"),
        (["--arch", "digits_cnn", "--arch-kwargs", "[1]"], "--arch-kwargs must be a JSON object"),
        (["--arch", "digits_cnn", "--input-spec", '{"channels": 1}'], "--input-spec lacks or mistypes"),
        (["--arch", "digits_net"], "unknown architecture 'digits_net'"),
        (["--arch", "cifar_resnet20", "--input-spec", DIGITS_INPUT], "weights do not fit the architecture"),
        (["--arch", "digits_cnn", "--input-spec", DIGITS_INPUT, "--name", "bad name"], "invalid model name"),
        (["--arch", "digits_cnn"], "no input spec"),
    ],
)
def test_import_errors_are_one_line(
    tmp_path: Path, digits_weights: Path, args: list[str], fragment: str
) -> None:
    result = _run("model", "import", "--weights", str(digits_weights), "--out", str(tmp_path / "o"), *args)
    _one_line_error(result, fragment)


def test_import_refuses_a_pt_file_through_the_cli(tmp_path: Path) -> None:
    torch.save(build_model("digits_cnn", {}).state_dict(), tmp_path / "w.pth")
    result = _run(
        "model",
        "import",
        "--arch",
        "digits_cnn",
        "--weights",
        str(tmp_path / "w.pth"),
        "--out",
        str(tmp_path / "o"),
    )
    _one_line_error(result, "is a pickle-based checkpoint; nnparts only reads safetensors")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--data", "digits", "--device", "tpu"], "unknown device 'tpu'"),
        (["--data", "digits", "--batch-size", "0"], "--batch-size must be positive"),
        (["--data", "imagenet:/x"], "unknown data spec 'imagenet:/x'"),
    ],
)
def test_eval_option_errors_are_one_line(digits_package: Path, args: list[str], fragment: str) -> None:
    _one_line_error(_run("eval", str(digits_package), *args), fragment)


def test_eval_refuses_invalid_packages_and_other_folders(tmp_path: Path) -> None:
    (tmp_path / "mod").mkdir()
    (tmp_path / "mod" / "manifest.json").write_text("{}")
    _one_line_error(_run("eval", str(tmp_path / "mod"), "--data", "digits"), "is a required property")
    _one_line_error(_run("eval", str(tmp_path), "--data", "digits"), "is not a model package")
    _one_line_error(_run("eval", str(tmp_path / "nope"), "--data", "digits"), "no such file or directory")


def test_eval_refuses_data_without_the_models_classes(digits_package: Path, tmp_path: Path) -> None:
    from PIL import Image

    for cls in ("cat", "dog"):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        for i in range(5):
            Image.new("L", (8, 8), color=i * 40).save(tmp_path / "imgs" / cls / f"{i}.png")
    result = _run("eval", str(digits_package), "--data", f"imagefolder:{tmp_path / 'imgs'}")
    _one_line_error(result, "are not in data set 'imgs'")


def test_cli_modules_do_not_import_torch() -> None:
    code = (
        "import sys, nnparts.client.cli.model, nnparts.client.cli.evaluate, nnparts.client.cli._options; "
        "print('torch' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "False"


def test_show_and_eval_in_a_real_subprocess(digits_package: Path) -> None:
    if not NNPARTS.exists():
        pytest.skip(f"no console script at {NNPARTS}")
    shown = subprocess.run(
        [str(NNPARTS), "model", "show", str(digits_package), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["architecture"] == "digits_cnn"
    bad = subprocess.run(
        [str(NNPARTS), "eval", str(digits_package), "--data", "cifar100:x"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.strip().splitlines() == [
        "error: unknown data spec 'cifar100:x'; did you mean cifar10? "
        "use digits, cifar10:DIR, fashion-mnist:DIR or imagefolder:DIR"
    ]
