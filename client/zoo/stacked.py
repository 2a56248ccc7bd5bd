"""Stacking: K tails of the same shape over one shared input become one graph of grouped convolutions.

Tails cut from one trunk with a common width profile have identical structure (same nodes, ops and
channel counts) and differ only in their weights. Stacked, they run as one network: a conv that
reads the shared input concatenates the K weight sets along its outputs; a conv that reads a stacked
tensor becomes a grouped conv with ``K * groups`` groups; a linear layer becomes block-diagonal;
per-channel ops pass through. The stacked graph's output is the K tails' outputs side by side, and
:func:`unstack_tensors` is the exact inverse (used to train the tails jointly as one network).

Only what the rules cover stacks: a ``cat`` of stacked tensors, a depthwise conv on the shared input,
or an op that mixes features (``select``, ``ovr_score``) makes :func:`stackable` false, and callers
then run the tails one by one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from nnparts.client.zoo.ir import Graph, Node
from nnparts.schemas.errors import GraphError

_CHANNELWISE = frozenset(
    {"relu", "relu6", "identity", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d"}
)
_TILE = "::tiled"


@dataclass(frozen=True)
class StackedGraph:
    graph: Graph
    tensors: dict[str, torch.Tensor]
    k: int


def structure_key(graph: Graph, tensors: Mapping[str, torch.Tensor]) -> tuple[object, ...]:
    """Everything of a graph but its weights: graphs with equal keys can be stacked."""
    nodes = tuple(
        (
            n.name,
            n.op,
            n.inputs,
            tuple(sorted((k, repr(v)) for k, v in n.attrs.items())),
            tuple(sorted((role, tuple(tensors[t].shape)) for role, t in n.params.items())),
        )
        for n in graph.nodes
    )
    return (graph.input_name, graph.input_channels, graph.output, nodes)


def stackable(graphs: Sequence[Graph], tensors: Sequence[Mapping[str, torch.Tensor]]) -> bool:
    """Whether :func:`stack` can join these graphs (identical structure, covered ops)."""
    try:
        stack(graphs, tensors)
    except GraphError:
        return False
    return True


def stack(graphs: Sequence[Graph], tensors: Sequence[Mapping[str, torch.Tensor]]) -> StackedGraph:
    """One graph computing all ``graphs`` at once; output ``(N, K * out)``, tail ``k`` in block ``k``.

    Raises:
        GraphError: the graphs differ in structure, or an op is outside the stacking rules.
    """
    if len(graphs) < 2 or len({structure_key(g, t) for g, t in zip(graphs, tensors, strict=True)}) != 1:
        raise GraphError("only two or more tails of identical structure can be stacked")
    k = len(graphs)
    g = graphs[0]
    shared = {g.input_name}  # tensors that are the same for every tail (not stacked)
    nodes: list[Node] = []
    out: dict[str, torch.Tensor] = {}

    def stacked_input(src: str) -> str:
        if src not in shared:
            return src
        tiled = f"{src}{_TILE}"
        if all(n.name != tiled for n in nodes):
            nodes.append(Node(tiled, "cat", (src,) * k, {"dim": 1}))
        return tiled

    for node in g.nodes:
        a, p = dict(node.attrs), dict(node.params)
        ws = [{role: t[name] for role, name in p.items()} for t in tensors]
        from_shared = all(i in shared for i in node.inputs)
        if node.op == "conv2d":
            if not from_shared:
                a.update(in_channels=k * int(a["in_channels"]), groups=k * int(a["groups"]))
            elif int(a["groups"]) > 1:
                raise GraphError(f"grouped conv {node.name!r} reads the shared input")
            a.update(out_channels=k * int(a["out_channels"]))
            out[p["weight"]] = torch.cat([w["weight"] for w in ws])
            if "bias" in p:
                out[p["bias"]] = torch.cat([w["bias"] for w in ws])
            nodes.append(Node(node.name, node.op, node.inputs, a, p))
        elif node.op == "linear":
            if from_shared:
                out[p["weight"]] = torch.cat([w["weight"] for w in ws])
            else:
                out[p["weight"]] = torch.block_diag(*[w["weight"] for w in ws])
                a.update(in_features=k * int(a["in_features"]))
            a.update(out_features=k * int(a["out_features"]))
            if "bias" in p:
                out[p["bias"]] = torch.cat([w["bias"] for w in ws])
            nodes.append(Node(node.name, node.op, node.inputs, a, p))
        elif node.op == "affine":
            out[p["scale"]] = torch.cat([w["scale"] for w in ws])
            out[p["shift"]] = torch.cat([w["shift"] for w in ws])
            a.update(channels=k * int(a["channels"]))
            nodes.append(Node(node.name, node.op, tuple(stacked_input(i) for i in node.inputs), a, p))
        elif node.op == "add" or node.op in _CHANNELWISE or node.op == "flatten":
            if from_shared:
                shared.add(node.name)
                nodes.append(node)
            else:
                nodes.append(Node(node.name, node.op, tuple(stacked_input(i) for i in node.inputs), a, p))
        else:
            raise GraphError(f"op {node.op!r} of node {node.name!r} cannot be stacked")
    if g.output in shared:
        raise GraphError("the tails compute nothing of their own")
    return StackedGraph(Graph(g.input_name, g.input_channels, tuple(nodes), g.output), out, k)


def unstack_tensors(
    stacked: Mapping[str, torch.Tensor], graphs: Sequence[Graph], like: Sequence[Mapping[str, torch.Tensor]]
) -> list[dict[str, torch.Tensor]]:
    """The per-tail tensors of a stacked graph (inverse of :func:`stack`; ``like`` gives the shapes)."""
    k = len(graphs)
    outs: list[dict[str, torch.Tensor]] = [{} for _ in range(k)]
    g = graphs[0]
    for node in g.nodes:
        for role, name in node.params.items():
            full = stacked[name].detach()
            for i in range(k):
                shape = tuple(like[i][name].shape)
                if node.op == "linear" and role == "weight" and full.shape[1] != shape[1]:
                    rows, cols = shape
                    outs[i][name] = full[i * rows : (i + 1) * rows, i * cols : (i + 1) * cols].clone()
                else:
                    n = shape[0]
                    outs[i][name] = full[i * n : (i + 1) * n].clone()
    return outs
