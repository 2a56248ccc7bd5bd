"""Suite-wide isolation: a temporary NNPARTS_HOME, HF_HOME and caches; no tokens; 2 CPU threads."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
HELPERS = str(REPO / "tests" / "helpers")
if HELPERS not in sys.path:
    sys.path.insert(0, HELPERS)


def pytest_configure(config: pytest.Config) -> None:
    """One intra-op thread per test process: the suite runs as 2 xdist workers on 2 cores, and small
    networks are faster single-threaded than with threads contending for the same cores."""
    import torch

    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path_factory.mktemp("env")
    monkeypatch.setenv("NNPARTS_HOME", str(home / "nnparts"))
    monkeypatch.setenv("HF_HOME", str(home / "hf"))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    monkeypatch.setenv("HF_TOKEN", "")
    monkeypatch.setenv("OMP_NUM_THREADS", "2")


def shared_path(*parts: str) -> Path:
    """A path under ../shared, skipping the test with a clear reason when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs {path} (the shared fixtures and data folder beside the repository)")
    return path
