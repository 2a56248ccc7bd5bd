"""IndexEntry: derived from a manifest, round-trips through JSON, validated at the edge."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import pytest
from fake_package import manifest_doc

from nnparts.schemas.errors import ManifestError
from nnparts.schemas.index_entry import IndexedClass, IndexEntry
from nnparts.schemas.manifest import ModuleManifest

SHA = hashlib.sha256(b"manifest").hexdigest()


def _entry(**manifest_kwargs: object) -> IndexEntry:
    manifest = ModuleManifest.from_dict(manifest_doc(**manifest_kwargs))  # type: ignore[arg-type]
    return IndexEntry.from_manifest(
        manifest, manifest_sha256=SHA, published="2026-01-02T03:04:05Z", location="packages/toy/cat@1.0.0"
    )


def test_from_manifest_summarises_the_manifest() -> None:
    entry = _entry(classes=[("cat", ["kitty", "Felis"]), ("dog", [])], accuracy=0.875, density=0.25)
    assert entry.id == "toy/cat" and entry.version == "1.0.0" and entry.kind == "class_module"
    assert entry.classes == (IndexedClass("cat", ("kitty", "Felis")), IndexedClass("dog", ()))
    assert (entry.origin, entry.dataset, entry.method, entry.granularity) == (
        "resnet20-cifar10",
        "cifar10",
        "channel",
        "channel",
    )
    assert entry.accuracy == 0.875 and entry.density == 0.25
    assert entry.bytes == 1 and entry.input == (3, 32, 32)
    assert entry.manifest_sha256 == SHA and not entry.yanked and entry.ref == "toy/cat@1.0.0"


def test_round_trip_through_json() -> None:
    entry = _entry(classes=[("cat", ["kitty"])]).with_yank("bad calibration")
    doc = json.loads(json.dumps(entry.to_dict()))
    assert IndexEntry.from_dict(doc) == entry
    assert doc["yank_reason"] == "bad calibration" and doc["schema_version"] == 1


def test_unyanked_entry_has_no_reason_key() -> None:
    doc = _entry().to_dict()
    assert "yank_reason" not in doc and doc["yanked"] is False
    assert IndexEntry.from_dict(doc).yank_reason == ""


@pytest.mark.parametrize("query", ["cat", "CAT", " Cat ", "kitty", "KITTY", "felis"])
def test_matches_names_and_aliases_case_insensitively(query: str) -> None:
    entry = _entry(classes=[("cat", ["kitty", "Felis"])])
    assert entry.matches(query)
    assert entry.matched_class(query) == "cat"


@pytest.mark.parametrize("query", ["dog", "ca", "cats", "kit"])
def test_does_not_match_other_names(query: str) -> None:
    entry = _entry(classes=[("cat", ["kitty", "Felis"])])
    assert not entry.matches(query)
    assert entry.matched_class(query) is None


@pytest.mark.parametrize(
    ("field", "value", "pointer"),
    [
        ("density", 2.0, "/density"),
        ("accuracy", -0.5, "/accuracy"),
        ("manifest_sha256", "xyz", "/manifest_sha256"),
        ("id", "Bad Id", "/id"),
        ("yanked", "no", "/yanked"),
        ("bytes", -3, "/bytes"),
    ],
)
def test_from_dict_rejects_bad_fields_with_pointer(field: str, value: object, pointer: str) -> None:
    doc = _entry().to_dict()
    doc[field] = value
    with pytest.raises(ManifestError) as info:
        IndexEntry.from_dict(doc)
    assert info.value.pointer == pointer


def test_from_dict_rejects_a_missing_field() -> None:
    doc = _entry().to_dict()
    del doc["location"]
    with pytest.raises(ManifestError, match="'location' is a required property") as info:
        IndexEntry.from_dict(doc)
    assert info.value.pointer == ""


def test_a_manifest_without_accuracy_cannot_be_indexed() -> None:
    doc = manifest_doc()
    doc["metrics"]["overall"] = {"auc": 0.9}
    with pytest.raises(ManifestError) as info:
        IndexEntry.from_manifest(
            ModuleManifest.from_dict(doc), manifest_sha256=SHA, published="x", location="y"
        )
    assert info.value.pointer == "/metrics/overall"
    assert "auc" in str(info.value)


def test_entries_are_frozen() -> None:
    entry = _entry()
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.yanked = True  # type: ignore[misc]
