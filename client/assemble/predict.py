"""Classify image files with an assembled model: every file checked first, then one forward each."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from nnparts.client.assemble.runtime import AssembledModel
from nnparts.client.data._formats import open_image, to_8bit
from nnparts.schemas.errors import FileMissing


@dataclass(frozen=True)
class Prediction:
    """The answer for one image: the class index (``-1``: abstained), its name (``"unknown"`` when
    abstaining) and the probability of the top class (softmax of the stitching head's logits, else
    the sigmoid of the top module's calibrated log-odds)."""

    image: Path
    label: int
    class_name: str
    probability: float


def check_images(images: Sequence[str | Path]) -> list[Path]:
    """The image paths, each an existing file whose header an image reader accepts (nothing decoded).

    Raises:
        FileMissing: a path that is not a file.
        UsageError: a file that is not a readable image.
    """
    paths = [Path(p) for p in images]
    for path in paths:
        if not path.is_file():
            raise FileMissing(str(path))
        open_image(path).close()
    return paths


def predict_images(model: AssembledModel, images: Sequence[str | Path]) -> list[Prediction]:
    """One :class:`Prediction` per image file, in order (any size and channel count the model's
    input conversion accepts)."""
    rows = []
    for path in check_images(images):
        with open_image(path) as img:
            arr = to_8bit(img)
        x = torch.from_numpy(arr[..., None] if arr.ndim == 2 else arr).unsqueeze(0)
        with torch.no_grad():
            scores = model(x)
        label = int(model.decide(scores)[0])
        probs = torch.softmax(scores, 1)[0] if model.stitch is not None else torch.sigmoid(scores[0])
        name = model.classes[label] if label >= 0 else "unknown"
        rows.append(Prediction(path, label, name, float(probs.max())))
    return rows
