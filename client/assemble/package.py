"""Assembled packages: several module packages composed into one model that loads offline.

Layout::

    <assembly>/
    ├── manifest.json        kind "assembled"; ``parts`` pins each part's manifest sha256;
    │                        ``files`` lists assembly.json and every part file (sha256, bytes)
    ├── assembly.json        class order, decision rule, abstain threshold, per-part columns and
    │                        calibration (which may override the part's own)
    ├── parts/
    │   ├── 00-<slug>/       a complete module package (manifest.json, graph.json, weights...)
    │   └── 01-<slug>/ ...
    └── trunks/
        └── <sha256>/        each trunk package the parts run on, once, by its manifest sha256

Loading verifies the assembly's manifest and every file, then loads each part with the ordinary
package loader (which verifies again against the part's own manifest). No registry is needed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from nnparts.client.assemble.runtime import AssembledModel, AssembledPart, Stitch
from nnparts.client.home import installed_root
from nnparts.client.pack.build import slug
from nnparts.client.pack.loader import LoadedModule, load_package
from nnparts.client.pack.writer import write_folder
from nnparts.client.zoo.origin import tool_version
from nnparts.client.zoo.runtime import GraphNet
from nnparts.schemas.errors import IntegrityError, ManifestError, UsageError
from nnparts.schemas.integrity import pretty_json, sha256_bytes, sha256_file
from nnparts.schemas.manifest import (
    Calibration,
    ClassEntry,
    FileEntry,
    MaskInfo,
    ModuleManifest,
    Origin,
    Part,
)
from nnparts.schemas.package import MANIFEST_NAME, find_trunk, manifest_sha256, read_manifest, verify_package

ASSEMBLY_FILE = "assembly.json"
TRUNKS_DIR = "trunks"


@dataclass(frozen=True)
class PartSpec:
    """A module to include: its package folder, the assembly classes it answers, calibration."""

    path: Path
    classes: tuple[str, ...]
    calibration: Calibration | None = None


@dataclass(frozen=True)
class Assembly:
    path: Path
    manifest: ModuleManifest
    classes: tuple[str, ...]
    rule: str
    abstain: float | None
    parts: tuple[tuple[LoadedModule, PartSpec], ...]
    stitch: Stitch | None = None

    def model(self) -> AssembledModel:
        parts = []
        trunks: dict[Path, GraphNet] = {}  # one network per trunk package, shared by its tails
        for loaded, spec in self.parts:
            m = loaded.manifest
            if m.output_type == "ovr_score":
                columns: tuple[int, ...] = (self.classes.index(spec.classes[0]),)
            else:
                columns = tuple(self.classes.index(c) for c in m.class_names)
            trunk = loaded.trunk
            if trunk is not None and trunk.path not in trunks:
                trunks[trunk.path] = trunk.own_network()
            parts.append(
                AssembledPart(
                    loaded.own_network(),
                    m.input,
                    spec.calibration or m.calibration,
                    m.output_type,
                    columns,
                    m.origin.weights_sha256,
                    trunks[trunk.path] if trunk is not None else None,
                    m.trunk.manifest_sha256 if m.trunk is not None else None,
                )
            )
        return AssembledModel(
            parts, self.classes, rule=self.rule, abstain=self.abstain, stitch=self.stitch
        ).eval()


def _assembly_doc(
    classes: Sequence[str],
    rule: str,
    abstain: float | None,
    parts: list[dict[str, Any]],
    stitch: Stitch | None,
) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "classes": list(classes),
        "rule": rule,
        "abstain": abstain,
        "parts": parts,
        "stitch": stitch.to_dict() if stitch else None,
    }


def write_assembly(
    out_dir: str | Path,
    parts: Sequence[PartSpec],
    classes: Sequence[str],
    *,
    rule: str = "argmax",
    abstain: float | None = None,
    metrics: dict[str, Any] | None = None,
    name: str = "assembly",
    overwrite: bool = False,
    stitch: Stitch | None = None,
    trunk_search: Sequence[Path] = (),
) -> ModuleManifest:
    """Copy the part packages under ``out_dir/parts`` (their trunks under ``out_dir/trunks``, once
    each) and write the assembly's manifest."""
    target = Path(out_dir)
    if target.exists() and not overwrite:
        raise UsageError(f"output folder already exists: {target}", hint="choose a new --out or remove it")
    answered = [c for p in parts for c in p.classes]
    if sorted(answered) != sorted(classes) or len(set(answered)) != len(answered):
        raise UsageError(f"parts answer {answered}, the assembly needs each of {list(classes)} exactly once")
    files: dict[str, bytes] = {}
    part_docs: list[dict[str, Any]] = []
    part_entries: list[Part] = []
    manifests: list[ModuleManifest] = []
    for i, spec in enumerate(parts):
        m = verify_package(spec.path)
        if m.kind == "assembled":
            raise UsageError(f"{spec.path} is itself an assembly; nest its parts instead")
        manifests.append(m)
        folder = f"parts/{i:02d}-{slug(m.name)[:40]}"
        for f in (MANIFEST_NAME, *(e.path for e in m.files)):
            files[f"{folder}/{f}"] = (spec.path / f).read_bytes()
        if m.trunk is not None:
            # a part of another assembly finds its trunk in that assembly's trunks/
            own = spec.path.parent.parent / TRUNKS_DIR
            trunk_dir = find_trunk(spec.path, m.trunk, [*trunk_search, own, installed_root()])
            trunk_manifest = verify_package(trunk_dir)
            for f in (MANIFEST_NAME, *(e.path for e in trunk_manifest.files)):
                files[f"{TRUNKS_DIR}/{m.trunk.manifest_sha256}/{f}"] = (trunk_dir / f).read_bytes()
        cal = spec.calibration
        part_docs.append(
            {"path": folder, "classes": list(spec.classes), "calibration": cal.to_dict() if cal else None}
        )
        part_entries.append(Part(m.id, m.version, manifest_sha256(spec.path), spec.classes, folder))
    assembly_bytes = pretty_json(_assembly_doc(classes, rule, abstain, part_docs, stitch))
    files[ASSEMBLY_FILE] = assembly_bytes
    datasets = sorted({m.origin.dataset for m in manifests})
    # a tail's params_after counts its trunk; the assembly holds each trunk once
    trunk_params = {m.trunk.manifest_sha256: m.metrics["cost"]["trunk_params"] for m in manifests if m.trunk}
    params = sum(
        m.mask.params_after - (m.metrics["cost"]["trunk_params"] if m.trunk else 0) for m in manifests
    ) + sum(trunk_params.values())
    first = manifests[0]
    manifest = ModuleManifest(
        id=f"assembled/{slug(name)}",
        name=name,
        version="1.0.0",
        kind="assembled",
        origin=Origin(
            name="assembled",
            architecture="nnparts:assembly",
            weights_sha256=sha256_bytes(assembly_bytes),
            dataset="+".join(datasets),
            classes=tuple(classes),
        ),
        classes=tuple(ClassEntry(c, i) for i, c in enumerate(classes)),
        method="assembled",
        method_params={
            "rule": rule,
            "abstain": abstain,
            "origins": sorted({m.origin.name for m in manifests}),
        },
        mask=MaskInfo("none", 1.0, params, params, False),
        metrics=metrics or {"split": "test", "samples": 0, "overall": {}},
        input=first.input,
        output_type="logits",
        output_size=len(classes),
        calibration=Calibration(),
        graph=ASSEMBLY_FILE,
        files=tuple(FileEntry(p, sha256_bytes(b), len(b)) for p, b in sorted(files.items())),
        tensors=(),
        license=",".join(sorted({m.license for m in manifests})),
        tool_version=tool_version(),
        parts=tuple(part_entries),
    )
    files[MANIFEST_NAME] = pretty_json(manifest.to_dict())
    write_folder(target, files)
    return manifest


