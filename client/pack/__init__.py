"""nnparts.client.pack: safetensors + manifest writing and loading; the only code that writes modules."""

from __future__ import annotations

from nnparts.client.pack.loader import LoadedModule, load_package, read_tensors
from nnparts.client.pack.writer import safetensors_bytes, write_folder, write_package

__all__ = [
    "LoadedModule",
    "load_package",
    "read_tensors",
    "safetensors_bytes",
    "write_folder",
    "write_package",
]
