"""Malformed manifests are rejected with the JSON pointer of the failing field, table-driven."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from fake_package import manifest_doc

from nnparts.schemas.errors import ManifestError
from nnparts.schemas.manifest import ModuleManifest

_DELETE = object()


def _with(path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    doc = manifest_doc()
    doc["tensors"] = [
        {
            "name": "fc.weight",
            "file": "weights.safetensors",
            "shape": [1, 4],
            "dtype": "float32",
            "storage": "dense",
        }
    ]
    node: Any = doc
    for key in path[:-1]:
        node = node[key]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = copy.deepcopy(value)
    return doc


# (case name, field path, new value or _DELETE, expected pointer)
CASES: list[tuple[str, tuple[str | int, ...], Any, str]] = [
    ("missing id", ("id",), _DELETE, ""),
    ("missing files", ("files",), _DELETE, ""),
    ("uppercase id", ("id",), "Toy/Cat", "/id"),
    ("bad version", ("version",), "1.0", "/version"),
    ("unknown kind", ("kind",), "plugin", "/kind"),
    ("future schema", ("schema_version",), 2, "/schema_version"),
    ("bad sha256", ("files", 0, "sha256"), "abc123", "/files/0/sha256"),
    ("uppercase sha256", ("files", 0, "sha256"), "A" * 64, "/files/0/sha256"),
    ("negative bytes", ("files", 0, "bytes"), -1, "/files/0/bytes"),
    ("path traversal", ("files", 0, "path"), "../evil.safetensors", "/files/0/path"),
    ("nested traversal", ("files", 0, "path"), "a/../../evil.bin", "/files/0/path"),
    ("absolute path", ("files", 0, "path"), "/etc/passwd", "/files/0/path"),
    ("negative density", ("mask", "density"), -0.1, "/mask/density"),
    ("density above one", ("mask", "density"), 1.5, "/mask/density"),
    ("no classes", ("classes",), [], "/classes"),
    ("empty alias", ("classes", 0, "aliases", 0), "", "/classes/0/aliases/0"),
    ("unknown class key", ("classes", 0, "label"), "cat", "/classes/0"),
    ("unknown method", ("method", "name"), "magic", "/method/name"),
    ("zero channels", ("input", "channels"), 0, "/input/channels"),
    ("zero std", ("input", "std", 0), 0, "/input/std/0"),
    ("bad metrics split", ("metrics", "split"), "dev", "/metrics/split"),
    ("zero temperature", ("calibration", "temperature"), 0, "/calibration/temperature"),
    ("float64 tensor", ("tensors", 0, "dtype"), "float64", "/tensors/0/dtype"),
    ("other tool", ("tool", "name"), "timm", "/tool/name"),
]


def test_the_base_document_is_valid() -> None:
    assert ModuleManifest.from_dict(_with(("license",), "MIT")).id == "toy/cat"


@pytest.mark.parametrize(("field", "value", "pointer"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_manifest_is_rejected_with_its_pointer(
    field: tuple[str | int, ...], value: Any, pointer: str
) -> None:
    with pytest.raises(ManifestError) as info:
        ModuleManifest.from_dict(_with(field, value), source="manifest.json")
    assert info.value.pointer == pointer
    message = str(info.value)
    assert message.startswith("manifest.json: invalid document at ")
    assert f" at {pointer or '/'}: " in message
    assert "\n" not in message
