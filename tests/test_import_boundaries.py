"""Import boundaries (STYLE.md §3), checked in fresh interpreters.

The torch-free packages load no ``torch``; only ``nnparts.index.hub`` loads ``huggingface_hub``; no bare
top-level ``client``/``index``/``registry``/``schemas`` module appears (code imports ``nnparts.*``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BARE = {"client", "index", "registry", "schemas"}
TORCH_FREE = [
    "nnparts.schemas",
    "nnparts.index",
    "nnparts.registry",
    "nnparts.client.resolve",
    "nnparts.client.cli",
    "nnparts.client",
]
NNPARTS = Path(sys.executable).parent / "nnparts"

_PROBE = """
import importlib, json, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
print(json.dumps(sorted(sys.modules)))
"""


def _loaded(*modules: str) -> set[str]:
    """Names in ``sys.modules`` after importing ``modules`` in a fresh interpreter run in the repo root."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *modules],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout))


def _top(names: set[str]) -> set[str]:
    return {n.split(".")[0] for n in names}


def _existing(names: list[str]) -> list[str]:
    return [n for n in names if importlib.util.find_spec(n) is not None]


@pytest.mark.parametrize("module", _existing(TORCH_FREE))
def test_torch_free_packages(module: str) -> None:
    top = _top(_loaded(module))
    assert "torch" not in top, f"importing {module} loaded torch"
    assert "huggingface_hub" not in top, f"importing {module} loaded huggingface_hub"
    assert not top & BARE, f"importing {module} loaded bare modules {sorted(top & BARE)}"


def test_registry_verbs_load_no_torch(tmp_path: Path) -> None:
    """Running ``nnparts list`` and ``nnparts search`` (resolving the lazy commands) stays torch-free."""
    probe = (
        "import sys\n"
        "from nnparts.client.cli import main\n"
        f"main.main(['list', '--registry', {str(tmp_path)!r}], standalone_mode=False)\n"
        "for name in ('publish', 'search', 'show', 'yank'):\n"
        "    main.get_command(None, name)\n"
        "assert not {m.split('.')[0] for m in sys.modules} & {'torch', 'huggingface_hub'}, 'heavy import'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr


def test_the_torch_free_exports_of_the_client_load_no_torch() -> None:
    """``nnparts.client`` exports its result types lazily: the registry side's come without torch."""
    import nnparts.client as package

    names = [
        "Client",
        "DecomposeSettings",
        "IndexEntry",
        "InstallResult",
        "Lockfile",
        "ModuleInfo",
        "Published",
    ]
    assert "torch" not in _top(_loaded(*{package._HOMES[n] for n in names}))


@pytest.mark.skipif(not NNPARTS.exists(), reason="the nnparts console script is not installed")
def test_help_loads_no_torch() -> None:
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}
    done = subprocess.run(
        [str(NNPARTS), "--help"], cwd=ROOT, capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "publish" in done.stdout and "search" in done.stdout
    imported = {
        line.rsplit("|", 1)[-1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "nnparts.client.cli._main" in imported  # the profile really covers the CLI
    top = _top(imported)
    assert not top & {"torch", "huggingface_hub"}
    assert not top & BARE


@pytest.mark.skipif(importlib.util.find_spec("nnparts.index.hub") is None, reason="no Hub backend yet")
def test_the_hub_backend_is_the_one_place_for_huggingface_hub() -> None:
    top = _top(_loaded("nnparts.index.hub"))
    assert "torch" not in top
    assert not top & BARE


@pytest.mark.parametrize("module", ["nnparts.client.pack", "nnparts.client.pack.build"])
def test_pack_is_below_extract(module: str) -> None:
    """``extract`` writes through ``pack``; ``pack`` never reaches back (no extract <-> pack cycle)."""
    loaded = _loaded(module)
    assert not {n for n in loaded if n.startswith("nnparts.client.extract")}, f"{module} loaded extract"
