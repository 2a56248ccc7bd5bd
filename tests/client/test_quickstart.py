"""The README's main command at toy scale: end to end, complete, and the same in every process."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from nnparts.client.quickstart import run_quickstart
from nnparts.index import DirectoryIndex


def _run(tmp: Path, registry: Path | None = None, tune_epochs: float = 0.5) -> dict[str, Any]:
    index = DirectoryIndex(registry or tmp / "registry")
    report = run_quickstart(
        tmp / "work", index, epochs=2, tune_epochs=tune_epochs, progress=False, log=lambda *_: None
    )
    out = asdict(report)
    for key in ("timings", "lock", "assembly"):
        out.pop(key)
    return out


def test_quickstart_publishes_ten_modules_and_assembles_them_reproducibly(tmp_path: Path) -> None:
    first = _run(tmp_path / "a")
    assert set(first["origins"]) == {"digits-0to4", "digits-5to9"}
    assert sorted(first["modules"]) == [str(d) for d in range(10)]
    assert {m["origin"] for m in first["modules"].values()} == {"digits-0to4", "digits-5to9"}
    assert 0.0 < first["scratch"] <= 1.0
    assert (tmp_path / "a" / "work" / "nnparts.lock").is_file()
    assert len(list((tmp_path / "a" / "registry").rglob("manifest.json"))) >= 10
    # every random draw is seeded (the weight init included: this torch seeds itself per process),
    # so a second run gives the very same origins, modules, assembly and baseline
    assert _run(tmp_path / "b") == first


def test_quickstart_runs_again_into_a_registry_holding_other_bytes(tmp_path: Path) -> None:
    registry = tmp_path / "registry"
    _run(tmp_path / "a", registry)
    _run(tmp_path / "b", registry, tune_epochs=0.7)  # other search settings: other module bytes, same ids
    versions: dict[str, set[str]] = {}
    for e in DirectoryIndex(registry).list():
        versions.setdefault(e.id, set()).add(e.version)
    assert all("1.0.0" in v for v in versions.values())
    assert any(v == {"1.0.0", "1.0.1"} for v in versions.values())  # published next to, not over, 1.0.0
