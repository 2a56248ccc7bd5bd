"""Flags every user meets: ``install --json`` (plain and ``--frozen``) prints one JSON document."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fake_package import write_package
from trust_keys import cli


def test_install_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NNPARTS_HOME", str(tmp_path / "home"))
    registry, lock = tmp_path / "registry", tmp_path / "nnparts.lock"
    package = write_package(tmp_path / "src", module_id="zoo/cat", classes=[("cat", [])])
    assert cli("publish", package, "--registry", registry).exit_code == 0
    result = cli("install", "cat", "--registry", registry, "--lock", lock, "--json", "--explain")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["lock"] == str(lock) and doc["fetched"] == 1 and lock.is_file()
    assert [p["class"] for p in doc["picks"]] == ["cat"] and doc["picks"][0]["module"].startswith("zoo/cat")
    assert isinstance(doc["explain"], list)
    frozen = cli("install", "--frozen", "--lock", lock, "--json")
    assert frozen.exit_code == 0, frozen.output
    assert json.loads(frozen.stdout) == {"lock": str(lock), "installed": 1, "fetched": 0}
