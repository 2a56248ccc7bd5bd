"""The SeaM mask search, retention steering, selection on validation data, and masked fine-tuning.

Search (SeaM): Adam on the head (``lr_head``) and on the scores (``lr_mask``); epochs repeat the
pattern [head only, head + masks x4]; loss ``CE + alpha * retention`` with the retention taken through
the same straight-through masks; weights frozen and BatchNorm folded (so it cannot drift).

Beyond SeaM:

- **Retention steering.** With ``target_retention`` R the kept set is steered, not hoped for:
  after every mask step the thresholds of the hard masks (``score > threshold``) are set so that the
  cost-weighted retention is the scheduled goal ``R_t`` (split over layers as
  ``SeamMasks.steer_to`` says), which anneals from 1 to R along the cubic schedule of gradual
  pruning (Zhu & Gupta 2017) over the first ``anneal`` share of the mask steps and then stays at R.
  The thresholds are the dual variables of ``retention <= R_t``, solved exactly at every step in
  place of tuning alpha: under Adam, SeaM's constant push ``alpha / N`` moves every score at about
  ``lr_mask`` per step whatever its importance, so an alpha large enough to prune fast drops all
  scores together and collapses the network (measured on CIFAR-10 airplane: 52 % binary accuracy at
  52 % retention), while a small one barely prunes in a short run (100 % retention after ~25
  steps). Scores start at the weights' magnitudes (``SeamMasks`` ``init="magnitude"``) so the first
  cuts are not a lottery among tied scores. SeaM's estimator and loss are kept; only the ranking of
  the scores decides what is cut.
- **Selection on validation data only.** Every epoch's hard masks are scored on ``val``. Without a
  target: SeaM's rule (lowest retention at 0.1 % resolution among epochs reaching ``baseline - tol``,
  ties to accuracy; else, unlike SeaM's ``acc - retention`` which can pick a collapsed network, the
  most accurate epoch). With a target: the most accurate epoch whose retention is at most
  ``R + max(0.005, 0.05 R)``; when no epoch got there, the rule without a target (the target is then
  missed, visibly, rather than met by a collapsed network).
- **Masked fine-tuning by distillation.** The kept weights and the head train with the selected hard
  masks fixed, so pruned weights stay exactly zero, against cross-entropy plus distillation from the
  origin on the target problem (``T^2 KL`` at ``kd_temperature``, the loop of
  :func:`~nnparts.client.extract.joint_training.fine_tune`: AdamW, one-cycle, gradient clipping, as
  nothing is left of BatchNorm to steady a step); the best epoch on ``val`` (including "no
  fine-tuning") is kept. A channel-granularity sub-model is fine-tuned after physical extraction
  (:func:`fine_tune` of the small network): its pruned channels are gone, and each step costs what the small network costs.
- **Augmentation** (``augment_pad`` / ``augment_flip``, off by default): random crops after reflect
  padding and horizontal flips of the training batches, in the search and the fine-tuning. With the
  scores trained on the very images the origin memorised, the search overfits: CIFAR-10 deer at 10 %
  retention, 8 search + 6 fine-tuning epochs at ``lr_fine_tune`` 3e-3, reached 92.1 % binary test
  accuracy without and 93.4 % with pad 4 + flips (origin 96.9 %; 90.4 % at the old 1e-3).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from nnparts.client.extract.base import TensorData
from nnparts.client.extract.joint_training import TrainPlan, distillation
from nnparts.client.extract.joint_training import fine_tune as train_with_teacher
from nnparts.client.extract.seam_masks import SeamMasks
from nnparts.client.extract.steering import cubic_goal
from nnparts.client.zoo.runtime import layer_key
from nnparts.client.zoo.training import Augment, augment_batch

#: the origin's logits on the target problem for a batch of inputs (see ``seam.problem_teacher``)
Teacher = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class SeamConfig:
    """Knobs of one SeaM search (defaults: the paper's ResNet-20 / CIFAR-10 binary settings)."""

    alpha: float = 1.0
    lr_mask: float = 0.05
    lr_head: float = 0.1
    epochs: int = 20
    batch: int = 64
    target_retention: float | None = None
    anneal: float = 0.6
    tol: float = 0.0
    fine_tune_epochs: int = 0
    lr_fine_tune: float = 2e-3
    kd_weight: float = 1.0
    kd_temperature: float = 4.0
    search_kd: float = 0.0
    augment_pad: int = 0
    augment_flip: bool = False
    seed: int = 0

    @property
    def augment(self) -> Augment | None:
        if self.augment_pad <= 0 and not self.augment_flip:
            return None
        return Augment(pad=self.augment_pad, hflip=self.augment_flip)


def train_batch(
    train: TensorData, b: torch.Tensor, cfg: SeamConfig, gen: torch.Generator, device: str
) -> tuple[torch.Tensor, torch.Tensor]:
    x = train.x[b]
    aug = cfg.augment
    if aug is not None:
        x = augment_batch(x, aug, gen)
    return x.to(device), train.y[b].to(device)


@dataclass
class Candidate:
    """One epoch's hard masks and head, scored on the validation split (``goal``: the scheduled
    retention at the end of the epoch, 1.0 without a target)."""

    epoch: int
    val_acc: float
    retention: float
    goal: float
    masks: dict[str, torch.Tensor] = field(repr=False)
    head: dict[str, torch.Tensor] = field(repr=False)

    def log(self) -> dict[str, float]:
        return {
            "epoch": self.epoch,
            "val_acc": round(self.val_acc, 5),
            "retention": round(self.retention, 5),
            "goal": round(self.goal, 5),
        }


@dataclass(frozen=True)
class SearchResult:
    selected: Candidate
    history: tuple[Candidate, ...]
    seconds: float

    def log(self) -> dict[str, Any]:
        return {
            "split": "val",
            "selected_epoch": self.selected.epoch,
            "val_acc": round(self.selected.val_acc, 5),
            "retention": round(self.selected.retention, 5),
            "search_seconds": round(self.seconds, 2),
            "epochs": [c.log() for c in self.history],
        }


def masked_accuracy(masks: SeamMasks, data: TensorData, batch: int, device: str) -> float:
    """Top-1 accuracy of the network under the current hard masks."""
    hard, gates = masks.masks(detach=True), masks.gates(detach=True)
    correct = 0
    with torch.no_grad():
        for x, y in data.batches(batch):
            correct += int((masks(x.to(device), hard, gates).argmax(1).cpu() == y).sum())
    return correct / max(len(data), 1)


def head_state(masks: SeamMasks, head: str) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in masks.net.layers[layer_key(head)].state_dict().items()}


