"""Every origin model in ../shared/fixtures imports, and ``nnparts eval`` reproduces its test accuracy.

Needs ../shared (fixtures and data); skipped when it is absent. CPU, fp32: a few minutes on 2 cores.

The JSON figures match a bf16-autocast evaluation exactly; in fp32 a few borderline images flip, so
the overall accuracy agrees to 0.1 pp (measured: at most 0.07 pp) and each class to 0.5 pp (at most
3 of its 1000 test images; measured at most 0.3 pp).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner

from nnparts.client.cli import main
from nnparts.client.data import load_split
from nnparts.client.zoo import load_origin

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
FIXTURES = SHARED / "fixtures"
DATA = {"cifar10": SHARED / "data" / "cifar10", "fashionmnist": SHARED / "data" / "fashion-mnist"}
SPEC_KIND = {"cifar10": "cifar10", "fashionmnist": "fashion-mnist"}
TOLERANCE = 0.001  # 0.1 percentage points
PER_CLASS_TOLERANCE = 0.005

pytestmark = [pytest.mark.shared, pytest.mark.slow]


def _fixture_names() -> list[str]:
    return sorted(p.stem for p in FIXTURES.glob("*.json")) if FIXTURES.is_dir() else []


@pytest.fixture(scope="module", autouse=True)
def _needs_shared() -> None:
    if not FIXTURES.is_dir() or not all(d.is_dir() for d in DATA.values()):
        pytest.skip(f"needs {FIXTURES} and {SHARED / 'data'} (the shared folder beside the repository)")
    torch.set_num_threads(2)
    for dataset, folder in DATA.items():  # decode once per process, without a disk cache
        load_split(f"{SPEC_KIND[dataset]}:{folder}", "test", disk_cache=False)


def test_there_are_fixtures() -> None:
    assert len(_fixture_names()) >= 6


@pytest.mark.parametrize("name", _fixture_names() or ["<no fixtures>"])
def test_fixture_imports_and_eval_reproduces_its_accuracy(name: str, tmp_path: Path) -> None:
    meta: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    weights = [str(FIXTURES / f) for f in meta["files"]]
    out = tmp_path / name
    runner = CliRunner()
    args = ["model", "import", "--meta", str(FIXTURES / f"{name}.json"), "--out", str(out)]
    for w in weights:
        args += ["--weights", w]
    imported = runner.invoke(main, args)
    assert imported.exit_code == 0, imported.output
    origin = load_origin(out)
    assert origin.meta.name == name and list(origin.meta.classes) == meta["classes"]
    assert sum(p.numel() for p in origin.module.parameters()) == meta["params"]
    spec = f"{SPEC_KIND[meta['dataset']]}:{DATA[meta['dataset']]}"
    ran = runner.invoke(
        main, ["eval", str(out), "--data", spec, "--json", "--device", "cpu", "--batch-size", "500"]
    )
    assert ran.exit_code == 0, ran.output
    result = json.loads(ran.stdout)
    print(
        f"{name}: measured {result['top1']:.4f}, JSON {meta['test_accuracy']:.4f}, {result['samples']} images"
    )
    assert result["samples"] == 1000 * len(meta["classes"])
    assert abs(result["top1"] - meta["test_accuracy"]) <= TOLERANCE
    for got, want in zip(result["per_class"], meta["per_class_test_accuracy"], strict=True):
        assert abs(got - want) <= PER_CLASS_TOLERANCE
