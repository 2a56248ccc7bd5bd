"""Build a module manifest from an extracted module and its origin (no I/O)."""

from __future__ import annotations

import re
from typing import Any

from nnparts.client.pack.extracted import ExtractedModule
from nnparts.client.zoo.meta import ModelMeta
from nnparts.schemas.manifest import Calibration, ModuleManifest, Origin

_SLUG = re.compile(r"[^a-z0-9._-]+")


def slug(text: str) -> str:
    """A lower-case id segment: ``'T-shirt/top'`` -> ``'t-shirt-top'``."""
    s = _SLUG.sub("-", text.casefold()).strip("-._")
    return s[:90] or "x"


def module_id(origin_name: str, classes: list[str], method: str) -> str:
    """``<origin>/<class[+class...]>-<method>``, e.g. ``resnet20-cifar10/cat-channel``."""
    names = (
        "+".join(slug(c) for c in classes) if len(classes) <= 3 else f"{slug(classes[0])}+{len(classes) - 1}"
    )
    return f"{slug(origin_name)}/{slug(names)}-{method}"


def origin_of(meta: ModelMeta, weights_sha256: str) -> Origin:
    return Origin(
        name=meta.name,
        architecture=meta.architecture,
        weights_sha256=weights_sha256,
        dataset=meta.dataset,
        classes=meta.classes,
        arch_kwargs=dict(meta.arch_kwargs),
        accuracy=meta.accuracy.top1 if meta.accuracy else None,
    )


def build_manifest(
    module: ExtractedModule,
    origin: Origin,
    meta: ModelMeta,
    *,
    metrics: dict[str, Any],
    version: str = "1.0.0",
    license: str = "",
    tool_version: str = "0",
    module_id_override: str | None = None,
    calibration: Calibration | None = None,
) -> ModuleManifest:
    """The manifest of ``module`` (files and tensors are filled in by the writer)."""
    names = [c.name for c in module.classes]
    if module.kind == "trunk":
        names = ["trunk"]
    return ModuleManifest(
        id=module_id_override or module_id(origin.name, names, module.method),
        name=f"{origin.name} trunk" if module.kind == "trunk" else " + ".join(names),
        version=version,
        kind=module.kind,
        origin=origin,
        classes=module.classes,
        method=module.method,
        method_params=module.params,
        mask=module.mask,
        metrics=metrics,
        input=meta.input,
        output_type=module.output_type,
        output_size=module.output_size,
        calibration=calibration or module.calibration,
        graph="graph.json",
        files=(),
        tensors=(),
        license=license or meta.license or "unknown",
        tool_version=tool_version,
    )
