"""Fixtures for registry tests: an isolated NNPARTS_HOME, a DirectoryIndex on it, package factories."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

_HELPERS = str(Path(__file__).resolve().parents[1] / "helpers")
if _HELPERS not in sys.path:
    sys.path.insert(0, _HELPERS)

from fake_package import write_package  # noqa: E402

from nnparts.index import DirectoryIndex  # noqa: E402

PUBLISHED = "2026-01-02T03:04:05Z"


@pytest.fixture
def registry_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty registry folder, also exported as NNPARTS_HOME for code that reads the default."""
    root = tmp_path / "registry"
    monkeypatch.setenv("NNPARTS_HOME", str(root))
    return root


@pytest.fixture
def index(registry_root: Path) -> DirectoryIndex:
    return DirectoryIndex(registry_root, clock=lambda: PUBLISHED)


@pytest.fixture
def make_package(tmp_path: Path) -> Callable[..., Path]:
    """``make_package(module_id=..., version=..., classes=..., accuracy=...)`` -> a fresh package folder."""

    made: list[Path] = []

    def make(**kwargs: Any) -> Path:
        module_id = kwargs.get("module_id", "toy/cat")
        version = kwargs.get("version", "1.0.0")
        dest = tmp_path / "packages" / f"{len(made)}-{module_id.replace('/', '__')}@{version}"
        made.append(dest)
        return write_package(dest, **kwargs)

    return make