def load_assembly(path: str | Path) -> Assembly:
    """Verify an assembled package (every file, every part's own manifest and sha256) and load it."""
    root = Path(path)
    manifest = verify_package(root, read_manifest(root))
    if manifest.kind != "assembled":
        raise UsageError(f"{root} is a {manifest.kind} package, not an assembly")
    doc = json.loads((root / ASSEMBLY_FILE).read_bytes())
    if doc.get("schema_version") != 1 or not isinstance(doc.get("parts"), list):
        raise ManifestError(
            "unsupported assembly.json", source=str(root / ASSEMBLY_FILE), pointer="/schema_version"
        )
    loaded = []
    for part, pin in zip(doc["parts"], manifest.parts, strict=True):
        folder = root / part["path"]
        if sha256_file(folder / MANIFEST_NAME) != pin.manifest_sha256:
            raise IntegrityError(
                f"part {pin.id} does not match the assembly's pinned manifest", path=str(folder)
            )
        cal = Calibration(**part["calibration"]) if part.get("calibration") else None
        loaded.append(
            (
                load_package(folder, trunk_search=[root / TRUNKS_DIR]),
                PartSpec(folder, tuple(part["classes"]), cal),
            )
        )
    stitch = Stitch.from_dict(doc["stitch"]) if doc.get("stitch") else None
    return Assembly(
        root, manifest, tuple(doc["classes"]), doc["rule"], doc.get("abstain"), tuple(loaded), stitch
    )


