"""Distillation of a physically smaller class module towards its origin (kept weights retrained).

After the channel search has cut a module, its remaining weights can be retrained for a few steps so
the module's one-vs-rest score follows the origin's again: BCE towards the origin's own one-vs-rest
probability (plus ``hard_weight`` times BCE on the labels, 0 by default) over batches drawn from the
training data as it is. Not class-balanced: balanced batches, and hard labels under them, shift the
module's log-odds away from the origin's by the prior odds (measured on digits: the distillation
loss on the natural data rose 0.52 -> 0.57 under balanced batches, fell to 0.27 without), and the
composition compares the module's score with the origin's other scores. The module only ever gets better
on validation data or stays as it was: every ``eval_every`` steps it is scored on ``val`` by
replacement accuracy (the origin's accuracy with this module's score in place of the origin's for its
class) and by one-vs-rest AUC, and the best checkpoint, step 0 included, is returned.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from nnparts.client.extract.augment import augment_batch
from nnparts.client.extract.base import TensorData
from nnparts.client.extract.heads import ovr_scores
from nnparts.client.zoo.ir import Graph
from nnparts.client.zoo.runtime import GraphNet


@dataclass(frozen=True)
class DistillConfig:
    steps: int = 100
    lr: float = 1e-3
    batch: int = 128
    hard_weight: float = 0.0
    eval_every: int = 25
    augment: str = "none"
    seed: int = 0


@dataclass(frozen=True)
class Distilled:
    tensors: dict[str, torch.Tensor]
    val_replacement_acc: float
    val_auc: float
    log: tuple[dict[str, float], ...]


def module_scores(net: GraphNet, data: TensorData, batch: int, device: str) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([net(x.to(device)).view(-1).cpu() for x, _ in data.batches(batch)])


def replacement_accuracy(module: torch.Tensor, base: torch.Tensor, labels: torch.Tensor, c: int) -> float:
    """The origin's accuracy when its score for class ``c`` is replaced by ``module``'s."""
    scores = base.clone()
    scores[:, c] = module
    return float((scores.argmax(1) == labels).float().mean())


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


def distill_module(
    graph: Graph,
    tensors: Mapping[str, torch.Tensor],
    c: int,
    train: TensorData,
    train_scores: torch.Tensor,
    val: TensorData,
    val_scores: torch.Tensor,
    cfg: DistillConfig,
    *,
    device: str = "cpu",
    eval_batch: int = 256,
    teacher: GraphNet | None = None,
) -> Distilled:
    """Retrain the weights of the module ``graph`` (one-vs-rest score of class ``c``); see the docstring.

    ``train_scores``/``val_scores`` are the origin's one-vs-rest log-odds (N, K) on those splits;
    with ``cfg.augment`` the ``teacher`` (the origin network) scores each augmented batch instead.
    """
    net = GraphNet(graph, tensors).to(device).eval()  # eval: no dropout; BatchNorm is folded anyway
    for p in net.parameters():
        p.requires_grad_(True)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    gen = torch.Generator().manual_seed(cfg.seed * 1000 + c)

    def score() -> tuple[float, float]:
        vs = module_scores(net, val, eval_batch, device)
        return replacement_accuracy(vs, val_scores, val.y, c), ovr_auc(vs, val.y == c)

    acc, auc = score()
    best = (acc, auc, {k: v.detach().cpu().clone() for k, v in net.state_tensors().items()})
    log: list[dict[str, Any]] = [{"step": 0, "val_replacement_acc": round(acc, 5), "val_auc": round(auc, 5)}]
    for step in range(cfg.steps):
        b = torch.randint(len(train), (cfg.batch,), generator=gen)
        x, y = train.x[b].to(device), (train.y[b] == c).float().to(device)
        if teacher is None or cfg.augment == "none":
            target = torch.sigmoid(train_scores[b, c]).to(device)
        else:
            x = augment_batch(x, cfg.augment, gen)
            with torch.no_grad():
                target = torch.sigmoid(ovr_scores(teacher(x))[:, c])
        s = net(x).view(-1)
        loss = F.binary_cross_entropy_with_logits(s, target)
        loss = loss + cfg.hard_weight * F.binary_cross_entropy_with_logits(s, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if (step + 1) % cfg.eval_every == 0 or step + 1 == cfg.steps:
            acc, auc = score()
            log.append({"step": step + 1, "val_replacement_acc": round(acc, 5), "val_auc": round(auc, 5)})
            if (acc, auc) > best[:2]:
                best = (acc, auc, {k: v.detach().cpu().clone() for k, v in net.state_tensors().items()})
    return Distilled(best[2], best[0], best[1], tuple(log))
