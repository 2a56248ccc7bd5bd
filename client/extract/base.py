"""The extraction contract: algorithms take a traced origin network and data, return modules in memory.

An :class:`Extractor` never writes files; :mod:`nnparts.client.pack` does. What it returns,
:class:`ExtractedModule`, is defined by the layer below (:mod:`nnparts.client.pack.extracted`, which
writes it) and re-exported here, so ``pack`` never imports ``extract``. Algorithms register under a
unique name (duplicates are an error) so tests can run over :func:`list_extractors`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

from nnparts.client.pack.extracted import ExtractedModule as ExtractedModule
from nnparts.client.zoo.ir import Graph
from nnparts.client.zoo.runtime import GraphNet
from nnparts.schemas.errors import UsageError
from nnparts.schemas.manifest import InputSpec, Origin


@dataclass(frozen=True)
class TensorData:
    """Normalised inputs ``x`` (N, C, H, W float32) and integer labels ``y`` in origin class indices."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def subset(self, index: torch.Tensor) -> TensorData:
        return TensorData(self.x[index], self.y[index])

    def batches(self, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for start in range(0, len(self), batch_size):
            yield self.x[start : start + batch_size], self.y[start : start + batch_size]


@dataclass(frozen=True)
class OriginNet:
    """What an extractor starts from: the origin's traced network and its description."""

    net: GraphNet
    origin: Origin
    input: InputSpec

    @property
    def graph(self) -> Graph:
        return self.net.graph


@dataclass(frozen=True)
class ExtractSettings:
    """Knobs shared by extractors; algorithm-specific ones go in ``params``."""

    device: str = "cpu"
    batch_size: int = 256
    seed: int = 0
    progress: bool = True
    params: dict[str, Any] = field(default_factory=dict)


class Extractor(Protocol):
    """Cuts modules for ``classes`` (origin indices) out of ``origin`` using train/val data."""

    name: str

    def extract(
        self,
        origin: OriginNet,
        classes: list[int],
        train: TensorData,
        val: TensorData,
        settings: ExtractSettings,
    ) -> list[ExtractedModule]: ...


_EXTRACTORS: dict[str, Callable[[], Extractor]] = {}
# built-in algorithms, imported on first use so that importing this module stays cheap
_BUILTINS = {
    "channel": "nnparts.client.extract.decompose_channel",
    "activation": "nnparts.client.extract.decompose_activation",
    "seam": "nnparts.client.extract.seam",
    "trunk": "nnparts.client.extract.decompose_trunk",
}


def _load_builtins() -> None:
    for module in _BUILTINS.values():  # each one ships with nnparts: a missing one is a broken install
        importlib.import_module(module)


def register_extractor(name: str) -> Callable[[Callable[[], Extractor]], Callable[[], Extractor]]:
    def deco(factory: Callable[[], Extractor]) -> Callable[[], Extractor]:
        if name in _EXTRACTORS:
            raise ValueError(f"extractor {name!r} is already registered")
        _EXTRACTORS[name] = factory
        return factory

    return deco


def get_extractor(name: str) -> Extractor:
    _load_builtins()
    if name not in _EXTRACTORS:
        raise UsageError(f"unknown method {name!r}", hint=f"choose one of: {', '.join(sorted(_EXTRACTORS))}")
    return _EXTRACTORS[name]()


def list_extractors() -> list[str]:
    _load_builtins()
    return sorted(_EXTRACTORS)