def with_part_replaced(assembly: Assembly, class_name: str, new_part: Path) -> list[PartSpec]:
    """The part list of ``assembly`` with the module answering ``class_name`` swapped for ``new_part``."""
    specs = [spec for _, spec in assembly.parts]
    for i, spec in enumerate(specs):
        if class_name in spec.classes:
            m = read_manifest(new_part)
            if len(spec.classes) != 1:
                raise UsageError(
                    f"{class_name!r} is answered by a multi-class part; replace needs a class module"
                )
            if not any(c.matches(class_name) for c in m.classes):
                raise UsageError(
                    f"{new_part} does not provide class {class_name!r}",
                    hint=f"it provides {list(m.class_names)}",
                )
            specs[i] = replace(spec, path=new_part, calibration=None)
            return specs
    raise UsageError(
        f"the assembly has no class {class_name!r}", hint=f"its classes: {', '.join(assembly.classes)}"
    )


@dataclass(frozen=True)
class Replacement:
    """A part swapped in an assembled package: the package written (``path``), the class, the
    module given for it, and whether the old stitching head was dropped (it was fitted to the old
    part; assemble again with a calibration to refit one)."""

    path: Path
    class_name: str
    module: str
    stitch_dropped: bool


def replace_part(
    package: str | Path,
    class_name: str,
    new_part: Path,
    *,
    out: str | Path | None = None,
    module: str | None = None,
    trunk_search: Sequence[Path] = (),
) -> Replacement:
    """Write ``package`` again (in place, or to ``out``) with the module answering ``class_name``
    swapped for the package folder ``new_part`` (``module``: how it was named, for the result).

    Raises:
        UsageError: no such class, a multi-class part, or a module that does not provide the class.
    """
    assembly = load_assembly(package)
    specs = with_part_replaced(assembly, class_name, new_part)
    target = Path(out) if out is not None else assembly.path
    write_assembly(
        target,
        specs,
        assembly.classes,
        rule=assembly.rule,
        abstain=assembly.abstain,
        name=assembly.manifest.name,
        overwrite=True,
        stitch=None,
        trunk_search=trunk_search,
    )
    return Replacement(target, class_name, module or str(new_part), assembly.stitch is not None)
