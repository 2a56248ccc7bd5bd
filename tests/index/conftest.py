"""Fixtures for registry tests: an isolated NNPARTS_HOME, a DirectoryIndex on it, package factories."""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

_HELPERS = str(Path(__file__).resolve().parents[1] / "helpers")
if _HELPERS not in sys.path:
    sys.path.insert(0, _HELPERS)

from fake_package import write_package  # noqa: E402
from hub_server import HubServer  # noqa: E402

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


# -- Hub registry: a real ``nnparts serve`` process and an isolated Hub client environment ---------


@pytest.fixture(scope="module")
def hub_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubServer]:
    """One open registry server per test module; tests keep apart by using their own namespace."""
    server = HubServer(tmp_path_factory.mktemp("hub-root"))
    yield server
    server.stop()


@pytest.fixture
def hub_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No HF token, a private HF_HOME and NNPARTS_HOME (returned); children inherit all of it."""
    home = tmp_path / "nnparts-home"
    monkeypatch.setenv("NNPARTS_HOME", str(home))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setenv("HF_TOKEN", "")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    for name in [n for n in os.environ if n.startswith("NNPARTS_TOKEN_")]:
        monkeypatch.delenv(name)
    return home


@pytest.fixture
def hub_url(hub_server: HubServer, hub_env: Path, request: pytest.FixtureRequest) -> str:
    """``<endpoint>#<namespace>``: a namespace of its own for each test on the shared server."""
    digest = hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:10]
    return f"{hub_server.endpoint}#t-{digest}"
