"""Resolver cases as data files: inputs plus the expected pick or error (tests/data/resolver/*.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nnparts.client.resolve import Constraints, Source, explain, resolve
from nnparts.schemas import errors
from nnparts.schemas.index_entry import IndexedClass, IndexEntry

CASES = sorted((Path(__file__).parents[1] / "data" / "resolver").glob("*.json"))


def _entry(d: dict[str, Any]) -> IndexEntry:
    return IndexEntry(
        id=d["id"],
        version=d["version"],
        kind=d["kind"],
        classes=tuple(IndexedClass(c["name"], tuple(c["aliases"])) for c in d["classes"]),
        origin=d["origin"],
        dataset="synthetic",
        method="channel",
        granularity="channel",
        density=d["density"],
        accuracy=d["accuracy"],
        bytes=d["bytes"],
        input=tuple(d["input"]),
        manifest_sha256="0" * 64,
        published="2026-01-01T00:00:00Z",
        location=f"packages/{d['id']}@{d['version']}",
        yanked=d["yanked"],
    )


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_resolver_case(path: Path) -> None:
    case = json.loads(path.read_text())
    sources = [
        Source(name, f"file:///{name}", tuple(_entry(e) for e in entries))
        for name, entries in case["registries"].items()
    ]
    raw = case.get("constraints", {})
    constraints = Constraints(
        min_accuracy=raw.get("min_accuracy", 0.0),
        max_density=raw.get("max_density", 1.0),
        prefer=raw.get("prefer"),
        input=tuple(raw["input"]) if "input" in raw else None,
    )
    if "error" in case:
        with pytest.raises(getattr(errors, case["error"])) as info:
            resolve(case["requested"], sources, constraints)
        assert case["message"] in str(info.value)
        return
    plan = resolve(case["requested"], sources, constraints)
    assert {p.requested: p.entry.ref for p in plan.picks} == case["expect"]
    lines = explain(plan)
    assert all(any(p.entry.ref in line for line in lines) for p in plan.picks)


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 12


def test_version_order_is_numeric_and_puts_pre_releases_first() -> None:
    from nnparts.client.resolve.policy import version_key

    ordered = ["0.9.0", "1.0.0-rc1", "1.0.0", "1.0.0+build7", "1.0.9", "1.0.10", "2.0.0"]
    assert sorted(ordered, key=version_key)[:2] == ["0.9.0", "1.0.0-rc1"]
    assert sorted(ordered, key=version_key)[-3:] == ["1.0.9", "1.0.10", "2.0.0"]
    assert version_key("1.0.0") < version_key("1.0.0+build7")  # one order with nnparts.index.search
