"""A module in memory, as an extractor returns it and :mod:`nnparts.client.pack` writes it.

It lives here, below :mod:`nnparts.client.extract` (which re-exports it from ``extract.base``), so
the dependency runs one way: ``extract`` -> ``pack``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch

from nnparts.client.zoo.ir import Graph
from nnparts.client.zoo.runtime import GraphNet
from nnparts.schemas.manifest import Calibration, ClassEntry, MaskInfo


@dataclass(frozen=True)
class ExtractedModule:
    """One module in memory: a graph, its tensors and everything its manifest will say."""

    graph: Graph
    tensors: dict[str, torch.Tensor]
    kind: Literal["class_module", "sub_model", "trunk"]
    classes: tuple[ClassEntry, ...]
    method: str
    params: dict[str, Any]
    mask: MaskInfo
    metrics: dict[str, Any]
    output_type: Literal["ovr_score", "logits", "features"]
    output_size: int
    calibration: Calibration
    on_trunk: bool = False  # the graph reads the output of the trunk extracted with it

    def network(self) -> GraphNet:
        return GraphNet(self.graph, self.tensors).eval()
