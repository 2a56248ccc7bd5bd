"""Bad input as a new user (or a hostile registry) gives it, as data: ``tests/data/bad_input/*.json``.

Each case is ``{"argv": [...], "stderr_contains": "..."}``; ``{tmp}`` is a fresh folder, ``{file}`` an
existing plain file and ``{pkg:VARIANT}`` a module package whose ``graph.json`` is damaged as
:data:`HOSTILE` says. The rule: exit code 2, one line on stderr naming the problem, no traceback.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fake_package import write_package

from nnparts.client.cli import main
from nnparts.schemas.integrity import pretty_json, sha256_file

CASES_DIR = Path(__file__).resolve().parents[1] / "data" / "bad_input"
CASES = sorted(CASES_DIR.glob("*.json"))


def _conv(graph: dict[str, Any]) -> dict[str, Any]:
    node: dict[str, Any] = graph["nodes"][0]
    return node


HOSTILE: dict[str, Callable[[dict[str, Any]], None]] = {
    "unknown_op": lambda g: g["nodes"][1].update(op="unknown_op"),
    "cycle": lambda g: g["nodes"][0].update(inputs=["fc"]),
    "dangling": lambda g: g["nodes"][1].update(inputs=["nowhere"]),
    "huge_channels": lambda g: _conv(g)["attrs"].update(out_channels=10**12),
    "shape_mismatch": lambda g: _conv(g)["attrs"].update(in_channels=5),
    "duplicate": lambda g: g["nodes"][1].update(name="conv"),
}


def _hostile_package(dest: Path, variant: str) -> Path:
    root = write_package(dest)
    graph = json.loads((root / "graph.json").read_bytes())
    HOSTILE[variant](graph)
    (root / "graph.json").write_bytes(pretty_json(graph))
    manifest = json.loads((root / "manifest.json").read_bytes())
    for f in manifest["files"]:
        if f["path"] == "graph.json":
            f["sha256"], f["bytes"] = sha256_file(root / "graph.json"), (root / "graph.json").stat().st_size
    (root / "manifest.json").write_bytes(pretty_json(manifest))
    return root


def _expand(arg: str, tmp: Path) -> str:
    if arg.startswith("{pkg:"):
        variant = arg[len("{pkg:") : -1]
        return str(_hostile_package(tmp / f"pkg-{variant}", variant))
    return arg.replace("{tmp}", str(tmp)).replace("{file}", str(tmp / "a-file.txt"))


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 15


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_bad_input_gives_one_line_and_exit_2(case: Path, tmp_path: Path) -> None:
    spec = json.loads(case.read_text(encoding="utf-8"))
    (tmp_path / "a-file.txt").write_text("not a folder\n")
    argv = [_expand(a, tmp_path) for a in spec["argv"]]
    result = CliRunner().invoke(main, argv)
    stderr = result.stderr
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 or lines[-1].startswith("Error:"), stderr  # ours, or click's usage block
    assert spec["stderr_contains"] in stderr, stderr
