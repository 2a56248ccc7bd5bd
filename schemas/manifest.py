"""Typed, immutable views of a module manifest (``manifest.json``).

A manifest is validated once against ``manifest.schema.json`` by :meth:`ModuleManifest.from_dict`;
past that edge, code reads these frozen dataclasses, never raw dicts. Unknown top-level keys written
by a newer nnparts are kept in ``extra`` and written back unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from nnparts.schemas.validate import validate

SCHEMA_VERSION = 1
Kind = Literal["class_module", "sub_model", "assembled", "trunk"]
OutputType = Literal["ovr_score", "logits", "features"]


@dataclass(frozen=True)
class InputSpec:
    """How raw uint8 images become the module's input: ``(x / 255 - mean) / std``, NCHW."""

    channels: int
    height: int
    width: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    layout: str = "NCHW"
    scale: str = "divide uint8 by 255"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> InputSpec:
        return cls(
            channels=int(d["channels"]),
            height=int(d["height"]),
            width=int(d["width"]),
            mean=tuple(float(v) for v in d["mean"]),
            std=tuple(float(v) for v in d["std"]),
            layout=str(d.get("layout", "NCHW")),
            scale=str(d.get("scale", "divide uint8 by 255")),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "layout": self.layout,
            "channels": self.channels,
            "height": self.height,
            "width": self.width,
            "mean": list(self.mean),
            "std": list(self.std),
            "scale": self.scale,
        }

    def compatible_with(self, other: InputSpec) -> bool:
        return self == other


@dataclass(frozen=True)
class ClassEntry:
    name: str
    origin_index: int
    aliases: tuple[str, ...] = ()

    def matches(self, query: str) -> bool:
        q = query.casefold()
        return q == self.name.casefold() or any(q == a.casefold() for a in self.aliases)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "aliases": list(self.aliases), "origin_index": self.origin_index}


@dataclass(frozen=True)
class FileEntry:
    path: str
    sha256: str
    bytes: int
    tensors_sha256: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"path": self.path, "sha256": self.sha256, "bytes": self.bytes}
        if self.tensors_sha256:
            d["tensors_sha256"] = self.tensors_sha256
        return d


@dataclass(frozen=True)
class TensorEntry:
    """A logical tensor: ``storage='bitmask'`` means it is stored as a packed mask plus kept values."""

    name: str
    file: str
    shape: tuple[int, ...]
    dtype: str
    storage: Literal["dense", "bitmask"] = "dense"
    nnz: int | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "name": self.name,
            "file": self.file,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "storage": self.storage,
        }
        if self.nnz is not None:
            d["nnz"] = self.nnz
        return d


@dataclass(frozen=True)
class Origin:
    name: str
    architecture: str
    weights_sha256: str
    dataset: str
    classes: tuple[str, ...]
    arch_kwargs: dict[str, Any] = field(default_factory=dict)
    accuracy: float | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "name": self.name,
            "architecture": self.architecture,
            "arch_kwargs": dict(self.arch_kwargs),
            "weights_sha256": self.weights_sha256,
            "dataset": self.dataset,
            "classes": list(self.classes),
        }
        if self.accuracy is not None:
            d["accuracy"] = self.accuracy
        return d


@dataclass(frozen=True)
class MaskInfo:
    granularity: str
    density: float
    params_before: int
    params_after: int
    physically_smaller: bool
    flops_before: int | None = None
    flops_after: int | None = None
    residual_policy: str | None = None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "granularity": self.granularity,
            "density": self.density,
            "params_before": self.params_before,
            "params_after": self.params_after,
            "physically_smaller": self.physically_smaller,
        }
        for key in ("flops_before", "flops_after", "residual_policy", "note"):
            value = getattr(self, key)
            if value is not None:
                d[key] = value
        return d


@dataclass(frozen=True)
class Calibration:
    """Score calibration fitted on held-out data: ``p = sigmoid(score / temperature + bias)``."""

    method: Literal["none", "temperature"] = "none"
    temperature: float = 1.0
    bias: float = 0.0
    split: str | None = None
    samples: int | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "method": self.method,
            "temperature": self.temperature,
            "bias": self.bias,
        }
        if self.split is not None:
            d["split"] = self.split
        if self.samples is not None:
            d["samples"] = self.samples
        return d


@dataclass(frozen=True)
class Part:
    """One module inside an assembled package."""

    id: str
    version: str
    manifest_sha256: str
    classes: tuple[str, ...]
    path: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "version": self.version,
            "manifest_sha256": self.manifest_sha256,
            "classes": list(self.classes),
            "path": self.path,
        }


@dataclass(frozen=True)
class Requirement:
    """A package this one runs on (a class module's trunk), pinned by its manifest's sha256."""

    id: str
    version: str
    manifest_sha256: str
    kind: Literal["trunk"] = "trunk"
    bytes: int | None = None

    @property
    def ref(self) -> str:
        return f"{self.id}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": self.id,
            "version": self.version,
            "manifest_sha256": self.manifest_sha256,
            "kind": self.kind,
        }
        if self.bytes is not None:
            d["bytes"] = self.bytes
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Requirement:
        return cls(d["id"], d["version"], d["manifest_sha256"], d["kind"], d.get("bytes"))


