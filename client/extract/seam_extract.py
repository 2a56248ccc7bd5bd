"""The SeaM head as IR nodes, and physical extraction of a masked network.

After a mask search many channels carry nothing: every weight producing them is pruned (the channel
is exactly zero), or every weight reading them is (nothing downstream depends on it). Such channel
variables (see :mod:`~nnparts.client.extract.channels`) are found by a fixed point and removed with
:func:`~nnparts.client.extract.channels.extract`. Removal is exact: the extracted network computes
what the masked dense network computes (up to float summation order), and the kept tensors still
hold their pruned zeros, so a weight-granularity sub-model is both smaller and stored sparse.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from nnparts.client.extract.channels import ChannelPlan, extract
from nnparts.client.zoo.ir import Graph, Node

HEAD_RELU = "seam_head.relu"
HEAD_FC = "seam_head.fc"


def with_seam_head(
    graph: Graph, tensors: Mapping[str, torch.Tensor], origin_outputs: int, k: int, *, seed: int = 0
) -> tuple[Graph, dict[str, torch.Tensor]]:
    """Append SeaM's head ``ReLU -> Linear(origin_outputs -> k)`` to the origin's logits.

    The linear layer is initialised like ``nn.Linear`` under ``torch.manual_seed(seed)`` (the caller's
    RNG state is left unchanged).
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        fc = nn.Linear(origin_outputs, k)
    relu = Node(HEAD_RELU, "relu", (graph.output,))
    linear = Node(
        HEAD_FC,
        "linear",
        (HEAD_RELU,),
        {"in_features": origin_outputs, "out_features": k},
        {"weight": f"{HEAD_FC}.weight", "bias": f"{HEAD_FC}.bias"},
    )
    out = dict(tensors)
    out[f"{HEAD_FC}.weight"] = fc.weight.detach().clone()
    out[f"{HEAD_FC}.bias"] = fc.bias.detach().clone()
    return graph.with_nodes([*graph.nodes, relu, linear], HEAD_FC), out


def _rows(t: torch.Tensor) -> torch.Tensor:
    return (t.reshape(t.shape[0], -1) != 0).any(1)


def _cols(t: torch.Tensor) -> torch.Tensor:
    return (t.transpose(0, 1).reshape(t.shape[1], -1) != 0).any(1)


def dead_channels(
    graph: Graph, tensors: Mapping[str, torch.Tensor], plan: ChannelPlan
) -> tuple[np.ndarray, dict[str, torch.Tensor]]:
    """Channel variables that can be removed without changing the output, by fixed point.

    A free variable is *dead* when every tensor carrying it is exactly zero (each producing row and
    bias is zero; a depthwise conv's bias and an affine's shift are zero) or when nothing reads it
    (every ungrouped conv/linear reading it has all-zero columns there). Dead channels' rows and
    columns are then zeroed, which can kill further channels; repeat until nothing changes. A layer
    left with no channel keeps one (all zero: keeping a dead channel is exact too).

    Returns:
        ``keep`` (bool per variable, fixed ones True) and the tensors with dead rows/columns zeroed
        (the same network output as ``tensors``).
    """
    t = {k: v.clone() for k, v in tensors.items()}
    tv = plan.tensor_vars
    nodes = [n for n in graph.nodes if n.op in ("conv2d", "linear", "affine")]
    dead = np.zeros(plan.n_vars, dtype=bool)
    while True:
        alive = np.zeros(plan.n_vars, dtype=bool)
        read = np.zeros(plan.n_vars, dtype=bool)
        for n in nodes:
            p, out_vars = n.params, tv[n.name]
            if n.op == "affine":
                live = t[p["shift"]] != 0
            else:
                grouped = n.op == "conv2d" and int(n.attrs["groups"]) > 1
                bias = t[p["bias"]] != 0 if "bias" in p else torch.zeros(len(out_vars), dtype=torch.bool)
                live = bias if grouped else _rows(t[p["weight"]]) | bias
                if not grouped:
                    read[tv[n.inputs[0]][_cols(t[p["weight"]]).numpy()]] = True
            alive[out_vars[live.numpy()]] = True
        now = (~alive | ~read) & ~plan.fixed
        if (now == dead).all():
            break
        dead = now
        for n in nodes:
            p = n.params
            out_dead = torch.as_tensor(dead[tv[n.name]])
            if n.op == "affine":
                t[p["scale"]][out_dead] = 0.0
                t[p["shift"]][out_dead] = 0.0
                continue
            t[p["weight"]][out_dead] = 0.0
            if "bias" in p:
                t[p["bias"]][out_dead] = 0.0
            if not (n.op == "conv2d" and int(n.attrs["groups"]) > 1):
                t[p["weight"]][:, torch.as_tensor(dead[tv[n.inputs[0]]])] = 0.0
    for n in nodes:  # a layer with no channel left cannot run: keep one (dead, hence exact) channel
        out_vars = tv[n.name]
        if len(out_vars) and dead[out_vars].all():
            dead[out_vars[0]] = False
    return ~dead, t


def extract_masked(
    graph: Graph, tensors: Mapping[str, torch.Tensor], plan: ChannelPlan
) -> tuple[Graph, dict[str, torch.Tensor], int]:
    """Physically remove the dead channels of a masked network (``tensors`` hold its exact zeros).

    Returns:
        The smaller graph, its tensors and the number of channel variables removed.
    """
    keep, zeroed = dead_channels(graph, tensors, plan)
    small_graph, small = extract(graph, zeroed, plan, keep)
    return small_graph, small, int((~keep).sum())
