"""Structured decomposition (nnparts' default): one physically smaller module per class.

For class ``c`` the module is the origin network restricted to a subset of channel variables (see
:mod:`channels`) with a one-vs-rest head ``z_c - logsumexp(z_j, j != c)``. The subset is chosen in
three steps, never looking at test data:

1. **Warm start** from class-conditional activation statistics: each channel variable's mean
   activation on class-``c`` training inputs relative to all inputs, ranked within its layer, sets
   its initial score in ``(0.5, 1.5]`` (important channels start far from the cut).
2. **Gradient mask search** (GradSplitter-style): gates ``1[score > 0]`` with a straight-through
   estimator whose gradient is clipped to [-1, 1]; weights frozen (BatchNorm is folded, so it cannot
   drift). Loss: soft BCE towards the origin's own one-vs-rest probability (distillation) plus hard
   BCE on the labels, over class-balanced batches, plus ``lam`` times the differentiable FLOPs ratio
   (a kernel-retention penalty weighted by cost), ramped up linearly over the first ``ramp`` share
   of the steps: under Adam every consistently penalised score falls by about ``lr`` per step, so the
   ramp (not ``lam``) is what keeps the search from cutting faster than the loss can push back.
   With ``flops_goal`` G the cut is steered instead of penalised: after every step one threshold on
   the free channel scores is set (bisection) so that the hard gates' FLOPs ratio is the scheduled
   goal, which falls from 1 to G along a cubic curve over the first ``ramp`` share of the steps;
   the gates are ``1[score > threshold]`` and every checkpoint along the way is a candidate.
3. **Selection on the validation split**: every ``eval_every`` steps the current gates are scored by
   *replacement accuracy* (the origin's val accuracy when this module's score replaces the origin's
   score for class ``c``: its share of the composed accuracy cost) and by the one-vs-rest ROC AUC.
   The sparsest checkpoint within ``tol`` of the origin's accuracy and ``auc_tol`` of its AUC is kept
   (the full network if none is).

With ``trunk_fraction`` f > 0, the leading layers holding a fraction f of the FLOPs are kept whole
(a *shared trunk*): every module of the origin then starts with byte-identical layers, which an
assembly runs once for all of them. Then the channels are removed from the saved tensors (exact: same outputs as the masked full model),
and a temperature/bias calibration is fitted on validation data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from nnparts.client.extract.base import (
    ExtractedModule,
    ExtractSettings,
    OriginNet,
    TensorData,
    register_extractor,
)
from nnparts.client.extract.calibrate import binary_metrics, calibrated, fit_temperature
from nnparts.client.extract.channels import (
    RESIDUAL_POLICY,
    ChannelPlan,
    analyse_channels,
    extract,
    keep_vector,
    with_fixed_residuals,
    with_fixed_trunk,
)
from nnparts.client.extract.heads import ovr_scores, with_ovr_head
from nnparts.client.extract.steering import cubic_goal, lowest_threshold
from nnparts.client.zoo.cost import GraphCost, graph_cost
from nnparts.client.zoo.ir import Graph
from nnparts.client.zoo.runtime import GraphNet
from nnparts.schemas.manifest import ClassEntry, MaskInfo

DEFAULTS: dict[str, Any] = {
    "steps": 300,
    "lr": 0.01,
    "lam": 2.0,
    "batch": 128,
    "eval_every": 25,
    "tol": 0.002,
    "auc_tol": 0.01,
    "max_train": 10000,
    "hard_weight": 0.5,
    "trunk_fraction": 0.0,
    "ramp": 0.5,
    "residual": "keep",
    "flops_goal": None,
}


class _STE(torch.autograd.Function):
    """Forward ``1[s > 0]``; backward the incoming gradient clipped to [-1, 1]."""

    @staticmethod
    def forward(ctx: Any, scores: torch.Tensor) -> torch.Tensor:
        return (scores > 0).to(scores.dtype)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        return grad.clamp(-1.0, 1.0)


def ste_gate(scores: torch.Tensor) -> torch.Tensor:
    out: torch.Tensor = _STE.apply(scores)
    return out


@dataclass(frozen=True)
class _CostTerm:
    flops: float
    out_node: str
    in_tensor: str
    depthwise: bool


class FlopsModel:
    """Differentiable FLOPs of the gated network, as a fraction of the full network's."""

    def __init__(self, graph: Graph, plan: ChannelPlan, cost: GraphCost) -> None:
        self.total = float(cost.flops)
        self.plan = plan
        self.terms = []
        for node in graph.nodes:
            if node.name in cost.node_flops:
                dw = node.op == "conv2d" and int(node.attrs["groups"]) > 1
                self.terms.append(_CostTerm(float(cost.node_flops[node.name]), node.name, node.inputs[0], dw))
        self.index = {name: torch.as_tensor(v) for name, v in plan.tensor_vars.items()}

    def ratio(self, keep: torch.Tensor) -> torch.Tensor:
        total = keep.new_zeros(())
        for t in self.terms:
            frac = keep[self.index[t.out_node]].mean()
            if not t.depthwise:
                frac = frac * keep[self.index[t.in_tensor]].mean()
            total = total + t.flops * frac
        return total / self.total


