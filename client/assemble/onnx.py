"""ONNX export of an assembled model, checked against onnxruntime when it is installed.

The exported graph takes raw uint8 NHWC images (any batch size) and returns the decision scores
(calibrated, stitched when the assembly has a stitching head), so ONNX users preprocess nothing.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from nnparts.client.assemble.package import Assembly
from nnparts.schemas.errors import IntegrityError
from nnparts.schemas.integrity import atomic_write_bytes


@dataclass(frozen=True)
class OnnxExport:
    """An ONNX file written from an assembly, and the largest absolute difference between
    onnxruntime and PyTorch on random images (``None``: onnxruntime is not installed, or no check)."""

    path: Path
    max_abs_diff: float | None


def export_onnx(
    assembly: Assembly, path: str | Path, *, check: bool = True, tolerance: float = 1e-3
) -> OnnxExport:
    """Write ``path`` (atomically); with ``check``, compare onnxruntime with PyTorch on random images.

    Raises:
        IntegrityError: the exported model disagrees with PyTorch by more than ``tolerance``.
    """
    model = assembly.model()
    first = assembly.parts[0][0].manifest.input
    example = torch.randint(0, 256, (2, first.height, first.width, first.channels), dtype=torch.uint8)
    target = Path(path)
    tmp = target.with_name(f".{target.name}.export")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (example,),
            str(tmp),
            dynamo=False,
            input_names=["images"],
            output_names=["scores"],
            dynamic_axes={"images": {0: "batch"}, "scores": {0: "batch"}},
        )
    data = tmp.read_bytes()
    tmp.unlink()
    diff = None
    if check:
        try:
            import onnxruntime as ort
        except ImportError:
            check = False
        else:
            session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
            probe = torch.randint(0, 256, (5, *example.shape[1:]), dtype=torch.uint8)
            got = session.run(None, {"images": probe.numpy()})[0]
            with torch.no_grad():
                want = model(probe).numpy()
            diff = float(np.abs(got - want).max())
            if diff > tolerance:
                raise IntegrityError(f"ONNX export differs from PyTorch by {diff:.2e} (> {tolerance})")
    atomic_write_bytes(target, data)
    return OnnxExport(target, diff)