def _load_head(masks: SeamMasks, head: str, state: dict[str, torch.Tensor]) -> None:
    masks.net.layers[layer_key(head)].load_state_dict(state)


def scheduled_target(cfg: SeamConfig, step: int, total: int) -> float:
    """The retention goal after ``step`` of ``total`` mask steps (cubic anneal from 1 to the target)."""
    assert cfg.target_retention is not None
    return cubic_goal(cfg.target_retention, step, cfg.anneal * total)


def select(history: list[Candidate], cfg: SeamConfig, baseline: float) -> Candidate:
    """Pick the candidate by the rules in the module docstring (validation numbers only)."""
    if cfg.target_retention is not None:
        limit = cfg.target_retention + max(0.005, 0.05 * cfg.target_retention)
        within = [c for c in history if c.retention <= limit]
        if within:
            return max(within, key=lambda c: (c.val_acc, -c.retention))
    good = [c for c in history if c.val_acc >= baseline - cfg.tol]
    if good:
        return min(good, key=lambda c: (round(c.retention, 3), -c.val_acc))
    # SeaM's own last resort, max(acc - retention), can prefer a collapsed network; keep accuracy
    return max(history, key=lambda c: (c.val_acc, -c.retention))


def search(
    masks: SeamMasks,
    head: str,
    train: TensorData,
    val: TensorData,
    cfg: SeamConfig,
    *,
    baseline: float,
    teacher: Teacher | None = None,
    device: str = "cpu",
    progress: bool = False,
) -> SearchResult:
    """Run the SeaM search on ``train`` (labels ``0..k-1``) and select on ``val``.

    ``head`` names the trainable linear node; every other weight is frozen. With ``teacher`` and
    ``cfg.search_kd`` > 0 the loss adds distillation from the origin on the target problem (SeaM: CE
    alone). ``baseline`` is the
    origin's validation accuracy on the same task (for SeaM's selection rule). On return the masks and
    the head hold the selected candidate (fine-tuning is a separate step: :func:`fine_tune`).
    Cost: ``cfg.epochs`` passes over ``train`` with a backward pass, one forward over ``val`` each.
    """
    start = time.perf_counter()
    masks.to(device)
    net = masks.net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    head_params = list(net.layers[layer_key(head)].parameters())
    for p in head_params:
        p.requires_grad_(True)
    opt_head = torch.optim.Adam(head_params, lr=cfg.lr_head)
    opt_mask = torch.optim.Adam(list(masks.scores.parameters()), lr=cfg.lr_mask)
    gen = torch.Generator().manual_seed(cfg.seed)
    history: list[Candidate] = []
    per_epoch = math.ceil(len(train) / cfg.batch)
    mask_steps = per_epoch * sum(1 for e in range(cfg.epochs) if e % 5 != 0)
    mask_step = 0
    goal = 1.0
    bar = tqdm(range(cfg.epochs), desc="seam", disable=not progress, leave=False)
    for epoch in bar:
        train_mask = epoch % 5 != 0
        perm = torch.randperm(len(train), generator=gen)
        for i in range(0, len(perm), cfg.batch):
            x, y = train_batch(train, perm[i : i + cfg.batch], cfg, gen, device)
            m, g = masks.masks(detach=not train_mask), masks.gates(detach=not train_mask)
            out = masks(x, m, g)
            loss = F.cross_entropy(out, y)
            if teacher is not None and cfg.search_kd > 0:
                loss = loss + cfg.search_kd * distillation(out, teacher(x), cfg.kd_temperature)
            if train_mask:
                ret = masks.retention(m)
                loss = loss + cfg.alpha * ret
            opt_head.zero_grad()
            opt_mask.zero_grad()
            loss.backward()
            opt_head.step()
            if train_mask:
                opt_mask.step()
                mask_step += 1
                if cfg.target_retention is not None:
                    goal = scheduled_target(cfg, mask_step, mask_steps)
                    masks.steer_to(goal)
        kept, total = masks.kept_entries()
        cand = Candidate(
            epoch,
            masked_accuracy(masks, val, 256, device),
            kept / total,
            goal,
            masks.snapshot(),
            head_state(masks, head),
        )
        history.append(cand)
        bar.set_postfix(acc=f"{cand.val_acc:.3f}", ret=f"{cand.retention:.3f}")
    best = select(history, cfg, baseline)
    masks.restore(best.masks)
    _load_head(masks, head, best.head)
    for p in net.parameters():
        p.requires_grad_(False)
    return SearchResult(best, tuple(history), time.perf_counter() - start)