def steer_threshold(scores: torch.Tensor, fixed: torch.Tensor, flops: FlopsModel, goal: float) -> float:
    """The lowest threshold on the free ``scores`` whose hard gates keep at most ``goal`` of the FLOPs.

    ``goal >= 1`` returns a threshold below every score; a goal below what the fixed channels cost
    cuts every free channel.
    """
    s = scores.detach()
    lo, hi = float(s.min()) - 1e-6, float(s.max())

    def ratio(t: float) -> float:
        return float(flops.ratio(torch.where(fixed, torch.ones_like(s), (s > t).to(s.dtype))))

    return lowest_threshold(lo, hi, ratio, goal)


def origin_scores(net: GraphNet, data: TensorData, batch: int, device: str) -> torch.Tensor:
    """One-vs-rest log-odds of every class for every sample (N, K), on CPU."""
    out = []
    with torch.no_grad():
        for x, _ in data.batches(batch):
            out.append(ovr_scores(net(x.to(device))).cpu())
    return torch.cat(out)


def _warm_start(net: GraphNet, plan: ChannelPlan, pos: torch.Tensor, allx: torch.Tensor) -> torch.Tensor:
    capture_pos: dict[str, torch.Tensor] = {p: torch.empty(0) for p in plan.producers}
    capture_all: dict[str, torch.Tensor] = {p: torch.empty(0) for p in plan.producers}
    with torch.no_grad():
        net.run(pos, capture=capture_pos)
        net.run(allx, capture=capture_all)
    score = torch.zeros(plan.n_vars)
    count = torch.zeros(plan.n_vars)
    for p in plan.producers:
        a_pos, a_all = capture_pos[p].relu(), capture_all[p].relu()
        dims = [0, 2, 3] if a_pos.dim() == 4 else [0]
        rel = a_pos.mean(dims).cpu() / (a_all.mean(dims).cpu() + 1e-6)
        rank = rel.argsort().argsort().float() / max(len(rel) - 1, 1)
        idx = torch.as_tensor(plan.tensor_vars[p])
        score.index_add_(0, idx, rank)
        count.index_add_(0, idx, torch.ones_like(rank))
    return 0.5 + score / count.clamp(min=1)


def ovr_auc(scores: torch.Tensor, positive: torch.Tensor) -> float:
    """Area under the ROC curve of one-vs-rest ``scores`` (rank statistic; ties count half)."""
    pos = positive.view(-1).bool()
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    flat = scores.view(-1).double()
    order = flat.argsort()
    _, inverse, counts = torch.unique_consecutive(flat[order], return_inverse=True, return_counts=True)
    mean_rank = counts.cumsum(0).double() - (counts.double() - 1) / 2
    ranks = torch.empty_like(flat)
    ranks[order] = mean_rank[inverse]
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _replacement_accuracy(
    module_scores: torch.Tensor, base: torch.Tensor, labels: torch.Tensor, c: int
) -> float:
    scores = base.clone()
    scores[:, c] = module_scores
    return float((scores.argmax(1) == labels).float().mean())


