"""Train a classifier from scratch, choosing the epoch with the best validation accuracy.

Recipe: SGD with Nesterov momentum 0.9 (or AdamW), a one-cycle learning-rate schedule peaking at
``lr``, weight decay on weights but not on biases and BatchNorm, optional random-crop (reflect
padding) and horizontal-flip augmentation. Deterministic for a given seed on the CPU: the global
torch RNG is forked, so the caller's RNG state is left unchanged.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from nnparts.client.data import DataSplit
from nnparts.client.data.transforms import iterate_batches, num_batches
from nnparts.client.zoo.evaluation import evaluate
from nnparts.schemas.errors import UsageError
from nnparts.schemas.manifest import InputSpec


@dataclass(frozen=True)
class Augment:
    """Light augmentation: random crop after ``pad`` pixels of reflect padding, and horizontal flips."""

    pad: int = 0
    hflip: bool = False


@dataclass(frozen=True)
class EpochStats:
    epoch: int
    train_loss: float
    train_top1: float
    val_top1: float
    seconds: float


@dataclass(frozen=True)
class TrainResult:
    """The outcome of :func:`train_classifier`; the model holds the weights of ``best_epoch``."""

    best_epoch: int
    best_val_top1: float
    history: tuple[EpochStats, ...]
    seconds: float
    seed: int

    def recipe(self) -> dict[str, object]:
        """A JSON-ready summary for a model's ``training`` record."""
        return {
            "best_epoch": self.best_epoch,
            "best_val_top1": self.best_val_top1,
            "epochs": len(self.history),
            "seed": self.seed,
        }


def train_classifier(
    model: nn.Module,
    train_split: DataSplit,
    val_split: DataSplit,
    input_spec: InputSpec,
    *,
    epochs: int,
    lr: float,
    batch_size: int = 128,
    device: str | torch.device = "cpu",
    seed: int = 0,
    optimizer: Literal["sgd", "adamw"] = "sgd",
    weight_decay: float = 5e-4,
    augment: Augment | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train ``model`` in place and leave it in eval mode with the best-on-val weights.

    Args:
        model: a classifier whose outputs index ``train_split.classes``.
        train_split: the data to fit (shuffled each epoch with a seed derived from ``seed``).
        val_split: the data for model selection (never trained on).
        input_spec: how images become inputs.
        epochs: number of passes over ``train_split``.
        lr: peak learning rate of the one-cycle schedule.
        batch_size: training batch size (batches of one image are skipped: BatchNorm needs two).
        device: where to train.
        seed: seeds the shuffles, the augmentation and any random layers.
        optimizer: ``sgd`` (Nesterov, momentum 0.9) or ``adamw``.
        weight_decay: applied to weights of dimension >= 2 only.
        augment: optional random crop / flip.
        progress: show a tqdm bar on stderr (only on a TTY).

    Raises:
        UsageError: non-positive epochs/lr/batch size, or the splits disagree on the classes.
    """
    if epochs < 1 or lr <= 0 or batch_size < 1:
        raise UsageError(f"epochs, lr and batch size must be positive, got {epochs}, {lr}, {batch_size}")
    if train_split.classes != val_split.classes:
        raise UsageError("train and val splits have different classes", hint="load both from one data spec")
    dev = torch.device(device)
    model.to(dev)
    opt = _optimizer(model, optimizer, lr, weight_decay)
    steps = epochs * max(1, num_batches(train_split, batch_size))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    history: list[EpochStats] = []
    best_state: dict[str, torch.Tensor] = {}
    best_val, best_epoch = -1.0, 0
    start = time.perf_counter()
    fork_devices = [dev.index or 0] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        bar = tqdm(range(1, epochs + 1), desc="train", unit="epoch", disable=None if progress else True)
        for epoch in bar:
            t0 = time.perf_counter()
            loss, acc = _train_epoch(
                model, train_split, input_spec, opt, sched, batch_size, dev, seed, epoch, augment, gen
            )
            val = evaluate(model, val_split, input_spec, batch_size=max(batch_size, 256), device=dev).top1
            history.append(EpochStats(epoch, loss, acc, val, time.perf_counter() - t0))
            if val > best_val:
                best_val, best_epoch = val, epoch
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            bar.set_postfix(loss=f"{loss:.3f}", val=f"{val:.3f}", best=f"{best_val:.3f}")
        bar.close()
    model.load_state_dict(best_state)
    model.eval()
    return TrainResult(best_epoch, best_val, tuple(history), time.perf_counter() - start, seed)


def _optimizer(model: nn.Module, kind: str, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if kind == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=0.9, nesterov=True)
    if kind == "adamw":
        return torch.optim.AdamW(groups, lr=lr)
    raise UsageError(f"unknown optimizer {kind!r}", hint="use sgd or adamw")


def _train_epoch(
    model: nn.Module,
    split: DataSplit,
    spec: InputSpec,
    opt: torch.optim.Optimizer,
    sched: torch.optim.lr_scheduler.LRScheduler,
    batch_size: int,
    device: torch.device,
    seed: int,
    epoch: int,
    augment: Augment | None,
    gen: torch.Generator,
) -> tuple[float, float]:
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    for inputs, labels in iterate_batches(
        split, spec, batch_size, device, shuffle=True, seed=seed * 1_000_003 + epoch
    ):
        if len(labels) < 2:
            continue
        x = augment_batch(inputs, augment, gen) if augment is not None else inputs
        logits = model(x)
        loss = F.cross_entropy(logits, labels)
        opt.zero_grad(set_to_none=True)
        torch.autograd.backward(loss)
        opt.step()
        sched.step()
        total_loss += float(loss.detach()) * len(labels)
        correct += int((logits.detach().argmax(dim=1) == labels).sum())
        seen += len(labels)
    return total_loss / max(seen, 1), correct / max(seen, 1)


def augment_batch(x: torch.Tensor, aug: Augment, gen: torch.Generator) -> torch.Tensor:
    """``x`` (N, C, H, W) randomly cropped and flipped as ``aug`` says (``gen`` draws the offsets)."""
    n, c, h, w = x.shape
    if aug.pad > 0:
        padded = F.pad(x, (aug.pad,) * 4, mode="reflect")
        oy = torch.randint(0, 2 * aug.pad + 1, (n,), generator=gen).to(x.device)
        ox = torch.randint(0, 2 * aug.pad + 1, (n,), generator=gen).to(x.device)
        rows = (oy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
        cols = (ox[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
        batch = torch.arange(n, device=x.device)[:, None, None, None]
        chans = torch.arange(c, device=x.device)[None, :, None, None]
        x = padded[batch, chans, rows, cols]
    if aug.hflip:
        flip = (torch.rand(n, generator=gen) < 0.5).to(x.device)
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
    return x
