"""Channel variables: which channels of a traced CNN can be removed together, and their removal.

Every channel (feature, after a flatten) of every tensor is assigned a *variable*. A conv or linear
layer creates fresh variables for its outputs; element-wise ops, pooling and affine pass them through.
Policies, recorded in manifests as ``residual_policy``:

- **add (residual)**: the channels summed at an add share one variable on every branch, so a
  residual stream keeps or drops a channel everywhere at once (GradSplitter's tying, which keeps
  fewer channels than MwT's union): policy *tied*. The decomposer's default, *keep*
  (:func:`with_fixed_residuals`), goes further and never removes a stream channel: one stream
  channel feeds every block of its stage, and cutting it costs far more accuracy than its FLOPs.
- **cat**: the output's variables are the inputs' variables, concatenated.
- **depthwise conv** (groups == in_channels): output channel ``j`` shares the variable of input
  channel ``j // multiplier``; **other grouped convs** keep all their input and output channels.
- **flatten**: each feature inherits the variable of the channel it came from.
- The network's input channels and its output (logits) are *fixed*: never removed.

A channel is kept when its variable's gate is 1. Gates multiply the outputs of producer nodes
(conv, linear, affine) in the masked full model; since every other op maps zeros to zeros, a channel
whose variable is off is exactly zero everywhere, which is why :func:`extract` is exact.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from nnparts.client.zoo.ir import PRODUCERS, Graph, Node
from nnparts.schemas.errors import GraphError

RESIDUAL_POLICY = "tied"


class _UnionFind:
    def __init__(self) -> None:
        self.parent: list[int] = [0]  # variable 0 is FIXED

    def new(self, n: int) -> np.ndarray:
        start = len(self.parent)
        self.parent.extend(range(start, start + n))
        return np.arange(start, start + n)

    def find(self, i: int) -> int:
        root = i
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[i] != root:
            self.parent[i], i = root, self.parent[i]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            lo, hi = min(ra, rb), max(ra, rb)
            self.parent[hi] = lo  # FIXED (0) always stays the root of its set


@dataclass(frozen=True)
class ChannelPlan:
    """``tensor_vars[node]`` lists the variable of each channel of that node's output.

    Variables are numbered ``0 .. n_vars - 1``; ``fixed[v]`` marks variables that are never removed.
    """

    n_vars: int
    tensor_vars: Mapping[str, np.ndarray]
    fixed: np.ndarray
    producers: tuple[str, ...]

    @property
    def free_vars(self) -> np.ndarray:
        return np.flatnonzero(~self.fixed)

    def gates(self, keep: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-producer channel multipliers from a per-variable ``keep`` vector (float, may carry grad)."""
        return {p: keep[torch.as_tensor(self.tensor_vars[p])] for p in self.producers}


def analyse_channels(graph: Graph, shapes: Mapping[str, tuple[int, ...]]) -> ChannelPlan:
    """Assign channel variables to every tensor of ``graph`` (``shapes`` from ``cost.infer_shapes``)."""
    uf = _UnionFind()
    tv: dict[str, np.ndarray] = {graph.input_name: np.zeros(graph.input_channels, dtype=np.int64)}
    for node in graph.nodes:
        tv[node.name] = _node_vars(node, tv, shapes, uf)
    for v in tv[graph.output]:
        uf.union(0, int(v))
    roots = np.array([uf.find(i) for i in range(len(uf.parent))])
    used = np.unique(np.concatenate([roots[vs] for vs in tv.values()] + [np.zeros(1, dtype=np.int64)]))
    relabel = np.full(len(uf.parent), -1, dtype=np.int64)
    relabel[used] = np.arange(len(used))
    tensor_vars = {name: relabel[roots[vs]] for name, vs in tv.items()}
    fixed = np.zeros(len(used), dtype=bool)
    fixed[0] = True
    producers = tuple(n.name for n in graph.nodes if n.op in PRODUCERS)
    return ChannelPlan(len(used), tensor_vars, fixed, producers)