class _MaskedNet(torch.nn.Module):
    """The network under fixed hard masks, as a module a training loop can own."""

    def __init__(self, masks: SeamMasks) -> None:
        super().__init__()
        self.masks = masks
        self.hard = masks.masks(detach=True)
        self.gates = masks.gates(detach=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.masks(x, self.hard, self.gates)
        return out


def fine_tune(
    net: SeamMasks | torch.nn.Module,
    train: TensorData,
    val: TensorData,
    cfg: SeamConfig,
    *,
    teacher: Teacher | None = None,
    device: str = "cpu",
    progress: bool = False,
) -> dict[str, object]:
    """Fine-tune on the target problem by the loop in the module docstring; returns its selection log.

    ``net`` is either :class:`SeamMasks` (the kept weights and the head train under the current hard
    masks, so pruned ones stay exactly zero) or a physically extracted sub-model (every parameter
    trains). Cross-entropy plus distillation from ``teacher`` (none: cross-entropy alone) for
    ``cfg.fine_tune_epochs`` at ``cfg.lr_fine_tune``; the weights of the best validation epoch
    (epoch 0 = before fine-tuning) are left in the network.
    """
    if isinstance(net, SeamMasks):
        for p in net.scores.parameters():
            p.requires_grad_(False)
        for p in net.net.parameters():
            p.requires_grad_(True)
        try:
            return fine_tune(
                _MaskedNet(net.to(device)), train, val, cfg, teacher=teacher, device=device, progress=progress
            )
        finally:
            for p in net.net.parameters():
                p.requires_grad_(False)
    net.to(device).eval()  # BatchNorm is folded: train and eval modes compute the same
    plan = TrainPlan(
        epochs=cfg.fine_tune_epochs,
        batch=cfg.batch,
        lr=cfg.lr_fine_tune,
        kd_temperature=cfg.kd_temperature,
        kd_weight=cfg.kd_weight if teacher is not None else 0.0,
        seed=cfg.seed + 1,
        progress=progress,
    )

    def teach(_index: torch.Tensor, x: torch.Tensor) -> torch.Tensor | None:
        return None if teacher is None else teacher(x)

    log: dict[str, object] = train_with_teacher(
        net, train.x, train.y, teach, (val.x, val.y), plan, device=device, augment=cfg.augment
    )
    return log
