"""nnparts.client.assemble: installed, verified module packages -> one runnable model. Never networks."""

from __future__ import annotations

from nnparts.client.assemble.build import (
    assemble_from_lock,
    assemble_paths,
    evaluate_assembly,
    fit_stitch_on,
    parts_from_paths,
)
from nnparts.client.assemble.package import (
    Assembly,
    PartSpec,
    load_assembly,
    with_part_replaced,
    write_assembly,
)
from nnparts.client.assemble.runtime import AssembledModel, AssembledPart, Stitch, fit_stitch

__all__ = [
    "AssembledModel",
    "AssembledPart",
    "Assembly",
    "PartSpec",
    "Stitch",
    "assemble_from_lock",
    "assemble_paths",
    "evaluate_assembly",
    "fit_stitch",
    "fit_stitch_on",
    "load_assembly",
    "parts_from_paths",
    "with_part_replaced",
    "write_assembly",
]
