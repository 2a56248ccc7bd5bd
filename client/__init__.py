"""nnparts.client: the torch side and the wiring; :class:`Client` is the Python API.

``Client`` and the types its methods return load lazily (several import torch), so
``import nnparts.client`` and ``nnparts.client.cli --help`` stay torch-free.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nnparts.client.api import Client, Evaluation, Origin, Package
    from nnparts.client.assemble import AssembledModel, OnnxExport, Prediction, Replacement
    from nnparts.client.extract.decompose_settings import DecomposeSettings
    from nnparts.client.quickstart import QuickstartReport
    from nnparts.client.resolve import InstallResult, Lockfile, ModuleInfo, Published, Signed
    from nnparts.client.trust import BundleReport
    from nnparts.schemas.index_entry import IndexEntry

#: each exported name -> the module that defines it (imported on first access)
_HOMES = {
    "Client": "nnparts.client.api",
    "Evaluation": "nnparts.client.api",
    "Origin": "nnparts.client.api",
    "Package": "nnparts.client.api",
    "AssembledModel": "nnparts.client.assemble",
    "OnnxExport": "nnparts.client.assemble",
    "Prediction": "nnparts.client.assemble",
    "Replacement": "nnparts.client.assemble",
    "DecomposeSettings": "nnparts.client.extract.decompose_settings",
    "QuickstartReport": "nnparts.client.quickstart",
    "InstallResult": "nnparts.client.resolve",
    "Lockfile": "nnparts.client.resolve",
    "ModuleInfo": "nnparts.client.resolve",
    "Published": "nnparts.client.resolve",
    "Signed": "nnparts.client.resolve",
    "BundleReport": "nnparts.client.trust",
    "IndexEntry": "nnparts.schemas.index_entry",
}

__all__ = [
    "AssembledModel",
    "BundleReport",
    "Client",
    "DecomposeSettings",
    "Evaluation",
    "IndexEntry",
    "InstallResult",
    "Lockfile",
    "ModuleInfo",
    "OnnxExport",
    "Origin",
    "Package",
    "Prediction",
    "Published",
    "QuickstartReport",
    "Replacement",
    "Signed",
]


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'nnparts.client' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
