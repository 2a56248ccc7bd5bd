"""Latency of image-to-answer callables on the CPU: medians of interleaved runs, threads recorded.

Every callable takes uint8 NHWC images (conversion to its input spec included, as a user runs it).
Runs are interleaved, one call of each (callable, batch size) per round, so a machine that slows
down or speeds up during the measurement affects every entry alike and their ratios hold.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

ImageModel = Callable[[torch.Tensor], torch.Tensor]
BATCHES = (1, 64)


def interleaved_latency(
    models: Mapping[str, ImageModel],
    shape: tuple[int, int, int],
    *,
    batches: Sequence[int] = BATCHES,
    rounds: int = 20,
    warmup: int = 3,
    threads: int | None = 2,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """``{name: {"1": ms, "64": ms, ...}}`` (median over ``rounds``) plus the settings used.

    Args:
        shape: (height, width, channels) of the uint8 images fed to every model.
        threads: torch intra-op threads during the measurement (None: leave as is).
    """
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(seed)
    images = {b: torch.randint(0, 256, (b, *shape), generator=gen, dtype=torch.uint8) for b in batches}
    times: dict[tuple[str, int], list[float]] = {(n, b): [] for n in models for b in batches}
    try:
        with torch.inference_mode():
            for r in range(warmup + rounds):
                for b in batches:
                    for name, model in models.items():
                        t0 = time.perf_counter()
                        model(images[b])
                        if r >= warmup:
                            times[(name, b)].append(time.perf_counter() - t0)
        used = torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
    return {
        name: {str(b): round(statistics.median(times[(name, b)]) * 1000, 3) for b in batches}
        | {"threads": used, "rounds": rounds, "warmup": warmup, "device": "cpu"}
        for name in models
    }
