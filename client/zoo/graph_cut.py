"""Cutting a traced graph in two: a *trunk* (the leading layers) and a *tail* that reads only its output.

A node is a **cut point** when every later node reads only that node or nodes after it: the graph's
whole state at that point is one tensor, so the trunk can run once and hand it to any number of
tails. Cut points are found on the traced graph (no layer names): in a ResNet they are the block
outputs, in a VGG every layer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from nnparts.client.zoo.ir import Graph
from nnparts.schemas.errors import GraphError


@dataclass(frozen=True)
class GraphSplit:
    """``trunk`` ends at ``cut`` (its output); ``tail`` takes that tensor as its input."""

    cut: str
    trunk: Graph
    tail: Graph
    trunk_flops_share: float


def cut_points(graph: Graph) -> list[str]:
    """Names of the nodes after which exactly one tensor (their own output) is live, in order."""
    position = {graph.input_name: -1} | {n.name: i for i, n in enumerate(graph.nodes)}
    crossed = [False] * len(graph.nodes)  # some older tensor is read after this node
    for i, node in enumerate(graph.nodes):
        for src in node.inputs:
            for b in range(position[src] + 1, i):
                crossed[b] = True
    return [n.name for i, n in enumerate(graph.nodes[:-1]) if not crossed[i]]


def _is_cut(graph: Graph, name: str) -> bool:
    return name in cut_points(graph)


def choose_cut(graph: Graph, node_flops: Mapping[str, int], fraction: float) -> str | None:
    """The last cut point whose leading layers hold at most ``fraction`` of the FLOPs (None if none)."""
    total = float(sum(node_flops.values())) or 1.0
    cuts = set(cut_points(graph))
    done, best = 0.0, None
    for node in graph.nodes:
        done += node_flops.get(node.name, 0)
        if done > fraction * total + 1e-9:
            break
        if node.name in cuts:
            best = node.name
    return best


def split_at(graph: Graph, cut: str, channels: int, node_flops: Mapping[str, int]) -> GraphSplit:
    """Split ``graph`` after cut point ``cut`` (``channels``: that tensor's channel count)."""
    if not _is_cut(graph, cut):
        raise GraphError(f"node {cut!r} is not a cut point of the graph")
    names = [n.name for n in graph.nodes]
    pos = names.index(cut)
    trunk = graph.with_nodes(graph.nodes[: pos + 1], cut)
    tail = Graph(cut, channels, graph.nodes[pos + 1 :], graph.output)
    total = float(sum(node_flops.values())) or 1.0
    share = sum(node_flops.get(n, 0) for n in names[: pos + 1]) / total
    return GraphSplit(cut, trunk, tail, share)