@dataclass(frozen=True)
class ModuleManifest:
    id: str
    name: str
    version: str
    kind: Kind
    origin: Origin
    classes: tuple[ClassEntry, ...]
    method: str
    method_params: dict[str, Any]
    mask: MaskInfo
    metrics: dict[str, Any]
    input: InputSpec
    output_type: OutputType
    output_size: int
    calibration: Calibration
    graph: str
    files: tuple[FileEntry, ...]
    tensors: tuple[TensorEntry, ...]
    license: str
    tool_version: str
    parts: tuple[Part, ...] = ()
    requires: tuple[Requirement, ...] = ()
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.classes)

    def file(self, path: str) -> FileEntry:
        for f in self.files:
            if f.path == path:
                return f
        raise KeyError(path)

    @property
    def trunk(self) -> Requirement | None:
        """The trunk this module runs on, if it is a tail."""
        return next((r for r in self.requires if r.kind == "trunk"), None)

    @property
    def total_bytes(self) -> int:
        return sum(f.bytes for f in self.files)

    def with_changes(self, **changes: Any) -> ModuleManifest:
        return replace(self, **changes)

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, source: str = "") -> ModuleManifest:
        """Validate ``d`` against the manifest schema, then parse it."""
        validate(d, "manifest", source=source)
        known = set(_KNOWN_KEYS)
        return cls(
            id=d["id"],
            name=d["name"],
            version=d["version"],
            kind=d["kind"],
            origin=Origin(
                name=d["origin"]["name"],
                architecture=d["origin"]["architecture"],
                weights_sha256=d["origin"]["weights_sha256"],
                dataset=d["origin"]["dataset"],
                classes=tuple(d["origin"]["classes"]),
                arch_kwargs=dict(d["origin"].get("arch_kwargs", {})),
                accuracy=d["origin"].get("accuracy"),
            ),
            classes=tuple(
                ClassEntry(c["name"], int(c["origin_index"]), tuple(c["aliases"])) for c in d["classes"]
            ),
            method=d["method"]["name"],
            method_params=dict(d["method"]["params"]),
            mask=MaskInfo(
                granularity=d["mask"]["granularity"],
                density=float(d["mask"]["density"]),
                params_before=int(d["mask"]["params_before"]),
                params_after=int(d["mask"]["params_after"]),
                physically_smaller=bool(d["mask"]["physically_smaller"]),
                flops_before=d["mask"].get("flops_before"),
                flops_after=d["mask"].get("flops_after"),
                residual_policy=d["mask"].get("residual_policy"),
                note=d["mask"].get("note"),
            ),
            metrics=dict(d["metrics"]),
            input=InputSpec.from_dict(d["input"]),
            output_type=d["output"]["type"],
            output_size=int(d["output"]["size"]),
            calibration=Calibration(
                method=d["calibration"]["method"],
                temperature=float(d["calibration"].get("temperature", 1.0)),
                bias=float(d["calibration"].get("bias", 0.0)),
                split=d["calibration"].get("split"),
                samples=d["calibration"].get("samples"),
            ),
            graph=d["graph"],
            files=tuple(
                FileEntry(f["path"], f["sha256"], int(f["bytes"]), f.get("tensors_sha256"))
                for f in d["files"]
            ),
            tensors=tuple(
                TensorEntry(t["name"], t["file"], tuple(t["shape"]), t["dtype"], t["storage"], t.get("nnz"))
                for t in d["tensors"]
            ),
            license=d["license"],
            tool_version=d["tool"]["version"],
            parts=tuple(
                Part(p["id"], p["version"], p["manifest_sha256"], tuple(p["classes"]), p["path"])
                for p in d.get("parts", [])
            ),
            requires=tuple(Requirement.from_dict(r) for r in d.get("requires", [])),
            description=d.get("description", ""),
            extra={k: v for k, v in d.items() if k not in known},
        )

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "min_reader_version": 1,
            "id": self.id,
            "name": self.name,
            "version": self.version,
            "kind": self.kind,
            "origin": self.origin.to_dict(),
            "classes": [c.to_dict() for c in self.classes],
            "method": {"name": self.method, "params": dict(self.method_params)},
            "mask": self.mask.to_dict(),
            "metrics": dict(self.metrics),
            "input": self.input.to_dict(),
            "output": {"type": self.output_type, "size": self.output_size},
            "calibration": self.calibration.to_dict(),
            "graph": self.graph,
            "files": [f.to_dict() for f in self.files],
            "tensors": [t.to_dict() for t in self.tensors],
            "license": self.license,
            "tool": {"name": "nnparts", "version": self.tool_version},
        }
        if self.parts:
            d["parts"] = [p.to_dict() for p in self.parts]
        if self.requires:
            d["requires"] = [r.to_dict() for r in self.requires]
        if self.description:
            d["description"] = self.description
        d.update(self.extra)
        return d


_KNOWN_KEYS = (
    "schema_version",
    "min_reader_version",
    "id",
    "name",
    "version",
    "kind",
    "origin",
    "classes",
    "method",
    "mask",
    "metrics",
    "input",
    "output",
    "calibration",
    "graph",
    "files",
    "tensors",
    "license",
    "tool",
    "parts",
    "requires",
    "description",
)
