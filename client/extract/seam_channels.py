"""Channel granularity without a score search: keep the channels the target problem needs, by Fisher.

SeaM's straight-through search, steered to a third of the FLOPs, collapses at channel granularity
(measured on CIFAR-10 airplane, 8 search epochs: val accuracy 0.50 at epoch 2 as the goal fell from
0.56 to 0.36; fine-tuning the extracted network recovered only to 89.9 % test vs 95.5 % restricted).
A channel is a coarse unit: removing one changes every weight that reads it, which a score trained
with the weights frozen cannot foresee. So at channel granularity the selection is one shot and the
fine-tuning of the small network does the rest:

1. **Head.** SeaM's head is fitted on the dense network (the search's head-only epoch).
2. **Importance.** Each channel variable is scored by its Fisher importance on the target problem
   (:func:`~nnparts.client.extract.importance.fisher_importance`: the squared gradient of the loss
   with respect to the channel's gate, summed over ``IMPORTANCE_BATCHES`` batches); the loss is the
   search's: cross-entropy plus ``search_kd`` times distillation from the origin on the problem.
3. **Profile.** The same share of channels is kept in every group (the variables one producer
   creates; tied residual channels are one group), the largest share whose cost fits
   ``target_retention``, rounded to multiples of ``CHANNEL_ALIGN`` (then widened 8 at a time while
   it fits); each group keeps its most important channels. Equal shares keep every layer wide
   enough to carry the problem, and aligned widths give fast convolutions.

The physically extracted network is then fine-tuned (in :func:`~nnparts.client.extract.seam.run_seam`)
at the cost of the small network. Measured on airplane at 30 % of the FLOPs (bench/reengineer.py's
``--scale cpu`` data): one shot + 12 fine-tuning epochs of the small network, 90.5 % test (val 0.50
right after the cut, 0.931 at the end, still rising); pruning gradually instead (weights training
while the goal fell along the cubic schedule over 5 epochs, Fisher accumulated from every backward
pass, 12 cuts), then 8 fine-tuning epochs: 89.5 % at a higher cost, so the cut stays one shot.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F

from nnparts.client.extract.base import TensorData
from nnparts.client.extract.importance import (
    fisher_importance,
    keep_top,
    variable_groups,
    width_profile,
)
from nnparts.client.extract.joint_training import distillation
from nnparts.client.extract.seam_masks import SeamMasks
from nnparts.client.extract.seam_search import (
    Candidate,
    SeamConfig,
    SearchResult,
    Teacher,
    head_state,
    masked_accuracy,
    search,
    train_batch,
)

#: batches of ``cfg.batch`` images whose squared gate gradients are summed
IMPORTANCE_BATCHES = 32
CHANNEL_ALIGN = 8  # widths in multiples of 8: CPU convolution kernels work on blocks of 8 channels


def set_keep(masks: SeamMasks, keep: np.ndarray) -> None:
    """Make the hard channel masks exactly ``keep`` (bool per channel variable)."""
    masks.restore({"vars": torch.as_tensor(keep, dtype=torch.bool)})


def fisher_channels(
    masks: SeamMasks,
    head: str,
    train: TensorData,
    val: TensorData,
    cfg: SeamConfig,
    *,
    teacher: Teacher | None = None,
    device: str = "cpu",
    progress: bool = False,
) -> SearchResult:
    """Select channels for ``cfg.target_retention`` of the cost as the module docstring says.

    ``masks`` must be at channel granularity. On return the masks hold the selection and the head
    is fitted; the result has one candidate (epoch 0), scored on ``val``.
    Cost: one forward pass over ``train`` (the head) and ``IMPORTANCE_BATCHES`` backward passes.
    """
    assert masks.granularity == "channel" and masks.plan is not None and cfg.target_retention is not None
    start = time.perf_counter()
    search(masks, head, train, val, replace(cfg, epochs=1), baseline=0.0, teacher=teacher, device=device)
    plan, net = masks.plan, masks.net.to(device).eval()
    gen = torch.Generator().manual_seed(cfg.seed + 2)

    def loss_of(idx: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        def loss(gates: torch.Tensor) -> torch.Tensor:
            x, y = train_batch(train, idx, cfg, gen, device)
            out = net.run(x, gates=plan.gates(gates))
            value = F.cross_entropy(out, y)
            if teacher is not None and cfg.search_kd > 0:
                value = value + cfg.search_kd * distillation(out, teacher(x), cfg.kd_temperature)
            return value

        return loss

    batches = [torch.randint(len(train), (cfg.batch,), generator=gen) for _ in range(IMPORTANCE_BATCHES)]
    importance = fisher_importance(plan, [loss_of(b) for b in batches], device)
    groups = variable_groups(plan)

    def cost_of(keep: np.ndarray) -> float:
        set_keep(masks, keep)
        return masks.hard_retention()

    counts = width_profile(plan, groups, cost_of, cfg.target_retention, CHANNEL_ALIGN)
    keep = keep_top(plan, groups, counts, importance)
    set_keep(masks, keep)
    kept, total = masks.kept_entries()
    cand = Candidate(
        0,
        masked_accuracy(masks, val, 256, device),
        kept / total,
        cfg.target_retention,
        masks.snapshot(),
        head_state(masks, head),
    )
    return SearchResult(cand, (cand,), time.perf_counter() - start)
