"""Shapes, parameter counts and FLOPs of a graph, measured by one forward pass on a blank input.

FLOPs here are multiply-accumulates of conv and linear layers (the convention of the papers nnparts
compares against): conv ``C_out * C_in / groups * k_h * k_w * H_out * W_out``, linear ``in * out``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from nnparts.client.zoo.ir import Graph
from nnparts.client.zoo.runtime import GraphNet


@dataclass(frozen=True)
class GraphCost:
    params: int
    flops: int
    shapes: dict[str, tuple[int, ...]]
    node_flops: dict[str, int]


def infer_shapes(net: GraphNet, height: int, width: int) -> dict[str, tuple[int, ...]]:
    """Per-node output shape (without the batch dimension) for one ``(C, height, width)`` input."""
    graph = net.graph
    capture: dict[str, torch.Tensor] = {n.name: torch.empty(0) for n in graph.nodes}
    x = torch.zeros(1, graph.input_channels, height, width)
    with torch.no_grad():
        net.run(x, capture=capture)
    shapes = {name: tuple(t.shape[1:]) for name, t in capture.items()}
    shapes[graph.input_name] = (graph.input_channels, height, width)
    return shapes


def graph_cost(net: GraphNet, height: int, width: int) -> GraphCost:
    graph: Graph = net.graph
    shapes = infer_shapes(net, height, width)
    node_flops: dict[str, int] = {}
    for node in graph.nodes:
        a = node.attrs
        if node.op == "conv2d":
            _, h, w = shapes[node.name]
            kh, kw = a["kernel_size"]
            node_flops[node.name] = (
                int(a["out_channels"]) * int(a["in_channels"]) // int(a["groups"]) * kh * kw * h * w
            )
        elif node.op == "linear":
            node_flops[node.name] = int(a["in_features"]) * int(a["out_features"])
    params = sum(t.numel() for t in net.state_tensors().values() if t.dtype.is_floating_point)
    return GraphCost(params, sum(node_flops.values()), shapes, node_flops)