def search_channels(
    origin: OriginNet,
    plan: ChannelPlan,
    flops: FlopsModel,
    c: int,
    train: TensorData,
    train_scores: torch.Tensor,
    val: TensorData,
    val_scores: torch.Tensor,
    settings: ExtractSettings,
    params: dict[str, Any],
) -> tuple[np.ndarray, dict[str, Any]]:
    """Gate search for class ``c``; returns the kept-variable vector and a search log."""
    device = settings.device
    net = origin.net.to(device)
    gen = torch.Generator().manual_seed(settings.seed * 1000 + c)
    pos_idx = torch.nonzero(train.y == c).view(-1)
    neg_idx = torch.nonzero(train.y != c).view(-1)
    probe = pos_idx[torch.randperm(len(pos_idx), generator=gen)[:256]]
    probe_all = torch.randperm(len(train), generator=gen)[:512]
    init = _warm_start(net, plan, train.x[probe].to(device), train.x[probe_all].to(device))
    scores = init.clone().to(device).requires_grad_(True)
    opt = torch.optim.Adam([scores], lr=float(params["lr"]))
    fixed_one = torch.as_tensor(plan.fixed, device=device)
    base_acc = float((val_scores.argmax(1) == val.y).float().mean())
    base_auc = ovr_auc(val_scores[:, c], val.y == c)
    half = int(params["batch"]) // 2
    best: tuple[float, np.ndarray, float] = (1.0, np.ones(plan.n_vars, dtype=bool), base_acc)
    log: list[dict[str, float]] = []
    steps = int(params["steps"])
    goal = params.get("flops_goal")
    threshold = 0.0
    bar = tqdm(range(steps), desc=f"class {c}", disable=not settings.progress, leave=False)
    for step in bar:
        b = torch.cat(
            [
                pos_idx[torch.randint(len(pos_idx), (half,), generator=gen)],
                neg_idx[torch.randint(len(neg_idx), (half,), generator=gen)],
            ]
        )
        x, y = train.x[b].to(device), (train.y[b] == c).float().to(device)
        target = torch.sigmoid(train_scores[b, c]).to(device)
        keep = torch.where(fixed_one, torch.ones_like(scores), ste_gate(scores - threshold))
        s = ovr_scores(net.run(x, gates=plan.gates(keep)))[:, c]
        loss = F.binary_cross_entropy_with_logits(s, target)
        loss = loss + float(params["hard_weight"]) * F.binary_cross_entropy_with_logits(s, y)
        if goal is None:
            ramp = min(1.0, (step + 1) / max(1.0, float(params["ramp"]) * steps))
            loss = loss + float(params["lam"]) * ramp * flops.ratio(keep)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if goal is not None:
            now = cubic_goal(float(goal), step + 1, float(params["ramp"]) * steps)
            threshold = steer_threshold(scores, fixed_one, flops, now)
        if (step + 1) % int(params["eval_every"]) == 0 or step + 1 == steps:
            kept = keep_vector(plan, (scores.detach() > threshold).cpu().numpy())
            gates = plan.gates(torch.as_tensor(kept, dtype=torch.float32, device=device))
            with torch.no_grad():
                vs = torch.cat(
                    [
                        ovr_scores(net.run(xb.to(device), gates=gates))[:, c].cpu()
                        for xb, _ in val.batches(settings.batch_size)
                    ]
                )
                ratio_now = float(flops.ratio(torch.as_tensor(kept, dtype=torch.float32, device=device)))
            acc = _replacement_accuracy(vs, val_scores, val.y, c)
            auc = ovr_auc(vs, val.y == c)
            log.append(
                {
                    "step": step + 1,
                    "flops_ratio": round(ratio_now, 4),
                    "val_replacement_acc": round(acc, 5),
                    "val_auc": round(auc, 5),
                }
            )
            bar.set_postfix(flops=f"{ratio_now:.2f}", acc=f"{acc:.3f}", auc=f"{auc:.4f}")
            # never demand less than two validation samples of slack (small val splits)
            tol, auc_tol = max(float(params["tol"]), 2.0 / len(val)), float(params["auc_tol"])
            if acc >= base_acc - tol and auc >= base_auc - auc_tol and ratio_now < best[0]:
                best = (ratio_now, kept, acc)
    return best[1], {
        "search": log,
        "selected_flops_ratio": round(best[0], 4),
        "val_replacement_acc": best[2],
        "val_origin_auc": round(base_auc, 5),
        "val_origin_acc": round(base_acc, 5),
    }


