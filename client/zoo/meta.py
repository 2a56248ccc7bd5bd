"""Origin-model metadata without torch: ``model.json`` as :class:`ModelMeta`, and the fixture JSON format.

An origin-model package on disk::

    <package>/
    ├── model.json            ModelMeta (pretty, sorted JSON), validated by model.schema.json
    └── weights.safetensors   the state dict; metadata is one key "nnparts" holding canonical JSON

``--meta`` files (``../shared/fixtures/*.json``) are read by :func:`read_meta_json` into
:class:`MetaHints`, the optional facts an import takes from them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nnparts.schemas.errors import FileMissing, ManifestError, UsageError
from nnparts.schemas.manifest import FileEntry, InputSpec
from nnparts.schemas.validate import validate

MODEL_JSON = "model.json"
WEIGHTS_NAME = "weights.safetensors"
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Accuracy:
    """Top-1 accuracy measured on ``split`` (overall and, if known, per class in class order)."""

    split: str
    top1: float
    per_class: tuple[float, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"split": self.split, "top1": self.top1}
        if self.per_class:
            d["per_class"] = list(self.per_class)
        return d


@dataclass(frozen=True)
class ModelMeta:
    """The parsed ``model.json`` of an origin-model package.

    ``origin_class_indices[i]`` is the data-set label that output ``i`` predicts.
    """

    name: str
    architecture: str
    arch_kwargs: Mapping[str, Any]
    classes: tuple[str, ...]
    dataset: str
    input: InputSpec
    files: tuple[FileEntry, ...]
    tool_version: str
    origin_class_indices: tuple[int, ...] = ()
    accuracy: Accuracy | None = None
    training: Mapping[str, Any] = field(default_factory=dict)
    license: str = ""

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, source: str = "") -> ModelMeta:
        """Validate ``d`` against ``model.schema.json``, then parse it.

        Raises:
            ManifestError: a schema violation, with the field's JSON pointer.
        """
        validate(d, "model", source=source)
        acc = d.get("accuracy")
        accuracy = None
        if acc and "top1" in acc:
            accuracy = Accuracy(
                str(acc.get("split", "test")),
                float(acc["top1"]),
                tuple(float(v) for v in acc.get("per_class", ())),
            )
        return cls(
            name=d["name"],
            architecture=d["architecture"],
            arch_kwargs=dict(d["arch_kwargs"]),
            classes=tuple(d["classes"]),
            dataset=d["dataset"],
            input=InputSpec.from_dict(d["input"]),
            files=tuple(FileEntry(f["path"], f["sha256"], int(f["bytes"])) for f in d["files"]),
            tool_version=str(d["tool"]["version"]),
            origin_class_indices=tuple(int(i) for i in d.get("origin_class_indices", ())),
            accuracy=accuracy,
            training=dict(d.get("training", {})),
            license=str(d.get("license", "")),
        )

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "name": self.name,
            "architecture": self.architecture,
            "arch_kwargs": dict(self.arch_kwargs),
            "classes": list(self.classes),
            "dataset": self.dataset,
            "input": self.input.to_dict(),
            "files": [f.to_dict() for f in self.files],
            "tool": {"name": "nnparts", "version": self.tool_version},
        }
        if self.origin_class_indices:
            d["origin_class_indices"] = list(self.origin_class_indices)
        if self.accuracy is not None:
            d["accuracy"] = self.accuracy.to_dict()
        if self.training:
            d["training"] = dict(self.training)
        if self.license:
            d["license"] = self.license
        return d


def read_model_meta(package: str | Path) -> ModelMeta:
    """Read and validate ``<package>/model.json`` (no file hashes are checked here).

    Raises:
        FileMissing: no such folder or no model.json in it.
        ManifestError: invalid JSON or a schema violation.
    """
    path = Path(package) / MODEL_JSON
    if not path.is_file():
        raise FileMissing(str(path), hint="an origin-model package is a folder with model.json")
    try:
        doc = json.loads(path.read_bytes())
    except ValueError as exc:
        raise ManifestError(f"not valid JSON ({exc})", source=str(path)) from exc
    return ModelMeta.from_dict(doc, source=str(path))


@dataclass(frozen=True)
class MetaHints:
    """What an import may take from a fixture-style JSON file; every field is optional."""

    name: str | None = None
    architecture: str | None = None
    arch_kwargs: Mapping[str, Any] = field(default_factory=dict)
    classes: tuple[str, ...] = ()
    origin_class_indices: tuple[int, ...] = ()
    dataset: str | None = None
    input: InputSpec | None = None
    accuracy: Accuracy | None = None
    training: Mapping[str, Any] = field(default_factory=dict)
    sha256: Mapping[str, str] = field(default_factory=dict)
    license: str | None = None


_TRAINING_KEYS = ("recipe", "epochs", "seed", "train_examples", "torch", "note")


def read_meta_json(path: str | Path) -> MetaHints:
    """Parse a fixture-style JSON (``../shared/fixtures/*.json``).

    Reads ``name``, ``classes``, ``origin_class_indices``, ``dataset``, ``input``, ``test_accuracy`` +
    ``per_class_test_accuracy``, ``architecture`` (``family: cifar_resnet`` + ``depth`` becomes
    ``cifar_resnet{depth}``; ``num_classes`` and ``in_channels`` become kwargs; a string is used as
    is), ``sha256`` (file name -> hash), ``license`` and the training facts (recipe, epochs, seed ...).

    Raises:
        FileMissing: the file does not exist.
        UsageError: it is not JSON or a field has the wrong type.
    """
    p = Path(path)
    if not p.is_file():
        raise FileMissing(str(p), hint="--meta names a JSON file")
    try:
        doc = json.loads(p.read_bytes())
        return _parse_hints(doc)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise UsageError(f"cannot read meta file {p}: {exc}", hint="use the fixture JSON format") from exc


def _parse_hints(doc: dict[str, Any]) -> MetaHints:
    if not isinstance(doc, dict):
        raise TypeError("top level must be an object")
    arch, kwargs = _parse_architecture(doc.get("architecture"))
    accuracy = None
    if "test_accuracy" in doc:
        per_class = tuple(float(v) for v in doc.get("per_class_test_accuracy", ()))
        accuracy = Accuracy("test", float(doc["test_accuracy"]), per_class)
    elif isinstance(doc.get("accuracy"), dict):
        acc = doc["accuracy"]
        accuracy = Accuracy(
            str(acc.get("split", "test")), float(acc["top1"]), tuple(acc.get("per_class", ()))
        )
    return MetaHints(
        name=str(doc["name"]) if "name" in doc else None,
        architecture=arch,
        arch_kwargs=kwargs,
        classes=tuple(str(c) for c in doc.get("classes", ())),
        origin_class_indices=tuple(int(i) for i in doc.get("origin_class_indices", ())),
        dataset=str(doc["dataset"]) if "dataset" in doc else None,
        input=InputSpec.from_dict(doc["input"]) if "input" in doc else None,
        accuracy=accuracy,
        training={k: doc[k] for k in _TRAINING_KEYS if k in doc},
        sha256={str(k): str(v) for k, v in dict(doc.get("sha256", {})).items()},
        license=str(doc["license"]) if "license" in doc else None,
    )


def _parse_architecture(value: Any) -> tuple[str | None, dict[str, Any]]:
    if value is None:
        return None, {}
    if isinstance(value, str):
        return value, {}
    if not isinstance(value, dict):
        raise TypeError(f"architecture must be a string or an object, got {type(value).__name__}")
    kwargs = {k: value[k] for k in ("num_classes", "in_channels") if k in value}
    family = value.get("family")
    if family == "cifar_resnet" and "depth" in value:
        return f"cifar_resnet{int(value['depth'])}", kwargs
    if isinstance(value.get("name"), str):
        return str(value["name"]), {**kwargs, **dict(value.get("kwargs", {}))}
    if family is not None:
        return str(family), {**kwargs, **({"depth": value["depth"]} if "depth" in value else {})}
    return None, kwargs
