"""nnparts.client.assemble: installed, verified module packages -> one runnable model. Never networks."""

from __future__ import annotations

from nnparts.client.assemble.build import assemble_from_lock, evaluate_assembly, parts_from_paths, recalibrate
from nnparts.client.assemble.package import Assembly, PartSpec, load_assembly, with_part_replaced, write_assembly
from nnparts.client.assemble.runtime import AssembledModel, AssembledPart

__all__ = [
    "AssembledModel",
    "AssembledPart",
    "Assembly",
    "PartSpec",
    "assemble_from_lock",
    "evaluate_assembly",
    "load_assembly",
    "parts_from_paths",
    "recalibrate",
    "with_part_replaced",
    "write_assembly",
]
