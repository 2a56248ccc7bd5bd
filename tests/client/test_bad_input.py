"""Bad input as a new user (or a hostile registry) gives it, as data: ``tests/data/bad_input/*.json``.

Each case is ``{"argv": [...], "stderr_contains": "..."}``; ``{tmp}`` is a fresh folder, ``{file}`` an
existing plain file, ``{pkg:VARIANT}`` a module package whose ``graph.json`` is damaged as
:data:`HOSTILE` says (``{pkg:ok}``: intact) and ``{png:WxH}`` a PNG whose header claims WxH pixels.
The rule: exit code 2, one line on stderr naming the problem, no traceback, and nothing at the
paths in ``not_created``.
"""

from __future__ import annotations

import json
import struct
import zlib
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
    "ok": lambda g: None,
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


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_header(path: Path, width: int, height: int) -> Path:
    """A 1-bit PNG that claims ``width`` x ``height`` pixels (header and an empty IDAT: bytes, not RAM)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    body = _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"")) + _chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)
    return path


def _expand(arg: str, tmp: Path) -> str:
    if arg.startswith("{png:"):
        w, h = (int(v) for v in arg[len("{png:") : -1].split("x"))
        return str(_png_header(tmp / f"{w}x{h}.png", w, h))
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
    for path in spec.get("not_created", []):
        assert not Path(_expand(path, tmp_path)).exists(), path


def test_16_bit_grayscale_is_scaled_not_clipped(tmp_path: Path) -> None:
    """A digit saved as a 16-bit PNG reads back as the 8-bit digit (it was clipped to white: "0" -> "4")."""
    import numpy as np
    from PIL import Image

    from nnparts.client.data._formats import open_image, read_digits, to_8bit

    raw = read_digits()
    zero = raw.train_x[int(np.flatnonzero(raw.train_y == 0)[0])][..., 0]
    Image.fromarray(zero.astype(np.uint16) * 257).save(tmp_path / "zero16.png")
    with open_image(tmp_path / "zero16.png") as img:
        assert img.mode.startswith("I")
        got = to_8bit(img)
    assert got.dtype == np.uint8 and got.shape == zero.shape
    assert np.array_equal(got, zero)
    with open_image(tmp_path / "zero16.png") as img:
        assert np.array_equal(to_8bit(img, "RGB"), np.repeat(zero[..., None], 3, axis=2))


def test_progress_bars_only_on_a_terminal(tmp_path: Path) -> None:
    """-q, and stderr that is not a terminal (a log, a pipe, CliRunner), both switch the bars off."""
    import click

    from nnparts.client.cli._options import quiet_option
    from nnparts.client.progress import progress_wanted

    seen: list[bool] = []

    @click.command()
    @quiet_option
    def probe(quiet: bool) -> None:
        seen.append(quiet)

    for argv in ([], ["-q"]):
        assert CliRunner().invoke(probe, argv).exit_code == 0
    assert seen == [True, True]
    assert not progress_wanted(False)  # pytest captures stderr: not a terminal
