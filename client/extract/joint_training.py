"""The training loops of trunk + tails decomposition: fine-tuning with masks fixed, by distillation.

Both loops train a network whose pruned channels are physically gone (so "masks fixed" holds by
construction) against the origin's logits: ``T^2 KL(softmax(t / T) || softmax(s / T))`` plus
cross-entropy on the labels. The tails' loop adds one-vs-rest binary cross-entropy on every tail's
own score, so each score is also a usable log-odds on its own (for assemblies that mix origins).
Model selection is on the validation split only: the best state by composed val top-1 is kept.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from nnparts.client.zoo.runtime import GraphNet
from nnparts.client.zoo.training import Augment, augment_batch


@dataclass(frozen=True)
class TrainPlan:
    epochs: float
    batch: int
    lr: float
    kd_temperature: float
    kd_weight: float
    ovr_weight: float = 0.0
    weight_decay: float = 5e-4
    clip_norm: float = 5.0
    feature_weight: float = 0.0
    seed: int = 0
    progress: bool = True
    desc: str = "fine-tune"


def distillation(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    t = temperature
    return F.kl_div(
        F.log_softmax(student / t, 1), F.log_softmax(teacher / t, 1), log_target=True, reduction="batchmean"
    ) * (t * t)


def composed_loss(
    scores: torch.Tensor, teacher: torch.Tensor | None, labels: torch.Tensor, plan: TrainPlan
) -> torch.Tensor:
    """CE of the N-way classifier the scores form, distillation (unless no ``teacher``), and
    per-score one-vs-rest BCE."""
    loss = F.cross_entropy(scores, labels)
    if teacher is not None and plan.kd_weight > 0:
        loss = loss + plan.kd_weight * distillation(scores, teacher, plan.kd_temperature)
    if plan.ovr_weight > 0:
        onehot = F.one_hot(labels, scores.shape[1]).to(scores.dtype)
        loss = loss + plan.ovr_weight * F.binary_cross_entropy_with_logits(scores, onehot)
    return loss


def top1(net: nn.Module, inputs: torch.Tensor, labels: torch.Tensor, batch: int, device: str) -> float:
    correct = 0
    with torch.no_grad():
        for start in range(0, len(labels), batch):
            x = inputs[start : start + batch].to(device).float()
            correct += int((net(x).argmax(1).cpu() == labels[start : start + batch]).sum())
    return correct / max(len(labels), 1)


def feature_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Mean squared error relative to the teacher's mean square (scale-free)."""
    return F.mse_loss(student, teacher) / teacher.pow(2).mean().clamp_min(1e-8)


def fine_tune(
    net: nn.Module,
    inputs: torch.Tensor,
    labels: torch.Tensor,
    teacher: Callable[[torch.Tensor, torch.Tensor], Any],
    val: tuple[torch.Tensor, torch.Tensor],
    plan: TrainPlan,
    *,
    device: str,
    augment: Augment | None = None,
    features_at: str | None = None,
) -> dict[str, object]:
    """Train ``net`` in place; ``teacher(batch_index, x)`` gives the origin's logits for a batch
    (or None: cross-entropy alone).

    With ``features_at`` (a node of ``net``, a :class:`GraphNet`) and ``plan.feature_weight`` > 0,
    the teacher gives ``(features, logits)`` and the student's output of that node is also pulled
    towards the teacher's features (relative MSE): feature distillation at the trunk's cut.

    AdamW with a cosine schedule; after every epoch (and at the end) the composed val top-1 is
    measured and the best state is restored at the end. Returns a log of the selection.
    """
    gen = torch.Generator().manual_seed(plan.seed)
    n = len(labels)
    steps = max(1, math.ceil(plan.epochs * n / plan.batch))
    per_epoch = max(1, n // plan.batch)
    params = [p for p in net.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() > 1]
    rest = [p for p in params if p.dim() <= 1]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": plan.weight_decay}, {"params": rest, "weight_decay": 0.0}],
        lr=plan.lr,
    )
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=plan.lr, total_steps=steps, pct_start=0.15)
    best = (top1(net, *val, 512, device), copy.deepcopy(net.state_dict()), 0)
    log: list[dict[str, float]] = [{"step": 0, "val_top1": round(best[0], 5)}]
    order = torch.randperm(n, generator=gen)
    cursor = 0
    bar = tqdm(range(steps), desc=plan.desc, disable=not plan.progress, leave=False, mininterval=2.0)
    for step in bar:
        if cursor + plan.batch > n:
            order, cursor = torch.randperm(n, generator=gen), 0
        idx = order[cursor : cursor + plan.batch]
        cursor += plan.batch
        x = inputs[idx].to(device).float()
        if augment is not None:
            x = augment_batch(x, augment, gen)
        y = labels[idx].to(device)
        with torch.no_grad():
            t = teacher(idx, x)
        if features_at is not None and plan.feature_weight > 0 and isinstance(net, GraphNet):
            values = net.run_values(x)
            loss = composed_loss(values[net.graph.output], t[1], y, plan)
            loss = loss + plan.feature_weight * feature_loss(values[features_at], t[0])
        else:
            loss = composed_loss(net(x), t, y, plan)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, plan.clip_norm)  # no BatchNorm left to steady a step
        opt.step()
        sched.step()
        if (step + 1) % per_epoch == 0 or step + 1 == steps:
            acc = top1(net, *val, 512, device)
            log.append({"step": step + 1, "val_top1": round(acc, 5), "loss": round(float(loss.detach()), 4)})
            bar.set_postfix(val=f"{acc:.4f}")
            if acc >= best[0]:
                best = (acc, copy.deepcopy(net.state_dict()), step + 1)
    net.load_state_dict(best[1])
    return {"val_top1": round(best[0], 5), "selected_step": best[2], "steps": steps, "log": log}
