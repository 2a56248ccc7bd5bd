"""Bitmask storage: a tensor with many zeros is stored as a packed bit per entry plus its kept values.

``pack`` returns ``(mask_bytes, values)``: ``mask_bytes`` is ``numpy.packbits`` of the non-zero pattern
in C order (uint8, ``ceil(n / 8)`` entries) and ``values`` the non-zero entries in the same order, so a
file's size follows the tensor's density: ``n / 8 + nnz * itemsize`` bytes instead of ``n * itemsize``.
"""

from __future__ import annotations

import numpy as np
import torch

# Store sparse when it is at least this much smaller than dense.
SPARSE_GAIN = 0.9


def worth_packing(t: torch.Tensor) -> bool:
    if not t.dtype.is_floating_point or t.numel() < 64:
        return False
    nnz = int(torch.count_nonzero(t))
    sparse_bytes = (t.numel() + 7) // 8 + nnz * t.element_size()
    return sparse_bytes < SPARSE_GAIN * t.numel() * t.element_size()


def pack(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    flat = t.detach().contiguous().view(-1)
    nonzero = flat != 0
    mask = np.packbits(nonzero.numpy().astype(np.uint8))
    return torch.from_numpy(mask.copy()), flat[nonzero].clone()


def pack_bits(t: torch.Tensor) -> torch.Tensor:
    """A boolean tensor as packed bits (uint8): 1 bit per entry."""
    return torch.from_numpy(np.packbits(t.detach().contiguous().view(-1).numpy().astype(np.uint8)).copy())


def unpack_bits(mask: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    n = int(np.prod(shape)) if shape else 1
    return torch.from_numpy(np.unpackbits(mask.numpy(), count=n).astype(bool)).view(shape)


def unpack(mask: torch.Tensor, values: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    n = int(np.prod(shape)) if shape else 1
    bits = np.unpackbits(mask.numpy(), count=n).astype(bool)
    if int(bits.sum()) != values.numel():
        raise ValueError(f"bitmask has {int(bits.sum())} set bits but {values.numel()} values")
    out = torch.zeros(n, dtype=values.dtype)
    out[torch.from_numpy(bits)] = values
    return out.view(shape)
