"""The registry verbs through click's runner and through the installed ``nnparts`` executable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from fake_package import flip_byte, rewrite_manifest

from nnparts.client.cli import main

MakePackage = Callable[..., Path]
NNPARTS = Path(sys.executable).parent / "nnparts"


def _cli(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def _assert_user_error(result: Result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    assert "Traceback" not in result.output


@pytest.fixture
def published(registry_root: Path, make_package: MakePackage) -> Path:
    """NNPARTS_HOME with zoo/cat 1.0.0 and 1.1.0 and zoo/vehicles, published through the CLI."""
    for kwargs in (
        {"module_id": "zoo/cat", "classes": [("cat", ["kitty"])], "accuracy": 0.925, "density": 0.25},
        {"module_id": "zoo/cat", "version": "1.1.0", "classes": [("cat", ["kitty"])], "seed": 1},
        {"module_id": "zoo/vehicles", "classes": [("automobile", ["car"]), ("truck", [])]},
    ):
        result = _cli("publish", make_package(**kwargs))
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith(f"published {kwargs['module_id']}@")
    return registry_root


def test_search_prints_an_aligned_table(published: Path) -> None:
    result = _cli("search", "KITTY")
    assert result.exit_code == 0, result.output
    header, *rows = result.stdout.splitlines()
    assert header.split() == [
        "CLASS", "ID", "VERSION", "ORIGIN", "METHOD", "DENSITY", "ACCURACY", "SIZE", "PUBLISHED"
    ]  # fmt: skip
    assert [r.split()[:3] for r in rows] == [["cat", "zoo/cat", "1.0.0"], ["cat", "zoo/cat", "1.1.0"]]
    assert "25.0%" in rows[0] and "92.5%" in rows[0] and "KiB" in rows[0]
    for row in rows:  # aligned columns: left-aligned text, right-aligned numbers
        assert header.index("ID") == row.index("zoo/cat")
        assert header.index("ORIGIN") == row.index("resnet20-cifar10")
        assert header.index("SIZE") + len("SIZE") == row.index("KiB") + len("KiB")


def test_search_json_and_yank(published: Path) -> None:
    result = _cli("yank", "zoo/cat", "--reason", "mislabelled")
    assert result.exit_code == 0 and result.stdout.strip().endswith(
        "zoo/cat@1.1.0 in " + str(published) + ": mislabelled"
    )
    live = json.loads(_cli("search", "cat", "--json").stdout)
    assert [(e["id"], e["version"]) for e in live] == [("zoo/cat", "1.0.0")]
    everything = json.loads(_cli("search", "cat", "--json", "--all").stdout)
    assert [e["yanked"] for e in everything] == [False, True]
    assert everything[1]["yank_reason"] == "mislabelled"
    assert "1.1.0 (yanked)" in _cli("search", "cat", "--all").stdout
    listing = _cli("list").stdout.splitlines()
    assert [line.split()[:2] for line in listing[1:]] == [
        ["zoo/cat", "1.0.0"],
        ["zoo/cat", "1.1.0"],
        ["zoo/vehicles", "1.0.0"],
    ]
    assert "(yanked)" in listing[2]
    assert "automobile,truck" in listing[3]


def test_show(published: Path) -> None:
    result = _cli("show", "zoo/cat", "--version", "1.0.0")
    assert result.exit_code == 0, result.output
    fields = dict(line.split(None, 1) for line in result.stdout.splitlines())
    assert fields["id"] == "zoo/cat" and fields["version"] == "1.0.0"
    assert fields["classes"] == "cat (aliases: kitty)"
    assert fields["accuracy"] == "92.5% on test (1000 samples)"
    assert fields["input"] == "3x32x32" and fields["license"] == "MIT"
    doc = json.loads(_cli("show", "zoo/cat", "--json").stdout)
    assert doc["entry"]["version"] == "1.1.0"  # latest
    assert doc["manifest"]["id"] == "zoo/cat" and doc["manifest"]["files"]


def test_list_json_and_registry_option(published: Path, tmp_path: Path, make_package: MakePackage) -> None:
    assert len(json.loads(_cli("list", "--json").stdout)) == 3
    other = tmp_path / "other-registry"
    assert (
        _cli(
            "publish", make_package(module_id="zoo/dog", classes=[("dog", [])]), "--registry", other
        ).exit_code
        == 0
    )
    assert [e["id"] for e in json.loads(_cli("list", "--json", "--registry", other).stdout)] == ["zoo/dog"]
    assert len(json.loads(_cli("list", "--json").stdout)) == 3  # NNPARTS_HOME untouched


def test_empty_registry(registry_root: Path) -> None:
    result = _cli("list")
    assert result.exit_code == 0 and result.stdout == "" and "no modules in" in result.stderr
    assert json.loads(_cli("list", "--json").stdout) == []


def test_user_errors_are_one_line_and_exit_2(
    published: Path, make_package: MakePackage, tmp_path: Path
) -> None:
    _assert_user_error(_cli("search", "kat"), "unknown class 'kat'", "did you mean: cat?")
    _assert_user_error(_cli("show", "zoo/cow"), "no module 'zoo/cow'")
    _assert_user_error(_cli("show", "zoo/cat", "--version", "9.0.0"), "published versions: 1.0.0, 1.1.0")
    _assert_user_error(_cli("yank", "zoo/cow"), "zoo/cow")
    _assert_user_error(_cli("publish", tmp_path / "missing"), "no such file or directory")
    _assert_user_error(_cli("publish", make_package(module_id="zoo/cat", seed=7)), "already published")
    corrupt = make_package(module_id="zoo/bird", classes=[("bird", [])])
    flip_byte(corrupt / "weights.safetensors")
    _assert_user_error(_cli("publish", corrupt), "sha256 mismatch", "weights.safetensors")
    malformed = make_package(module_id="zoo/bird", classes=[("bird", [])])
    rewrite_manifest(malformed, version="v1")
    _assert_user_error(_cli("publish", malformed), "invalid document at /version")
    _assert_user_error(_cli("list", "--registry", "ftp://example.org"), "unsupported registry URL")


def _run(*args: str | Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NNPARTS_HOME": str(home)}
    return subprocess.run(
        [str(NNPARTS), *map(str, args)], capture_output=True, text=True, env=env, timeout=60, check=False
    )


@pytest.mark.skipif(not NNPARTS.exists(), reason="the nnparts console script is not installed")
def test_real_subprocess(registry_root: Path, make_package: MakePackage) -> None:
    package = make_package(module_id="zoo/cat", classes=[("cat", ["kitty"])])
    done = _run("publish", package, home=registry_root)
    assert done.returncode == 0 and done.stdout.startswith("published zoo/cat@1.0.0"), done.stderr
    found = _run("search", "Kitty", "--json", home=registry_root)
    assert found.returncode == 0, found.stderr
    assert [e["id"] for e in json.loads(found.stdout)] == ["zoo/cat"]
    bad = _run("search", "kitten", home=registry_root)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.splitlines() == ["error: unknown class 'kitten'; did you mean: cat?"]
    corrupt = make_package(module_id="zoo/dog", classes=[("dog", [])])
    flip_byte(corrupt / "weights.safetensors")
    refused = _run("publish", corrupt, home=registry_root)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert len(refused.stderr.splitlines()) == 1 and "sha256 mismatch" in refused.stderr
