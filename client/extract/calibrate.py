"""Score calibration and binary metrics for one-vs-rest modules.

A module's raw score ``s`` is a log-odds; calibration fits ``p = sigmoid(s / T + b)`` by minimising
binary cross-entropy on held-out (validation) data, so scores of independently cut modules become
comparable probabilities before they are composed (pitfall P6 in ALGORITHMS.md).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from nnparts.schemas.manifest import Calibration


def fit_temperature(scores: torch.Tensor, positive: torch.Tensor, *, split: str = "val") -> Calibration:
    """Fit temperature ``T > 0`` and bias ``b`` on ``scores`` (N,) with boolean labels ``positive``."""
    s = scores.detach().double().view(-1)
    y = positive.detach().double().view(-1)
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    bias = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([log_t, bias], lr=0.5, max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(s / log_t.exp() + bias, y)
        loss.backward()
        return loss

    opt.step(closure)
    temperature = float(log_t.detach().exp().clamp(1e-3, 1e3))
    return Calibration(
        "temperature", round(temperature, 6), round(float(bias.detach()), 6), split, int(s.numel())
    )


def calibrated(scores: torch.Tensor, cal: Calibration) -> torch.Tensor:
    """Calibrated log-odds ``s / T + b``."""
    if cal.method == "none":
        return scores
    return scores / cal.temperature + cal.bias


def binary_metrics(logodds: torch.Tensor, positive: torch.Tensor) -> dict[str, float]:
    """Accuracy, precision, recall and balanced accuracy of the decision ``logodds > 0``."""
    pred = logodds.view(-1) > 0
    pos = positive.view(-1).bool()
    tp = int((pred & pos).sum())
    fp = int((pred & ~pos).sum())
    fn = int((~pred & pos).sum())
    tn = int((~pred & ~pos).sum())
    n = max(tp + fp + fn + tn, 1)
    recall = tp / max(tp + fn, 1)
    specificity = tn / max(tn + fp, 1)
    return {
        "binary_accuracy": round((tp + tn) / n, 6),
        "precision": round(tp / max(tp + fp, 1), 6),
        "recall": round(recall, 6),
        "balanced_accuracy": round((recall + specificity) / 2, 6),
    }
