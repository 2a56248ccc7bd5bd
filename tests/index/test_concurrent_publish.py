"""Concurrent publishers (real processes) never lose an update nor corrupt the index."""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Callable
from multiprocessing.synchronize import Event
from pathlib import Path

import pytest

from nnparts.index import DirectoryIndex
from nnparts.schemas.errors import RegistryError
from nnparts.schemas.package import verify_package

N = 8
OK, REFUSED = 0, 3


def _publish_all(root: Path, packages: list[Path], start: Event) -> None:
    """Child process: wait for the start signal, publish, exit OK or REFUSED (1 on anything else)."""
    start.wait(30)
    try:
        for package in packages:
            DirectoryIndex(root).publish(package)
    except RegistryError:
        sys.exit(REFUSED)
    sys.exit(OK)


def _run(root: Path, jobs: list[list[Path]]) -> list[int | None]:
    ctx = multiprocessing.get_context("fork")
    start = ctx.Event()
    procs = [ctx.Process(target=_publish_all, args=(root, job, start)) for job in jobs]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(60)
    return [p.exitcode for p in procs]


@pytest.mark.skipif(sys.platform == "win32", reason="fork and flock are POSIX")
def test_eight_publishers_leave_eight_valid_entries(
    registry_root: Path, make_package: Callable[..., Path]
) -> None:
    shared = make_package(module_id="zoo/shared", classes=[("bird", [])])
    distinct = [make_package(module_id=f"zoo/m{i}", classes=[(f"class{i}", [f"alias{i}"])]) for i in range(N)]
    # each process publishes its own module, then the same shared package as everyone else
    codes = _run(registry_root, [[package, shared] for package in distinct])
    assert codes == [OK] * N

    index = DirectoryIndex(registry_root)
    entries = index.list()
    assert sorted(e.id for e in entries) == sorted([f"zoo/m{i}" for i in range(N)] + ["zoo/shared"])
    for entry in entries:
        verify_package(index.root / entry.location)
    for i in range(N):
        assert [e.id for e in index.search(f"ALIAS{i}")] == [f"zoo/m{i}"]
    assert not list((registry_root / "packages").glob(".staging-*"))
    assert not list((registry_root / "index").glob(".entries.*"))


@pytest.mark.skipif(sys.platform == "win32", reason="fork and flock are POSIX")
def test_racing_different_content_for_one_version_has_one_winner(
    registry_root: Path, make_package: Callable[..., Path]
) -> None:
    rivals = [make_package(module_id="zoo/cat", seed=i) for i in range(N)]
    codes = _run(registry_root, [[package] for package in rivals])
    assert sorted(codes) == [OK] + [REFUSED] * (N - 1)
    index = DirectoryIndex(registry_root)
    [entry] = index.list()
    winner = rivals[codes.index(OK)]
    assert (winner / "manifest.json").read_bytes() == (
        index.root / entry.location / "manifest.json"
    ).read_bytes()
    verify_package(index.root / entry.location)
