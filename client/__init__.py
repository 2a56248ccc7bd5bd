"""nnparts.client: the torch side and the wiring; :class:`Client` is the Python API.

``Client`` and its result types load lazily (they import torch), so ``nnparts.client.cli --help``
stays torch-free.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nnparts.client.api import Client, Evaluation, Origin, Package

__all__ = ["Client", "Evaluation", "Origin", "Package"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from nnparts.client import api

        return getattr(api, name)
    raise AttributeError(f"module 'nnparts.client' has no attribute {name!r}")
