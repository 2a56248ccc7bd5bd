"""nnparts.client.assemble: installed, verified module packages -> one runnable model. Never networks."""

from __future__ import annotations

from nnparts.client.assemble.build import (
    assemble_from_lock,
    assemble_paths,
    evaluate_assembly,
    fit_stitch_on,
    parts_from_paths,
)
from nnparts.client.assemble.onnx import OnnxExport, export_onnx
from nnparts.client.assemble.package import (
    Assembly,
    PartSpec,
    Replacement,
    load_assembly,
    replace_part,
    with_part_replaced,
    write_assembly,
)
from nnparts.client.assemble.predict import Prediction, check_images, predict_images
from nnparts.client.assemble.runtime import AssembledModel, AssembledPart, Stitch, fit_stitch

__all__ = [
    "AssembledModel",
    "AssembledPart",
    "Assembly",
    "OnnxExport",
    "PartSpec",
    "Prediction",
    "Replacement",
    "Stitch",
    "assemble_from_lock",
    "assemble_paths",
    "check_images",
    "evaluate_assembly",
    "export_onnx",
    "fit_stitch",
    "fit_stitch_on",
    "load_assembly",
    "parts_from_paths",
    "predict_images",
    "replace_part",
    "with_part_replaced",
    "write_assembly",
]
