"""SeaM (Qi et al., ICSE'23): re-engineer a trained model into a sub-model for a target problem.

The extractor registered as ``"seam"`` takes the origin and the target classes and returns one
:class:`ExtractedModule` of kind ``sub_model``:

1. **Target problem** (:func:`target_problem`). One class: the binary problem, all images of the
   class (label 0) plus as many random others (label 1; ``numpy.random.RandomState(seed)``). Several
   classes: the multi-class problem over exactly those, relabelled ``0..k-1`` in the given order.
2. **Head.** ``ReLU -> Linear(origin classes -> k)`` appended to the origin logits as IR nodes.
3. **Mask search** (:mod:`seam_search`) at ``weight`` (SeaM), ``kernel`` or ``channel`` granularity
   (:mod:`seam_masks`) over conv and linear weights (biases are never masked), selection on the
   validation split; at channel granularity by default a one-shot selection by Fisher importance
   instead (:mod:`seam_channels`: the search collapses there).
4. **Fine-tuning** with the masks fixed, by distillation from the origin on the target problem
   (:func:`problem_teacher`), when ``fine_tune_epochs`` > 0.
5. **Physical extraction** (:mod:`seam_extract`): channels left without weights are removed
   (channel granularity: before fine-tuning, so the small network is what trains).

``settings.params`` keys: ``granularity``, ``cost`` (``params``/``flops``), ``allocation``
(``erk``/``global``), ``alpha``, ``lr_mask``, ``lr_head``, ``epochs``, ``batch``,
``target_retention``, ``anneal``, ``tol``, ``fine_tune_epochs``, ``lr_fine_tune``, ``kd_weight``,
``kd_temperature``, ``search_kd`` (distillation weight in the search; 0: SeaM's CE alone),
``channel_selection`` (channel granularity with a target retention: ``fisher``, the default,
one-shot Fisher importance (:mod:`seam_channels`), or ``search``, SeaM's mask search), ``init``
(score init: a number, or ``magnitude``, the default with a target retention; SeaM's 1.0 otherwise), ``max_train`` / ``max_val`` (caps on the target problem's
train / val images, stratified and seeded).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from functools import partial
from typing import Any

import numpy as np
import torch

from nnparts.client.extract.base import (
    ExtractedModule,
    ExtractSettings,
    OriginNet,
    TensorData,
    register_extractor,
)
from nnparts.client.extract.channels import RESIDUAL_POLICY, analyse_channels
from nnparts.client.extract.seam_channels import fisher_channels
from nnparts.client.extract.seam_extract import HEAD_FC, extract_masked, with_seam_head
from nnparts.client.extract.seam_masks import SeamMasks
from nnparts.client.extract.seam_search import SeamConfig, Teacher, fine_tune, search
from nnparts.client.zoo.cost import graph_cost, infer_shapes
from nnparts.client.zoo.ir import Graph
from nnparts.client.zoo.runtime import GraphNet
from nnparts.schemas.errors import UsageError
from nnparts.schemas.manifest import Calibration, ClassEntry, MaskInfo

OTHER = "other"
#: per-layer allocation of weight/kernel retention (chosen by bench/reengineer.py, see the README)
DEFAULT_ALLOCATION = "erk"
#: how channel-granularity sub-models choose their channels (see :mod:`seam_channels`)
CHANNEL_SELECTIONS = ("fisher", "search")


@dataclass(frozen=True)
class TargetProblem:
    """A target problem's data: labels ``0..k-1``; ``names[i]`` is label ``i``'s name."""

    data: TensorData
    names: tuple[str, ...]
    targets: tuple[int, ...]

    @property
    def binary(self) -> bool:
        return len(self.targets) == 1


def target_problem(
    data: TensorData, targets: Sequence[int], class_names: Sequence[str], *, seed: int = 0
) -> TargetProblem:
    """Build the binary (one target) or multi-class (several) problem from origin-labelled data.

    Raises:
        UsageError: no targets, repeated targets, or a target without any sample.
    """
    targets = tuple(int(t) for t in targets)
    if not targets or len(set(targets)) != len(targets):
        raise UsageError(f"targets must be distinct and non-empty, got {list(targets)}")
    y = data.y.numpy()
    for t in targets:
        if not (y == t).any():
            raise UsageError(f"class {class_names[t]!r} has no samples in this split")
    if len(targets) == 1:
        pos = np.flatnonzero(y == targets[0])
        neg = np.flatnonzero(y != targets[0])
        rng = np.random.RandomState(seed)
        neg = np.sort(rng.choice(neg, size=min(len(pos), len(neg)), replace=False))
        index = np.concatenate([pos, neg])
        labels = np.concatenate([np.zeros(len(pos)), np.ones(len(neg))]).astype(np.int64)
        names: tuple[str, ...] = (class_names[targets[0]], OTHER)
    else:
        index = np.flatnonzero(np.isin(y, targets))
        relabel = {t: i for i, t in enumerate(targets)}
        labels = np.array([relabel[int(v)] for v in y[index]], dtype=np.int64)
        names = tuple(class_names[t] for t in targets)
    idx = torch.from_numpy(index)
    return TargetProblem(TensorData(data.x[idx], torch.from_numpy(labels)), names, targets)


def cap_stratified(data: TensorData, limit: int | None, *, seed: int = 0) -> TensorData:
    """At most ``limit`` samples, the same share from every label (seeded); all if ``limit`` is None."""
    if limit is None or len(data) <= limit:
        return data
    rng = np.random.RandomState(seed)
    y = data.y.numpy()
    keep = []
    for label in np.unique(y):
        idx = np.flatnonzero(y == label)
        n = max(1, round(limit * len(idx) / len(y)))
        keep.append(np.sort(rng.choice(idx, size=min(n, len(idx)), replace=False)))
    return data.subset(torch.from_numpy(np.sort(np.concatenate(keep))))


def task_baselines(logits: torch.Tensor, problem: TargetProblem) -> dict[str, float]:
    """The origin's accuracy on ``problem`` from its logits over all origin classes.

    ``paper``: argmax over all origin classes, then "is it the target?" (binary) or "is it the right
    target class?" (multi-class), as SeaM scores it. ``restricted``: multi-class, argmax over the
    target classes' logits only (no label-space bonus for the sub-model, pitfall P2); binary, the label
    space {target, other} already covers every origin class, so it equals ``paper``. Binary problems
    also report ``ovr_half``: "target" when the origin's softmax probability of it exceeds 0.5.
    """
    y = problem.data.y
    pred_all = logits.argmax(1)
    targets = torch.as_tensor(problem.targets)
    if problem.binary:
        t = problem.targets[0]
        paper = (pred_all == t).long() ^ 1
        return {
            "paper": float((paper == y).float().mean()),
            "restricted": float((paper == y).float().mean()),
            "ovr_half": float(((torch.softmax(logits, 1)[:, t] <= 0.5).long() == y).float().mean()),
        }
    else:
        paper = torch.full_like(y, -1)
        for i, t in enumerate(problem.targets):
            paper[pred_all == t] = i
        restricted = logits[:, targets].argmax(1)
    return {
        "paper": float((paper == y).float().mean()),
        "restricted": float((restricted == y).float().mean()),
    }


def problem_logits(logits: torch.Tensor, problem: TargetProblem) -> torch.Tensor:
    """The origin's logits over all its classes as logits of ``problem``'s labels.

    Multi-class: the target classes' logits (the restricted label space). Binary: ``[z_t,
    logsumexp(z_others)]``, whose softmax is exactly the origin's ``[p(target), 1 - p(target)]``.
    """
    if not problem.binary:
        return logits[:, list(problem.targets)]
    t = problem.targets[0]
    others = torch.cat([logits[:, :t], logits[:, t + 1 :]], 1)
    return torch.stack([logits[:, t], torch.logsumexp(others, 1)], 1)


def problem_teacher(origin: torch.nn.Module, problem: TargetProblem) -> Teacher:
    """The origin as a teacher on ``problem``: inputs -> :func:`problem_logits` (no gradients)."""

    def teach(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return problem_logits(origin(x), problem)

    return teach


def seam_config(params: dict[str, Any], seed: int) -> SeamConfig:
    """A :class:`SeamConfig` from ``settings.params`` (unknown keys are ignored here)."""
    names = {f.name for f in fields(SeamConfig)}
    values = {k: v for k, v in params.items() if k in names}
    return SeamConfig(**{**values, "seed": seed})


@dataclass(frozen=True)
class SeamOutcome:
    """The sub-model (physically extracted) and the same network before extraction (zeroed, dense)."""

    module: ExtractedModule
    zeroed_graph: Graph
    zeroed_tensors: dict[str, torch.Tensor]


@register_extractor("seam")
class SeamExtractor:
    """One sub-model for the target classes; see the module docstring."""

    name = "seam"

    def extract(
        self,
        origin: OriginNet,
        classes: list[int],
        train: TensorData,
        val: TensorData,
        settings: ExtractSettings,
    ) -> list[ExtractedModule]:
        return [run_seam(origin, classes, train, val, settings).module]


def run_seam(
    origin: OriginNet, classes: Sequence[int], train: TensorData, val: TensorData, settings: ExtractSettings
) -> SeamOutcome:
    """Search, select on ``val``, optionally fine-tune, and extract the sub-model for ``classes``.

    ``train``/``val`` are labelled with origin class indices; the target problem is built here.
    Cost: ``epochs`` training passes over the (capped) target-problem train split.
    """
    params = dict(settings.params)
    granularity = str(params.get("granularity", "weight"))
    cfg = seam_config(params, settings.seed)
    names = origin.origin.classes
    tr = target_problem(train, classes, names, seed=settings.seed)
    tr = TargetProblem(cap_stratified(tr.data, params.get("max_train")), tr.names, tr.targets)
    va = target_problem(val, classes, names, seed=settings.seed)
    va = TargetProblem(cap_stratified(va.data, params.get("max_val")), va.names, va.targets)
    base_net = origin.net.cpu().eval()
    h, w = origin.input.height, origin.input.width
    with torch.no_grad():
        val_logits = torch.cat([base_net(x) for x, _ in va.data.batches(settings.batch_size)])
    baseline = task_baselines(val_logits, va)["restricted"]
    n_out = infer_shapes(base_net, h, w)[origin.graph.output][0]
    graph, tensors = with_seam_head(
        origin.graph, base_net.state_tensors(), n_out, len(tr.names), seed=settings.seed
    )
    net = GraphNet(graph, tensors).eval()
    shapes = infer_shapes(net, h, w)
    plan = analyse_channels(graph, shapes)
    layers = [n.name for n in origin.graph.nodes if n.op in ("conv2d", "linear")]
    torch.manual_seed(settings.seed)
    init = params.get("init", "magnitude" if cfg.target_retention is not None else 1.0)
    allocation = str(params.get("allocation", DEFAULT_ALLOCATION))
    masks = SeamMasks(
        net, layers, granularity, shapes, plan=plan, cost=str(params.get("cost", "params")), init=init,
        allocation=allocation,
    )  # fmt: skip
    teacher = problem_teacher(base_net.to(settings.device), tr)
    # without a retention goal there is nothing to size a one-shot selection by: SeaM's search
    fisher_ok = granularity == "channel" and cfg.target_retention is not None
    selection = str(params.get("channel_selection", "fisher" if fisher_ok else "search"))
    if selection not in CHANNEL_SELECTIONS or (selection == "fisher" and not fisher_ok):
        raise UsageError(
            f"channel selection {selection!r} does not apply here",
            hint="use fisher (channel granularity with a target retention) or search",
        )
    select = fisher_channels if selection == "fisher" else partial(search, baseline=baseline)
    result = select(
        masks,
        HEAD_FC,
        tr.data,
        va.data,
        cfg,
        teacher=teacher,
        device=settings.device,
        progress=settings.progress,
    )
    kept, total = masks.kept_entries()
    # weight/kernel: fine-tune under the masks, then extract; channel: extract, then fine-tune the small net
    tuned: dict[str, object] | None = None
    device, progress = settings.device, settings.progress
    if granularity != "channel" and cfg.fine_tune_epochs > 0:
        tuned = fine_tune(masks, tr.data, va.data, cfg, teacher=teacher, device=device, progress=progress)
    zeroed = masks.cpu().hard_tensors()
    small_graph, small, removed = extract_masked(graph, zeroed, plan)
    if granularity == "channel" and cfg.fine_tune_epochs > 0:
        small_net = GraphNet(small_graph, small)
        tuned = fine_tune(small_net, tr.data, va.data, cfg, teacher=teacher, device=device, progress=progress)
        small = small_net.cpu().state_tensors()
    base_net.cpu()
    full_cost = graph_cost(GraphNet(graph, tensors), h, w)
    small_cost = graph_cost(GraphNet(small_graph, small), h, w)
    entries = [ClassEntry(names[t], t) for t in tr.targets]
    log = (
        result.log()
        | ({"fine_tune": tuned} if tuned is not None else {})
        | {
            "val_origin_restricted": round(baseline, 5),
            "train_samples": len(tr.data),
            "val_samples": len(va.data),
            "channel_vars_removed": removed,
            "channel_vars_free": int((~plan.fixed).sum()),
            "sparse_flops_after": _sparse_flops(small_graph, small, small_cost.node_flops),
        }
    )
    module = ExtractedModule(
        graph=small_graph,
        tensors=small,
        kind="sub_model",
        classes=tuple(entries),
        method="seam",
        params={
            "granularity": granularity,
            "cost": masks.cost,
            "allocation": allocation,
            "selection": selection,
            "retention_counts": "conv and linear weights (biases never masked)",
            "labels": list(tr.names),
            **{f.name: getattr(cfg, f.name) for f in fields(SeamConfig)},
            "max_train": params.get("max_train"),
            "score_init": init,
            "head": "relu+linear",
            "batchnorm": "folded",
        },
        mask=MaskInfo(
            granularity=granularity,
            density=round(kept / total, 6),
            params_before=total,
            params_after=kept,
            physically_smaller=small_cost.params < full_cost.params,
            flops_before=full_cost.flops,
            flops_after=small_cost.flops,
            residual_policy=RESIDUAL_POLICY,
            note=(
                f"{kept} of {total} conv/linear weights kept (biases never masked); {removed} channel "
                f"variables removed; dense params {full_cost.params} -> {small_cost.params}"
            ),
        ),
        metrics={"selection": log},
        output_type="logits",
        output_size=len(tr.names),
        calibration=Calibration(),
    )
    return SeamOutcome(module, graph, zeroed)


def _sparse_flops(graph: Any, tensors: dict[str, torch.Tensor], node_flops: dict[str, int]) -> int:
    """FLOPs counting pruned weights as free (SeaM's convention): dense FLOPs times layer density."""
    total = 0
    for node in graph.nodes:
        if node.name in node_flops:
            wt = tensors[node.params["weight"]]
            total += round(node_flops[node.name] * int(torch.count_nonzero(wt)) / wt.numel())
    return total
