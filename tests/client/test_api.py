"""The README's "Python API" example runs as written: a user's own CNN in, an assembled model out."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def _python_api_example() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Python API", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert blocks, "the README's Python API section has no python block"
    return blocks[0]


def test_readme_python_example_runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    code = compile(_python_api_example(), str(README) + ":python-api", "exec")
    namespace: dict[str, object] = {"__name__": "readme_example"}
    exec(code, namespace)
    from nnparts.client import Client, Evaluation

    client = namespace["client"]
    assert isinstance(client, Client)
    report = namespace["report"]
    assert isinstance(report, Evaluation) and report.latency_ms is not None
    assert (tmp_path / "home").exists() or any(tmp_path.iterdir())


def test_client_is_lazy_and_exported() -> None:
    import nnparts.client as package

    assert {"Client", "Evaluation", "Origin", "Package"} <= set(package.__all__)
    with pytest.raises(AttributeError):
        package.Nope  # noqa: B018
