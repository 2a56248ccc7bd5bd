"""open_index maps --registry values to backends; the package exports exactly its public names."""

from __future__ import annotations

from pathlib import Path

import pytest

import nnparts.index
from nnparts.index import DirectoryIndex, IndexBackend, default_home, open_index
from nnparts.schemas.errors import UsageError


def test_none_means_nnparts_home(registry_root: Path) -> None:
    backend = open_index(None)
    assert isinstance(backend, DirectoryIndex) and backend.root == registry_root
    assert default_home() == registry_root


def test_default_home_without_the_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("NNPARTS_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_home() == tmp_path / ".cache" / "nnparts"
    monkeypatch.setenv("NNPARTS_HOME", "")
    assert default_home() == tmp_path / ".cache" / "nnparts"


def test_paths_and_file_urls(tmp_path: Path) -> None:
    for spec in (tmp_path / "r", str(tmp_path / "r"), (tmp_path / "r").as_uri()):
        backend = open_index(spec)
        assert isinstance(backend, DirectoryIndex) and backend.root == tmp_path / "r"
        assert backend.url == (tmp_path / "r").as_uri() and backend.name == str(tmp_path / "r")


def test_unsupported_schemes_and_empty_paths_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="unsupported registry URL"):
        open_index("ftp://example.org/registry")
    with pytest.raises(UsageError, match="empty registry path"):
        open_index("  ")


def test_hub_urls_open_the_hub_backend() -> None:
    backend = open_index("http://127.0.0.1:9/")
    assert isinstance(backend, IndexBackend) and type(backend).__name__ == "HubIndex"


def test_exported_members() -> None:
    public = {n for n in vars(nnparts.index) if not n.startswith("_")} - {"base", "local", "search", "hub"}
    assert sorted(nnparts.index.__all__) == sorted(public)
