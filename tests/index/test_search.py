"""Pure query functions: version order, version selection, nearest class names."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import pytest

from nnparts.index.search import (
    known_classes,
    nearest_classes,
    nearest_names,
    select_version,
    sort_entries,
    version_key,
)
from nnparts.schemas.errors import ModuleNotFound
from nnparts.schemas.index_entry import IndexedClass, IndexEntry


def _entry(module_id: str, version: str, *classes: IndexedClass, yanked: bool = False) -> IndexEntry:
    return IndexEntry(
        id=module_id,
        version=version,
        kind="class_module",
        classes=classes or (IndexedClass("cat", ("kitty",)),),
        origin="o",
        dataset="d",
        method="channel",
        granularity="channel",
        density=0.5,
        accuracy=0.9,
        bytes=10,
        input=(3, 32, 32),
        manifest_sha256=hashlib.sha256(f"{module_id}@{version}".encode()).hexdigest(),
        published="2026-01-02T03:04:05Z",
        location=f"packages/{module_id}@{version}",
        yanked=yanked,
    )


def test_version_key_orders_numerically_with_prereleases_first() -> None:
    versions = ["1.10.0", "1.2.0", "1.2.0+build.1", "1.2.0-rc.1", "0.9.9", "1.2.0-alpha", "10.0.0"]
    assert sorted(versions, key=version_key) == [
        "0.9.9",
        "1.2.0-alpha",
        "1.2.0-rc.1",
        "1.2.0",
        "1.2.0+build.1",
        "1.10.0",
        "10.0.0",
    ]


def test_sort_entries_by_id_then_version() -> None:
    entries = [_entry("b", "1.0.0"), _entry("a", "1.10.0"), _entry("a", "1.9.0")]
    assert [e.ref for e in sort_entries(entries)] == ["a@1.9.0", "a@1.10.0", "b@1.0.0"]


def test_select_version() -> None:
    entries = [_entry("a", "1.0.0"), _entry("a", "2.0.0", yanked=True), _entry("a", "1.5.0")]
    assert select_version(entries, "a").version == "1.5.0"
    assert select_version(entries, "a", "2.0.0").yanked
    with pytest.raises(ModuleNotFound, match=r"published versions: 1\.0\.0, 1\.5\.0, 2\.0\.0"):
        select_version(entries, "a", "3.0.0")
    with pytest.raises(ModuleNotFound) as info:
        select_version(entries, "b")
    assert info.value.ref == "b"


def test_nearest_classes_uses_names_and_aliases_and_returns_canonical_names() -> None:
    entries = [
        _entry("m/car", "1.0.0", IndexedClass("automobile", ("car", "auto"))),
        _entry("m/cat", "1.0.0", IndexedClass("cat", ("kitty",))),
        _entry("m/cab", "1.0.0", IndexedClass("cab", ())),
    ]
    assert set(nearest_classes("cax", entries)) == {"automobile", "cat", "cab"}
    assert nearest_classes("AUTOMOBLE", entries) == ["automobile"]
    assert nearest_classes("kitten", entries) == ["cat"]
    assert nearest_classes("zebra", entries) == []
    assert len(nearest_classes("ca", entries, limit=2)) <= 2


def test_nearest_names_is_the_one_suggester_for_plain_names_and_spellings() -> None:
    assert nearest_names("Kat", ["cat", "dog", "deer"]) == ["cat"]  # case-insensitive, canonical out
    assert nearest_names(" DOGG ", ("cat", "dog")) == ["dog"]
    assert nearest_names("zebra", ["cat", "dog"]) == []
    assert nearest_names("car", {"car": "automobile", "automobile": "automobile", "cat": "cat"}) == [
        "automobile",
        "cat",
    ]
    assert len(nearest_names("ca", ["cab", "cat", "car", "can"], limit=2)) == 2


def test_known_classes_are_unique_and_sorted() -> None:
    entries = [
        _entry("a", "1.0.0", IndexedClass("dog", ()), IndexedClass("Cat", ())),
        _entry("b", "1.0.0", IndexedClass("bird", ()), IndexedClass("dog", ())),
    ]
    assert known_classes(entries) == ["bird", "Cat", "dog"]


def test_one_version_order_serves_registries_and_the_resolver() -> None:
    from nnparts.client.resolve import policy

    assert policy.version_key is version_key
    assert version_key("1.0.0") < version_key("1.0.0+b1") < version_key("1.0.1-rc.1") < version_key("1.0.1")
    assert version_key("1.0.0-rc.2") < version_key("1.0.0-rc.10")  # numeric identifiers numerically


def test_lock_location_parses_what_each_backend_writes(tmp_path: Path) -> None:
    from nnparts.index import DirectoryIndex
    from nnparts.index.hub import HubIndex

    entry = _entry("ns/cat", "1.0.0")
    assert DirectoryIndex(tmp_path).lock_location(entry) == ("", entry.location)
    commit = "a" * 40
    hub_entry = replace(entry, location=f"ns/origin@{commit}/modules/ns/cat/1.0.0")
    hub = HubIndex.__new__(HubIndex)
    assert hub.lock_location(hub_entry) == ("ns/origin", "modules/ns/cat/1.0.0")
