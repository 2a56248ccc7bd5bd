"""SeaM mask scores over a traced graph: weight, kernel or channel granularity, one estimator.

Every masked ``conv2d``/``linear`` node gets real-valued scores; its effective weight is
``W * 1[score > 0]``, computed with the straight-through estimator of
:func:`~nnparts.client.extract.decompose_channel.ste_gate` (backward: the incoming gradient clipped
element-wise to [-1, 1]). Score shapes by granularity:

- ``weight`` (SeaM): one score per weight, initialised at 1.0.
- ``kernel``: one score per ``(out, in)`` kernel (broadcast over its ``kh x kw`` taps).
- ``channel``: one score per free channel variable of :mod:`~nnparts.client.extract.channels`;
  a weight is kept when its output and input variables are both kept (``affine`` nodes are gated).

Biases are never masked at weight and kernel granularity (SeaM masks weights only). With BatchNorm
folded into the convolutions every conv bias *is* the BatchNorm shift: forcing a share of them to
zero, as masking them at a layer's density did, shifts whole channels (zeroing only the shifts
the old steering cut took the untouched ResNet-20 origin from 91.4 % to 13.0 % top-1). At channel
granularity a removed channel takes its bias with it (the channel is gone, not shifted).
Retention counts conv and linear **weights** only, as the paper's weight retention rate does.

The network's own weights stay in the :class:`GraphNet`; a masked forward substitutes the effective
weights with :func:`torch.func.functional_call`, so the same code serves the search (scores learn,
weights frozen) and masked fine-tuning (weights learn, hard masks fixed: pruned entries stay zero).

Hard masks keep ``score > threshold``; every threshold is 0 (SeaM) unless :meth:`SeamMasks.steer_to`
moved them so that a requested share is kept (the retention-steered search, see ``seam_search``).
How weight and kernel granularity split that share over the layers is the ``allocation``:

- ``erk``: the Erdos-Renyi-kernel rule of sparse training (RigL, Evci et al. 2020: a layer's density
  is proportional to the sum of its weight's dimensions over their product, capped at 1), so small
  early layers and the classifier stay dense; each layer then keeps its highest scores.
- ``global``: one threshold over every score, as in SeaM, where each layer's density emerges from
  the learned scores (here the threshold is the exact dual of the retention goal, see ``steer_to``).

Channel granularity always uses one global threshold (channel variables span several layers).

Retention is cost-weighted: ``cost="params"`` counts every masked entry once (SeaM's weight retention
rate, WRR); ``cost="flops"`` weights a conv entry by its output's ``H x W`` (multiply-accumulates with
zeros counted as free, the fvcore convention).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn
from torch.func import functional_call

from nnparts.client.extract.channels import ChannelPlan
from nnparts.client.extract.decompose_channel import ste_gate
from nnparts.client.extract.steering import lowest_threshold
from nnparts.client.zoo.runtime import GraphNet, layer_key
from nnparts.schemas.errors import UsageError

Granularity = Literal["weight", "kernel", "channel"]
Cost = Literal["params", "flops"]
GRANULARITIES: tuple[str, ...] = ("weight", "kernel", "channel")
COSTS: tuple[str, ...] = ("params", "flops")
ALLOCATIONS: tuple[str, ...] = ("erk", "global")

# node name -> (weight mask broadcastable to the weight, bias mask: channel granularity only, else None)
Masks = dict[str, tuple[torch.Tensor, torch.Tensor | None]]


@dataclass(frozen=True)
class MaskedLayer:
    """One masked conv/linear node: its shapes and the retention cost of one of its entries."""

    node: str
    op: str
    weight_shape: tuple[int, ...]
    has_bias: bool
    depthwise: bool
    entry_cost: float


class _Runner(nn.Module):
    """Lets ``functional_call`` pass gates to :meth:`GraphNet.run`."""

    def __init__(self, net: GraphNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor, gates: Mapping[str, torch.Tensor] | None = None) -> torch.Tensor:
        return self.net.run(x, gates=gates)


class SeamMasks(nn.Module):
    """Scores for the ``layers`` of ``net`` and the masked forward pass.

    Args:
        net: the network (weights are read, never copied; freeze them for a mask search).
        layers: names of the conv/linear nodes to mask (SeaM: all of the origin's, head excluded).
        granularity: ``weight``, ``kernel`` or ``channel``.
        shapes: per-node output shapes (``cost.infer_shapes``), for the FLOPs cost.
        plan: the channel plan of ``net.graph`` (required for ``channel``).
        cost: ``params`` or ``flops`` (see the module docstring).
        init: initial score, a number (1.0 in SeaM) or ``"magnitude"``: each score starts at its
            weight's (kernel's, output filter's) absolute size over the layer's mean, so scores still
            average 1.0 but rank by magnitude from the first step (a warm start for steered pruning).
        allocation: ``erk`` or ``global`` (weight and kernel granularity; see the module docstring).

    Raises:
        UsageError: unknown granularity, cost or allocation, a node that is not conv/linear, or no
            plan for channel.
    """

    def __init__(
        self,
        net: GraphNet,
        layers: Sequence[str],
        granularity: str,
        shapes: Mapping[str, tuple[int, ...]],
        *,
        plan: ChannelPlan | None = None,
        cost: str = "params",
        init: float | str = 1.0,
        allocation: str = "erk",
    ) -> None:
        super().__init__()
        if granularity not in GRANULARITIES:
            raise UsageError(f"unknown granularity {granularity!r}", hint="use weight, kernel or channel")
        if cost not in COSTS:
            raise UsageError(f"unknown retention cost {cost!r}", hint="use params or flops")
        if allocation not in ALLOCATIONS:
            raise UsageError(f"unknown allocation {allocation!r}", hint="use erk or global")
        if isinstance(init, str) and init != "magnitude":
            raise UsageError(f"unknown score init {init!r}", hint="use a number or magnitude")
        if granularity == "channel" and plan is None:
            raise UsageError("channel granularity needs a channel plan")
        self.granularity = granularity
        self.cost = cost
        self.allocation = allocation
        self.plan = plan
        self.runner = _Runner(net)
        self.layers: tuple[MaskedLayer, ...] = tuple(self._layer(net, n, shapes, cost) for n in layers)
        self.scores = nn.ParameterDict()
        if granularity == "channel":
            assert plan is not None
            self.scores["vars"] = nn.Parameter(torch.ones(plan.n_vars))
            self.register_buffer("fixed", torch.as_tensor(plan.fixed))
            self._index = {k: torch.as_tensor(v) for k, v in plan.tensor_vars.items()}
            self.affines = tuple(n.name for n in net.graph.nodes if n.op == "affine")
        else:
            for layer in self.layers:
                shape = layer.weight_shape
                if granularity == "kernel" and layer.op == "conv2d":
                    shape = (shape[0], shape[1], 1, 1)
                self.scores[layer_key(layer.node) + "__w"] = nn.Parameter(torch.ones(shape))
        self.thresholds: dict[str, float] = {k: 0.0 for k in self.scores}
        with torch.no_grad():
            if init == "magnitude":
                self._magnitude_init()
            else:
                for v in self.scores.values():
                    v.fill_(float(init))
        self.total_cost = sum(layer.entry_cost * _numel(layer.weight_shape) for layer in self.layers)

    @staticmethod
    def _layer(net: GraphNet, name: str, shapes: Mapping[str, tuple[int, ...]], cost: str) -> MaskedLayer:
        node = net.graph.node(name)
        if node.op not in ("conv2d", "linear"):
            raise UsageError(f"node {name!r} is a {node.op}, only conv2d and linear nodes can be masked")
        module = net.layers[layer_key(name)]
        assert isinstance(module, (nn.Conv2d, nn.Linear))
        shape = tuple(module.weight.shape)
        spatial = shapes[name][1] * shapes[name][2] if node.op == "conv2d" else 1
        depthwise = node.op == "conv2d" and int(node.attrs["groups"]) > 1
        return MaskedLayer(
            name, node.op, shape, module.bias is not None, depthwise, float(spatial if cost == "flops" else 1)
        )

    def _magnitude_init(self) -> None:
        """Scores = |weight| / mean |weight| of the layer (kernels: L1 per kernel; channels: L1 per filter)."""
        sums: torch.Tensor | None = None
        counts: torch.Tensor | None = None
        if self.granularity == "channel":
            sums, counts = torch.zeros(self.scores["vars"].shape), torch.zeros(self.scores["vars"].shape)
        for layer in self.layers:
            module = self.net.layers[layer_key(layer.node)]
            assert isinstance(module, (nn.Conv2d, nn.Linear))
            w = module.weight.detach().abs().cpu()
            if self.granularity == "weight":
                size = w
            elif self.granularity == "kernel" and layer.op == "conv2d":
                size = w.sum(dim=(2, 3), keepdim=True)
            elif self.granularity == "kernel":
                size = w
            else:
                size = w.flatten(1).sum(1)
            size = size / size.mean().clamp_min(1e-12)
            if sums is not None and counts is not None:
                index = self._index[layer.node]
                sums.index_add_(0, index, size)
                counts.index_add_(0, index, torch.ones_like(size))
                continue
            self.scores[layer_key(layer.node) + "__w"].copy_(size)
        if sums is not None and counts is not None:
            self.scores["vars"].copy_(
                torch.where(counts > 0, sums / counts.clamp_min(1), torch.ones_like(sums))
            )

    @property
    def net(self) -> GraphNet:
        return self.runner.net

    def _hard_or_ste(self, key: str, detach: bool) -> torch.Tensor:
        s, t = self.scores[key], self.thresholds[key]
        return (s.detach() > t).to(s.dtype) if detach else ste_gate(s - t)

    def _var_keep(self, detach: bool) -> torch.Tensor:
        gate = self._hard_or_ste("vars", detach)
        fixed = self.fixed
        assert isinstance(fixed, torch.Tensor)
        return torch.where(fixed, torch.ones_like(gate), gate)

    def masks(self, *, detach: bool = False) -> Masks:
        """Per-layer 0/1 masks; differentiable (straight-through) unless ``detach``."""
        out: Masks = {}
        if self.granularity == "channel":
            keep = self._var_keep(detach)
            for layer in self.layers:
                node = self.net.graph.node(layer.node)
                g_out = keep[self._index[layer.node]]
                if layer.depthwise:
                    w = g_out.view(-1, 1, 1, 1)
                else:
                    g_in = keep[self._index[node.inputs[0]]]
                    w = g_out.view(-1, 1) * g_in.view(1, -1)
                    if layer.op == "conv2d":
                        w = w.view(*w.shape, 1, 1)
                out[layer.node] = (w, g_out if layer.has_bias else None)
            return out
        for layer in self.layers:
            out[layer.node] = (self._hard_or_ste(layer_key(layer.node) + "__w", detach), None)
        return out

    def gates(self, *, detach: bool = False) -> dict[str, torch.Tensor] | None:
        """Channel granularity: gates for ``affine`` nodes (unmasked BatchNorm); else None."""
        if self.granularity != "channel" or not self.affines:
            return None
        keep = self._var_keep(detach)
        return {a: keep[self._index[a]] for a in self.affines}

    def retention(self, masks: Masks) -> torch.Tensor:
        """Cost-weighted fraction of masked weights kept (differentiable through ``masks``)."""
        total: torch.Tensor | None = None
        for layer in self.layers:
            term = masks[layer.node][0].expand(layer.weight_shape).sum() * layer.entry_cost
            total = term if total is None else total + term
        assert total is not None
        return total / self.total_cost

    def hard_retention(self) -> float:
        """Cost-weighted retention of the current hard masks."""
        with torch.no_grad():
            return float(self.retention(self.masks(detach=True)))

    def steer_to(self, goal: float) -> float:
        """Set the thresholds so that the hard retention is at most ``goal`` (and close); returns it."""
        with torch.no_grad():
            if self.granularity == "channel":
                self._steer_global(goal)
            elif self.allocation == "global":
                self._steer_weights_global(goal)
            else:
                for layer, density in zip(self.layers, self.erk_densities(goal), strict=True):
                    key = layer_key(layer.node) + "__w"
                    self.thresholds[key] = _keep_top(self.scores[key], density)
        return self.hard_retention()

    def _steer_weights_global(self, goal: float) -> None:
        """One threshold over all weight (kernel) scores: the lowest whose kept cost is within ``goal``.

        Bisection on the threshold (40 halvings: far below any score gap that matters), each probe a
        comparison per score; a sort of every score at every step cost as much as the step itself.
        """
        pairs = []
        for layer in self.layers:
            s = self.scores[layer_key(layer.node) + "__w"].detach().flatten()
            taps = _numel(layer.weight_shape) // s.numel()  # kernel scores stand for kh x kw weights
            pairs.append((s, float(layer.entry_cost * taps)))

        def kept(t: float) -> float:
            total = 0.0
            for s, c in pairs:
                total += c * int((s > t).sum())
            return total / self.total_cost

        lo = min(float(s.min()) for s, _ in pairs) - 1e-6
        hi = max(float(s.max()) for s, _ in pairs)
        threshold = lowest_threshold(lo, hi, kept, goal, iters=40)
        for layer in self.layers:
            self.thresholds[layer_key(layer.node) + "__w"] = threshold

    def erk_densities(self, goal: float) -> list[float]:
        """Per-layer densities ``min(1, eps * sum(dims) / prod(dims))`` with cost-weighted mean ``goal``."""
        sizes = [_numel(layer.weight_shape) for layer in self.layers]
        erk = [sum(layer.weight_shape) / _numel(layer.weight_shape) for layer in self.layers]
        costs = [layer.entry_cost * n for layer, n in zip(self.layers, sizes, strict=True)]

        def kept(eps: float) -> float:
            return sum(c * min(1.0, eps * e) for c, e in zip(costs, erk, strict=True)) / self.total_cost

        if goal >= 1.0:
            return [1.0] * len(self.layers)
        lo, hi = 0.0, 1.0 / min(erk)
        for _ in range(60):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if kept(mid) < goal else (lo, mid)
        return [min(1.0, lo * e) for e in erk]

    def _steer_global(self, goal: float) -> None:
        flat = torch.cat([v.detach().flatten() for v in self.scores.values()])

        def set_all(t: float) -> None:
            for k in self.thresholds:
                self.thresholds[k] = t

        def kept(t: float) -> float:
            set_all(t)
            return self.hard_retention()

        set_all(lowest_threshold(float(flat.min()) - 1e-6, float(flat.max()), kept, goal))

    def forward(
        self, x: torch.Tensor, masks: Masks, gates: Mapping[str, torch.Tensor] | None = None
    ) -> torch.Tensor:
        """The network's output with every masked layer's weight (and bias) multiplied by its mask."""
        params: dict[str, torch.Tensor] = {}
        for layer in self.layers:
            module = self.net.layers[layer_key(layer.node)]
            assert isinstance(module, (nn.Conv2d, nn.Linear))
            w, b = masks[layer.node]
            prefix = f"net.layers.{layer_key(layer.node)}"
            params[prefix + ".weight"] = module.weight * w
            if b is not None and module.bias is not None:
                params[prefix + ".bias"] = module.bias * b
        out: torch.Tensor = functional_call(self.runner, params, (x,), {"gates": gates})
        return out

    def hard_tensors(self) -> dict[str, torch.Tensor]:
        """The network's named tensors with the current hard masks multiplied in (exact zeros)."""
        tensors = self.net.state_tensors()
        masks = self.masks(detach=True)
        for layer in self.layers:
            node = self.net.graph.node(layer.node)
            w, b = masks[layer.node]
            name = node.params["weight"]
            tensors[name] = tensors[name] * w.expand(layer.weight_shape).to(tensors[name].device)
            if b is not None:  # channel granularity: a removed channel's bias goes with it
                tensors[node.params["bias"]] = tensors[node.params["bias"]] * b.to(tensors[name].device)
        for name, gate in (self.gates(detach=True) or {}).items():
            p = self.net.graph.node(name).params
            tensors[p["scale"]] = tensors[p["scale"]] * gate.cpu()
            tensors[p["shift"]] = tensors[p["shift"]] * gate.cpu()
        return {k: v.cpu() for k, v in tensors.items()}

    def kept_entries(self) -> tuple[int, int]:
        """(kept, total) masked weights under the current hard masks: WRR = kept / total."""
        masks = self.masks(detach=True)
        kept = total = 0
        for layer in self.layers:
            kept += int(masks[layer.node][0].expand(layer.weight_shape).sum())
            total += _numel(layer.weight_shape)
        return kept, total

    def snapshot(self) -> dict[str, torch.Tensor]:
        """The hard state of every score (bool, CPU), for checkpointing a candidate."""
        return {k: (v.detach() > self.thresholds[k]).cpu() for k, v in self.scores.items()}

    def restore(self, snap: Mapping[str, torch.Tensor]) -> None:
        """Set scores to +1 / -1 and thresholds to 0 from a :meth:`snapshot` (the hard masks come back exactly)."""
        self.thresholds = {k: 0.0 for k in self.scores}
        with torch.no_grad():
            for k, v in self.scores.items():
                v.copy_(snap[k].to(v.device).to(v.dtype) * 2 - 1)


def _keep_top(scores: torch.Tensor, density: float) -> float:
    """The threshold that keeps the ``floor(density * n)`` highest scores (at least one; ties may keep fewer)."""
    n = scores.numel()
    k = max(1, min(n, math.floor(density * n + 1e-9)))
    if k == n:
        return float(scores.min()) - 1e-6
    return float(scores.detach().flatten().kthvalue(n - k).values)


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= int(s)
    return n
