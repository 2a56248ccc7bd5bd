"""DirectoryIndex end to end: publish, search, get, list, yank, fetch, and every refusal."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from fake_package import flip_byte, rewrite_manifest

from nnparts.index import DirectoryIndex
from nnparts.schemas.errors import (
    FileMissing,
    IntegrityError,
    ManifestError,
    ModuleNotFound,
    RegistryError,
    UnknownClass,
)
from nnparts.schemas.integrity import pretty_json, sha256_file
from nnparts.schemas.package import manifest_sha256, verify_package

MakePackage = Callable[..., Path]


@pytest.fixture
def zoo(index: DirectoryIndex, make_package: MakePackage) -> DirectoryIndex:
    """Four modules: cat (two versions), dog, and a two-class vehicles module."""
    index.publish(make_package(module_id="zoo/cat", classes=[("cat", ["kitty", "Felis"])], accuracy=0.91))
    index.publish(make_package(module_id="zoo/cat", version="1.1.0", classes=[("cat", ["kitty"])], seed=1))
    index.publish(make_package(module_id="zoo/dog", classes=[("dog", ["puppy"])], accuracy=0.8))
    index.publish(make_package(module_id="zoo/vehicles", classes=[("automobile", ["car"]), ("truck", [])]))
    return index


def test_publish_stores_the_package_and_its_entry(index: DirectoryIndex, make_package: MakePackage) -> None:
    package = make_package(module_id="zoo/cat", classes=[("cat", ["kitty"])], accuracy=0.93, density=0.25)
    entry = index.publish(package)
    assert entry.ref == "zoo/cat@1.0.0"
    assert entry.manifest_sha256 == manifest_sha256(package)
    assert (entry.accuracy, entry.density, entry.published) == (0.93, 0.25, "2026-01-02T03:04:05Z")
    stored = index.root / entry.location
    assert stored == index.root / "packages" / "zoo" / "cat@1.0.0"
    assert sorted(p.name for p in stored.iterdir()) == ["graph.json", "manifest.json", "weights.safetensors"]
    verify_package(stored)
    assert [e.ref for e in DirectoryIndex(index.root).list()] == ["zoo/cat@1.0.0"]  # persisted
    assert not list((index.root / "packages").glob(".staging-*"))


def test_search_matches_names_and_aliases_case_insensitively(zoo: DirectoryIndex) -> None:
    for query in ("cat", "CAT", "Kitty", " kitty "):
        assert [e.ref for e in zoo.search(query)] == ["zoo/cat@1.0.0", "zoo/cat@1.1.0"], query
    assert [e.ref for e in zoo.search("FELIS")] == ["zoo/cat@1.0.0"]  # only 1.0.0 has that alias
    assert [e.ref for e in zoo.search("CAR")] == ["zoo/vehicles@1.0.0"]
    assert [e.ref for e in zoo.search("truck")] == ["zoo/vehicles@1.0.0"]


@pytest.mark.parametrize(("query", "nearest"), [("kat", ["cat"]), ("pupy", ["dog"]), ("trucks", ["truck"])])
def test_unknown_class_lists_the_nearest_names(zoo: DirectoryIndex, query: str, nearest: list[str]) -> None:
    with pytest.raises(UnknownClass) as info:
        zoo.search(query)
    assert info.value.class_name == query
    assert info.value.nearest[: len(nearest)] == nearest  # "pupy" is close to the alias "puppy" of dog
    assert f"did you mean: {nearest[0]}" in str(info.value)


def test_require_class(zoo: DirectoryIndex) -> None:
    zoo.require_class("Kitty")
    with pytest.raises(UnknownClass) as info:
        zoo.require_class("zebra")
    assert info.value.nearest == []
    assert "no similar class is published" in str(info.value)


def test_an_empty_registry_knows_no_class(index: DirectoryIndex) -> None:
    assert index.list() == [] and index.known_classes() == []
    with pytest.raises(UnknownClass):
        index.search("cat")
    with pytest.raises(ModuleNotFound):
        index.get("zoo/cat")
    assert not index.root.exists()  # reads never create the registry


def test_get_picks_the_latest_version_or_the_named_one(zoo: DirectoryIndex) -> None:
    assert zoo.get("zoo/cat").version == "1.1.0"
    assert zoo.get("zoo/cat", "1.0.0").version == "1.0.0"
    with pytest.raises(ModuleNotFound, match=r"zoo/cat@9\.9\.9.*published versions: 1\.0\.0, 1\.1\.0"):
        zoo.get("zoo/cat", "9.9.9")
    with pytest.raises(ModuleNotFound, match="zoo/cow"):
        zoo.get("zoo/cow")


def test_versions_order_numerically(index: DirectoryIndex, make_package: MakePackage) -> None:
    for version in ("1.10.0", "1.9.0", "1.10.0-rc1", "1.2.0"):
        index.publish(make_package(module_id="zoo/cat", version=version))
    assert [e.version for e in index.list()] == ["1.2.0", "1.9.0", "1.10.0-rc1", "1.10.0"]
    assert index.get("zoo/cat").version == "1.10.0"


def test_list_and_known_classes(zoo: DirectoryIndex) -> None:
    assert [e.ref for e in zoo.list()] == [
        "zoo/cat@1.0.0",
        "zoo/cat@1.1.0",
        "zoo/dog@1.0.0",
        "zoo/vehicles@1.0.0",
    ]
    assert zoo.known_classes() == ["automobile", "cat", "dog", "truck"]


def test_yank_hides_a_version_from_search_and_latest(zoo: DirectoryIndex) -> None:
    yanked = zoo.yank("zoo/cat", reason="wrong labels")
    assert (yanked.ref, yanked.yanked, yanked.yank_reason) == ("zoo/cat@1.1.0", True, "wrong labels")
    assert [e.ref for e in zoo.search("cat")] == ["zoo/cat@1.0.0"]
    assert [e.ref for e in zoo.search("cat", include_yanked=True)] == ["zoo/cat@1.0.0", "zoo/cat@1.1.0"]
    assert zoo.get("zoo/cat").version == "1.0.0"
    assert zoo.get("zoo/cat", "1.1.0").yanked  # an exact pin still resolves
    assert [e.yanked for e in zoo.list()] == [False, True, False, False]
    assert [e.ref for e in zoo.list(include_yanked=False)] == [
        "zoo/cat@1.0.0",
        "zoo/dog@1.0.0",
        "zoo/vehicles@1.0.0",
    ]
    assert DirectoryIndex(zoo.root).get("zoo/cat", "1.1.0").yank_reason == "wrong labels"  # persisted


def test_yank_every_version(zoo: DirectoryIndex) -> None:
    zoo.yank("zoo/dog")
    assert zoo.search("dog") == []  # known class, nothing live
    assert zoo.yank("zoo/dog", "1.0.0").yanked  # idempotent
    assert zoo.yank("zoo/dog", "1.0.0", reason="later reason").yank_reason == "later reason"
    with pytest.raises(ModuleNotFound, match="every version is yanked"):
        zoo.get("zoo/dog")
    with pytest.raises(ModuleNotFound, match="every version is yanked"):
        zoo.yank("zoo/dog")
    with pytest.raises(ModuleNotFound):
        zoo.yank("zoo/cow")


def test_duplicate_version_with_other_content_is_refused(
    index: DirectoryIndex, make_package: MakePackage
) -> None:
    first = index.publish(make_package(module_id="zoo/cat", seed=0))
    index.yank("zoo/cat")
    with pytest.raises(
        RegistryError, match=r"zoo/cat@1\.0\.0 is already published.*bump the version"
    ) as info:
        index.publish(make_package(module_id="zoo/cat", seed=1))
    assert "\n" not in str(info.value)
    assert index.list() == [first.with_yank("")]
    verify_package(index.root / first.location)  # the stored package is untouched


def test_publishing_identical_bytes_again_is_a_no_op(
    index: DirectoryIndex, make_package: MakePackage
) -> None:
    package = make_package(module_id="zoo/cat")
    first = index.publish(package)
    before = index.index_path.read_bytes()
    again = DirectoryIndex(index.root, clock=lambda: "2030-01-01T00:00:00Z").publish(
        make_package(module_id="zoo/cat")
    )
    assert again == first and again.published == "2026-01-02T03:04:05Z"
    assert index.index_path.read_bytes() == before


def test_a_flipped_byte_is_refused_at_publish(index: DirectoryIndex, make_package: MakePackage) -> None:
    package = make_package(module_id="zoo/cat")
    flip_byte(package / "weights.safetensors")
    with pytest.raises(IntegrityError, match="sha256 mismatch"):
        index.publish(package)
    assert index.list() == []
    assert not (index.root / "packages" / "zoo").exists()


def test_a_flipped_byte_in_the_registry_is_refused_at_fetch(zoo: DirectoryIndex, tmp_path: Path) -> None:
    entry = zoo.get("zoo/dog")
    flip_byte(zoo.root / entry.location / "weights.safetensors", offset=-1)
    dest = tmp_path / "fetched" / "dog"
    with pytest.raises(IntegrityError, match="sha256 mismatch"):
        zoo.fetch(entry, dest)
    assert not dest.exists()
    assert list(dest.parent.iterdir()) == []  # the staging folder is gone too


def test_a_consistently_tampered_registry_is_refused_at_fetch(zoo: DirectoryIndex, tmp_path: Path) -> None:
    """Corrupt weights plus a manifest rewritten to match them: the pinned manifest sha256 catches it."""
    entry = zoo.get("zoo/dog")
    stored = zoo.root / entry.location
    flip_byte(stored / "weights.safetensors", offset=-1)
    doc = json.loads((stored / "manifest.json").read_bytes())
    doc["files"] = [
        {**f, "sha256": sha256_file(stored / f["path"])} if f["path"] == "weights.safetensors" else f
        for f in doc["files"]
    ]
    (stored / "manifest.json").write_bytes(pretty_json(doc))
    verify_package(stored)  # self-consistent, yet not what the index pinned
    with pytest.raises(IntegrityError, match="the index pins"):
        zoo.fetch(entry, tmp_path / "dog")
    with pytest.raises(IntegrityError, match="the index pins"):
        zoo.manifest(entry)
    assert not (tmp_path / "dog").exists()


def test_fetch_copies_a_verified_package(zoo: DirectoryIndex, tmp_path: Path) -> None:
    entry = zoo.get("zoo/vehicles")
    dest = zoo.fetch(entry, tmp_path / "out" / "vehicles")
    assert dest == tmp_path / "out" / "vehicles"
    assert manifest_sha256(dest) == entry.manifest_sha256
    assert verify_package(dest).class_names == ("automobile", "truck")
    assert zoo.fetch(entry, dest) == dest  # already there and intact: no-op
    other = zoo.get("zoo/dog")
    with pytest.raises(RegistryError, match=r"already exists and does not hold an intact zoo/dog@1\.0\.0"):
        zoo.fetch(other, dest)


def test_manifest_reads_the_pinned_manifest(zoo: DirectoryIndex) -> None:
    manifest = zoo.manifest(zoo.get("zoo/cat", "1.0.0"))
    assert (manifest.id, manifest.version) == ("zoo/cat", "1.0.0")
    assert manifest.classes[0].aliases == ("kitty", "Felis")


def test_a_package_missing_from_the_registry_is_reported(zoo: DirectoryIndex, tmp_path: Path) -> None:
    entry = zoo.get("zoo/dog")
    shutil.rmtree(zoo.root / entry.location)
    with pytest.raises(RegistryError, match="missing"):
        zoo.fetch(entry, tmp_path / "dog")


def test_the_index_file_is_deterministic(tmp_path: Path, make_package: MakePackage) -> None:
    packages = [make_package(module_id=f"zoo/m{i}", classes=[(f"class{i}", [])]) for i in range(3)]
    roots = []
    for order in (packages, packages[::-1]):
        registry = DirectoryIndex(tmp_path / f"r{len(roots)}", clock=lambda: "2026-01-02T03:04:05Z")
        for package in order:
            registry.publish(package)
        roots.append(registry.index_path.read_bytes())
    assert roots[0] == roots[1]
    doc = json.loads(roots[0])
    assert [e["id"] for e in doc["entries"]] == ["zoo/m0", "zoo/m1", "zoo/m2"]
    assert roots[0] == pretty_json(doc)


def test_a_corrupt_index_is_a_registry_error(zoo: DirectoryIndex) -> None:
    zoo.index_path.write_text("{not json")
    with pytest.raises(RegistryError, match="cannot read the index"):
        DirectoryIndex(zoo.root).list()
    zoo.index_path.write_text(json.dumps({"schema_version": 1, "entries": [{"id": "x"}]}))
    with pytest.raises(RegistryError, match=r"corrupt index entry.*#/entries/0"):
        DirectoryIndex(zoo.root).list()


def test_the_entry_cache_sees_other_writers(zoo: DirectoryIndex, make_package: MakePackage) -> None:
    reader = DirectoryIndex(zoo.root)
    assert len(reader.list()) == 4
    DirectoryIndex(zoo.root).publish(make_package(module_id="zoo/bird", classes=[("bird", [])]))
    assert [e.id for e in reader.search("bird")] == ["zoo/bird"]


@pytest.mark.parametrize(
    ("field", "value", "pointer"),
    [("version", "one", "/version"), ("kind", "plugin", "/kind"), ("id", "../escape", "/id")],
)
def test_publish_rejects_malformed_manifests(
    index: DirectoryIndex, make_package: MakePackage, field: str, value: str, pointer: str
) -> None:
    package = make_package()
    rewrite_manifest(package, **{field: value})
    with pytest.raises(ManifestError) as info:
        index.publish(package)
    assert info.value.pointer == pointer
    assert index.list() == []


def test_publish_of_a_missing_folder(index: DirectoryIndex, tmp_path: Path) -> None:
    with pytest.raises(FileMissing, match=r"manifest\.json"):
        index.publish(tmp_path / "nowhere")