@register_extractor("channel")
class ChannelDecomposer:
    """Per-class structured modules; see the module docstring."""

    name = "channel"

    def extract(
        self,
        origin: OriginNet,
        classes: list[int],
        train: TensorData,
        val: TensorData,
        settings: ExtractSettings,
    ) -> list[ExtractedModule]:
        params = {**DEFAULTS, **settings.params}
        torch.manual_seed(settings.seed)
        h, w = origin.input.height, origin.input.width
        full_cost = graph_cost(origin.net.cpu().eval(), h, w)
        plan = analyse_channels(origin.graph, full_cost.shapes)
        plan = with_fixed_trunk(plan, origin.graph, full_cost.node_flops, float(params["trunk_fraction"]))
        if params["residual"] == "keep":
            plan = with_fixed_residuals(plan, origin.graph)
        flops = FlopsModel(origin.graph, plan, full_cost)
        net = origin.net.to(settings.device)
        for p in net.parameters():
            p.requires_grad_(False)
        gen = torch.Generator().manual_seed(settings.seed)
        if len(train) > int(params["max_train"]):
            train = train.subset(torch.randperm(len(train), generator=gen)[: int(params["max_train"])])
        train_scores = origin_scores(net, train, settings.batch_size, settings.device)
        val_scores = origin_scores(net, val, settings.batch_size, settings.device)
        tensors = origin.net.state_tensors()
        modules = []
        for c in classes:
            keep, log = search_channels(
                origin, plan, flops, c, train, train_scores, val, val_scores, settings, params
            )
            graph, small = extract(origin.graph, tensors, plan, keep)
            graph = with_ovr_head(graph, c)
            module_net = GraphNet(graph, small).eval()
            cost = graph_cost(module_net, h, w)
            with torch.no_grad():
                vs = torch.cat([module_net(x).view(-1) for x, _ in val.batches(settings.batch_size)])
            cal = fit_temperature(vs, val.y == c)
            name = origin.origin.classes[c]
            kept_free = int(keep_vector(plan, keep)[~plan.fixed].sum())
            modules.append(
                ExtractedModule(
                    graph=graph,
                    tensors=small,
                    kind="class_module",
                    classes=(ClassEntry(name, c),),
                    method="channel",
                    params={k: params[k] for k in DEFAULTS} | {"seed": settings.seed},
                    mask=MaskInfo(
                        granularity="channel",
                        density=round(cost.params / full_cost.params, 6),
                        params_before=full_cost.params,
                        params_after=cost.params,
                        physically_smaller=True,
                        flops_before=full_cost.flops,
                        flops_after=cost.flops,
                        residual_policy="keep" if params["residual"] == "keep" else RESIDUAL_POLICY,
                        note=f"{kept_free} of {int((~plan.fixed).sum())} channel variables kept",
                    ),
                    metrics={"selection": log, "val": binary_metrics(calibrated(vs, cal), val.y == c)},
                    output_type="ovr_score",
                    output_size=1,
                    calibration=cal,
                )
            )
        origin.net.cpu()
        return modules
