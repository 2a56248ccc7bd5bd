"""Torch side of the data layer: uint8 NHWC images to normalised float NCHW tensors, and batches.

The contract of every nnparts model input: ``x = (uint8 / 255 - mean) / std``, NCHW. When the images
differ from the model's :class:`InputSpec`, they are adapted first: 1 -> C channels by repetition,
C -> 1 by the channel mean, and a different height/width by ``interpolate`` (bilinear with
antialiasing by default, or nearest).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal, TypeVar

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F

from nnparts.client.data._split import DataSplit
from nnparts.schemas.errors import UsageError
from nnparts.schemas.manifest import InputSpec

Interpolation = Literal["bilinear", "nearest"]
_T = TypeVar("_T", bound=np.generic)


def to_tensor(
    x: npt.NDArray[np.uint8] | torch.Tensor,
    spec: InputSpec,
    *,
    device: str | torch.device = "cpu",
    interpolation: Interpolation = "bilinear",
) -> torch.Tensor:
    """Turn uint8 NHWC images into the float32 NCHW tensor ``spec`` describes, on ``device``.

    The uint8 data moves to the device first (4x less traffic than floats), then is converted there.

    Raises:
        UsageError: ``x`` is not 4-D uint8, or its channels cannot be mapped to ``spec.channels``.
    """
    t = torch.from_numpy(_writable(x)) if isinstance(x, np.ndarray) else x
    if t.ndim != 4 or t.dtype != torch.uint8:
        raise UsageError(f"expected uint8 NHWC images, got {t.dtype} of shape {tuple(t.shape)}")
    out = t.to(device, non_blocking=True).permute(0, 3, 1, 2).float().div_(255.0)
    out = _match_channels(out, spec.channels)
    if tuple(out.shape[2:]) != (spec.height, spec.width):
        size = (spec.height, spec.width)
        if interpolation == "nearest":
            out = F.interpolate(out, size=size, mode="nearest")
        else:
            out = F.interpolate(out, size=size, mode="bilinear", align_corners=False, antialias=True)
    mean = torch.tensor(spec.mean, dtype=out.dtype, device=out.device).view(1, -1, 1, 1)
    std = torch.tensor(spec.std, dtype=out.dtype, device=out.device).view(1, -1, 1, 1)
    return out.sub_(mean).div_(std).contiguous()


def _writable(a: npt.NDArray[_T]) -> npt.NDArray[_T]:
    """A contiguous array torch may wrap without its read-only warning (copies only when needed)."""
    if a.flags.writeable and a.flags.c_contiguous:
        return a
    return np.array(a, copy=True, order="C")


def _match_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    have = x.shape[1]
    if have == channels:
        return x
    if have == 1:
        return x.repeat(1, channels, 1, 1)
    if channels == 1:
        return x.mean(dim=1, keepdim=True)
    raise UsageError(
        f"cannot map {have}-channel images to a {channels}-channel model input",
        hint="use data with 1 or the same number of channels",
    )


def iterate_batches(
    split: DataSplit,
    input_spec: InputSpec,
    batch_size: int,
    device: str | torch.device = "cpu",
    *,
    shuffle: bool = False,
    seed: int = 0,
    interpolation: Interpolation = "bilinear",
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(inputs, labels)`` batches: normalised float NCHW and int64, both on ``device``.

    With ``shuffle`` the order is a permutation drawn from ``numpy.random.default_rng(seed)``, so
    the same seed gives the same batches. The last batch may be smaller.

    Raises:
        UsageError: ``batch_size`` is not positive.
    """
    if batch_size < 1:
        raise UsageError(f"batch size must be positive, got {batch_size}")
    n = len(split)
    order = np.random.default_rng(seed).permutation(n) if shuffle else None
    for start in range(0, n, batch_size):
        if order is None:
            xb, yb = split.x[start : start + batch_size], split.y[start : start + batch_size]
        else:
            idx = order[start : start + batch_size]
            xb, yb = split.x[idx], split.y[idx]
        inputs = to_tensor(xb, input_spec, device=device, interpolation=interpolation)
        labels = torch.from_numpy(_writable(yb)).to(device, non_blocking=True)
        yield inputs, labels


def num_batches(split: DataSplit, batch_size: int) -> int:
    """How many batches :func:`iterate_batches` yields."""
    return -(-len(split) // batch_size)
