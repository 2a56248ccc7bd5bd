"""Steering a mask search to a requested size: the schedule of the goal and the threshold meeting it.

Both searches that prune to a goal (the channel decomposer's ``flops_goal``, SeaM's
``target_retention``) follow the cubic schedule of gradual pruning (Zhu & Gupta 2017) and, after
every step, cut at the lowest score threshold whose kept share is within the scheduled goal.
"""

from __future__ import annotations

from collections.abc import Callable


def cubic_goal(goal: float, step: int, span: float) -> float:
    """Cubic anneal from 1 to ``goal`` over ``span`` steps, then ``goal``."""
    progress = min(1.0, step / max(1.0, span))
    return goal + (1.0 - goal) * (1.0 - progress) ** 3


def lowest_threshold(
    lo: float, hi: float, kept: Callable[[float], float], goal: float, *, iters: int = 30
) -> float:
    """Bisection for the lowest threshold in ``[lo, hi]`` with ``kept(threshold) <= goal``.

    ``kept`` must fall as the threshold rises (``score > threshold`` is kept). ``goal >= 1``, or a
    ``lo`` that already meets the goal, returns ``lo``; a goal nothing meets returns ``hi``.
    """
    if goal >= 1.0 or kept(lo) <= goal:
        return lo
    for _ in range(iters):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if kept(mid) <= goal else (mid, hi)
    return hi