def _node_vars(
    node: Node, tv: Mapping[str, np.ndarray], shapes: Mapping[str, tuple[int, ...]], uf: _UnionFind
) -> np.ndarray:
    op, a = node.op, node.attrs
    ins = [tv[i] for i in node.inputs]
    if op == "conv2d":
        cin, cout, groups = int(a["in_channels"]), int(a["out_channels"]), int(a["groups"])
        if groups == 1:
            return uf.new(cout)
        if groups == cin and cout % cin == 0:
            return np.repeat(ins[0], cout // cin)
        for v in ins[0]:
            uf.union(0, int(v))
        return np.zeros(cout, dtype=np.int64)
    if op == "linear":
        return uf.new(int(a["out_features"]))
    if op == "add":
        first = ins[0]
        for other in ins[1:]:
            if len(other) != len(first):
                raise GraphError(f"add {node.name!r} joins {len(first)} and {len(other)} channels")
            for x, y in zip(first, other, strict=True):
                uf.union(int(x), int(y))
        return first
    if op == "cat":
        return np.concatenate(ins)
    if op == "flatten":
        shape = shapes[node.inputs[0]]
        spatial = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        return np.repeat(ins[0], spatial)
    if op in ("ovr_score", "select"):
        for v in ins[0]:
            uf.union(0, int(v))
        return np.zeros(shapes[node.name][0], dtype=np.int64)
    return ins[0]  # affine, relu, relu6, pools, identity, position_mask: channel-wise


def keep_vector(plan: ChannelPlan, keep_vars: np.ndarray) -> np.ndarray:
    """Boolean keep per variable with the fixed ones forced on."""
    keep = np.asarray(keep_vars, dtype=bool).copy()
    keep[plan.fixed] = True
    return keep


def extract(
    graph: Graph, tensors: Mapping[str, torch.Tensor], plan: ChannelPlan, keep_vars: np.ndarray
) -> tuple[Graph, dict[str, torch.Tensor]]:
    """Physically remove every channel whose variable is off; returns a smaller graph and tensors.

    The result computes exactly what the full graph computes with gates ``keep_vars`` applied.
    """
    keep = keep_vector(plan, keep_vars)
    idx = {name: np.flatnonzero(keep[vs]) for name, vs in plan.tensor_vars.items()}
    out_tensors: dict[str, torch.Tensor] = {}
    nodes: list[Node] = []
    for node in graph.nodes:
        a, p = dict(node.attrs), dict(node.params)
        o = torch.as_tensor(idx[node.name])
        i = torch.as_tensor(idx[node.inputs[0]]) if node.inputs else o
        if node.op == "conv2d":
            w = tensors[p["weight"]]
            groups = int(a["groups"])
            if groups == 1:
                w = w[o][:, i]
                a.update(in_channels=len(i), out_channels=len(o))
            elif groups == int(a["in_channels"]) and int(a["out_channels"]) % groups == 0:
                mult = int(a["out_channels"]) // groups
                w = w[o]
                a.update(in_channels=len(i), out_channels=len(o), groups=len(i))
                if len(o) != len(i) * mult:
                    raise GraphError(f"depthwise conv {node.name!r} lost its channel multiplier")
            else:
                w = w[o]
                a.update(out_channels=len(o))
            out_tensors[p["weight"]] = w.contiguous()
            if "bias" in p:
                out_tensors[p["bias"]] = tensors[p["bias"]][o].contiguous()
        elif node.op == "linear":
            out_tensors[p["weight"]] = tensors[p["weight"]][o][:, i].contiguous()
            if "bias" in p:
                out_tensors[p["bias"]] = tensors[p["bias"]][o].contiguous()
            a.update(in_features=len(i), out_features=len(o))
        elif node.op == "affine":
            out_tensors[p["scale"]] = tensors[p["scale"]][o].contiguous()
            out_tensors[p["shift"]] = tensors[p["shift"]][o].contiguous()
            a.update(channels=len(o))
        elif node.op == "position_mask":
            out_tensors[p["mask"]] = tensors[p["mask"]][o].contiguous()
        else:
            for name in p.values():
                out_tensors[name] = tensors[name]
        nodes.append(Node(node.name, node.op, node.inputs, a, p))
    return graph.with_nodes(nodes), out_tensors


def with_fixed_trunk(
    plan: ChannelPlan, graph: Graph, node_flops: Mapping[str, int], fraction: float
) -> ChannelPlan:
    """Pin every channel variable of the leading nodes that hold ``fraction`` of the FLOPs.

    Modules cut with the same pinned trunk share it byte for byte, so an assembly runs it once for
    all of them (the shared-trunk policy); only the rest of the network differs per module.
    """
    if fraction <= 0:
        return plan
    total = float(sum(node_flops.values())) or 1.0
    fixed = plan.fixed.copy()
    fixed[plan.tensor_vars[graph.input_name]] = True
    done = 0.0
    for node in graph.nodes:
        if done + node_flops.get(node.name, 0) > fraction * total:
            break
        done += node_flops.get(node.name, 0)
        fixed[plan.tensor_vars[node.name]] = True
    return ChannelPlan(plan.n_vars, plan.tensor_vars, fixed, plan.producers)


def with_fixed_residuals(plan: ChannelPlan, graph: Graph) -> ChannelPlan:
    """Pin every channel that is summed at a residual add (the *keep* residual policy).

    A residual stream's channel feeds every block of its stage, so removing one costs far more
    accuracy than its share of FLOPs suggests; under this policy only channels inside blocks (and
    hidden neurons) are removed.
    """
    fixed = plan.fixed.copy()
    for node in graph.nodes:
        if node.op == "add":
            fixed[plan.tensor_vars[node.name]] = True
    return ChannelPlan(plan.n_vars, plan.tensor_vars, fixed, plan.producers)
