"""The CLI stands on :class:`~nnparts.client.Client`: a command and its method behave alike, and
``-q``/``--json`` mean the same on every computing command."""

from __future__ import annotations

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
