"""Device names (``auto``, ``cpu``, ``cuda[:N]``, ``mps``): checked without torch, resolved with it."""

from __future__ import annotations

import re

from nnparts.schemas.errors import UsageError

_DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def check_device(value: str) -> str:
    """Return ``value`` if it names a device (auto, cpu, mps, cuda, cuda:N).

    Raises:
        UsageError: anything else.
    """
    if not _DEVICE_RE.match(value):
        raise UsageError(f"unknown device {value!r}", hint="use auto, cpu, cuda, cuda:N or mps")
    return value


def resolve_device(value: str) -> str:
    """Map ``auto`` to ``cuda`` when CUDA is available, else ``cpu``; check an explicit device exists.

    Raises:
        UsageError: an unknown device, or CUDA/MPS asked for but not available.
    """
    import torch

    check_device(value)
    if value == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if value.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UsageError(f"--device {value}: CUDA is not available here", hint="use --device cpu or auto")
        index = int(value.split(":")[1]) if ":" in value else 0
        if index >= torch.cuda.device_count():
            raise UsageError(
                f"--device {value}: only {torch.cuda.device_count()} CUDA device(s)",
                hint="pick a lower index",
            )
    if value == "mps" and not torch.backends.mps.is_available():
        raise UsageError("--device mps: MPS is not available here", hint="use --device cpu or auto")
    return value
