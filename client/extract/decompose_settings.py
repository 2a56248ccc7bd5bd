"""What a user sets of a decomposition: the ``nnparts decompose`` options = :meth:`Client.decompose` keywords.

:class:`DecomposeSettings` checks every value when it is built (one-line
:class:`~nnparts.schemas.errors.UsageError` naming the option and the value) and maps them onto the
extractor's parameters (:meth:`DecomposeSettings.params`); what is left ``None`` keeps the extractor's
default. The numeric checks (:func:`in_range`, :func:`fraction`, :func:`positive_int`) serve the other
commands' options too. Torch-free: the CLI's options are checked before anything loads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from nnparts.schemas.errors import UsageError

#: ``method`` -> the extractor that runs it (:func:`~nnparts.client.extract.base.get_extractor`)
METHODS = {"channel": "trunk", "activation": "activation"}
#: training-batch augmentations of the trunk + tails fine-tuning
AUGMENTS = ("none", "crop", "flip", "crop+flip")
#: the tails' FLOPs goal of standalone modules (``trunk="none"``), where one tail is the whole network
STANDALONE_TAIL_GOAL = 0.35


def in_range(
    option: str,
    value: float,
    low: float = 0.0,
    high: float = math.inf,
    *,
    low_open: bool = True,
    high_open: bool = False,
    what: str = "a number",
    hint: str | None = None,
) -> float:
    """``value`` as a float if it is a finite number in the interval (NaN never passes).

    Raises:
        UsageError: naming ``option``, the interval and the value.
    """
    v = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan
    above = low < v if low_open else low <= v
    below = v < high if high_open else v <= high
    if not (math.isfinite(v) and above and below):
        interval = (
            f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open or high == math.inf else ']'}"
        )
        raise UsageError(f"{option} must be {what} in {interval}, got {value!r}", hint=hint)
    return v


def fraction(option: str, value: float, *, high_open: bool = False) -> float:
    """``value`` if it is a fraction in (0, 1] (in (0, 1) with ``high_open``).

    Raises:
        UsageError: naming ``option`` and the value.
    """
    return in_range(
        option, value, 0.0, 1.0, high_open=high_open, what="a fraction", hint=f"e.g. {option} 0.3"
    )


def positive_int(option: str, value: int) -> int:
    """``value`` if it is an integer >= 1.

    Raises:
        UsageError: naming ``option`` and the value.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UsageError(f"{option} must be a positive integer, got {value!r}")
    return value


@dataclass(frozen=True)
class DecomposeSettings:
    """The settings of one decomposition, checked when built.

    Attributes:
        method: ``channel`` (a shared trunk plus a physically smaller tail per class) or
            ``activation`` (Pan & Rajan: keeps every weight).
        trunk: ``auto`` (cut at the last point holding at most the extractor's default share of the
            FLOPs), ``none`` (or None: standalone modules) or that share, a fraction in (0, 1).
        trunk_goal: FLOPs of the pruned trunk, as a fraction of the origin's.
        flops_goal: FLOPs of each class's tail, as a fraction of the origin's (standalone modules
            default to :data:`STANDALONE_TAIL_GOAL`).
        epochs: fine-tuning epochs of the tails (at most 1000); the trunk gets a third of them.
        augment: training-batch augmentation of the fine-tuning, one of :data:`AUGMENTS`.

    Everything but ``method`` belongs to ``channel``; ``None`` keeps the extractor's default.

    Raises:
        UsageError: an unknown method or augment, a value out of range, or a ``channel`` setting
            given to ``activation``.
    """

    method: str = "channel"
    trunk: str | float | None = "auto"
    trunk_goal: float | None = None
    flops_goal: float | None = None
    epochs: float | None = None
    augment: str | None = None

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise UsageError(f"unknown method {self.method!r}", hint=f"use {' or '.join(METHODS)}")
        object.__setattr__(self, "trunk", _trunk(self.trunk))
        for option, value in (("--trunk-goal", self.trunk_goal), ("--flops-goal", self.flops_goal)):
            if value is not None:
                fraction(option, value)
        if self.epochs is not None:
            in_range("--epochs", self.epochs, high=1000.0, hint="e.g. --epochs 3")
        if self.augment is not None and self.augment not in AUGMENTS:
            raise UsageError(f"unknown augment {self.augment!r}", hint=f"use {', '.join(AUGMENTS)}")
        if self.method != "channel":
            given = [
                option
                for option, value, default in (
                    ("--trunk", self.trunk, "auto"),
                    ("--trunk-goal", self.trunk_goal, None),
                    ("--flops-goal", self.flops_goal, None),
                    ("--epochs", self.epochs, None),
                    ("--augment", self.augment, None),
                )
                if value != default
            ]
            if given:
                raise UsageError(
                    f"{', '.join(given)}: options of --method channel, not {self.method}",
                    hint=f"drop {' '.join(given)}",
                )

    @property
    def extractor(self) -> str:
        """The registered extractor that runs :attr:`method`."""
        return METHODS[self.method]

    def params(self) -> dict[str, object]:
        """The extractor parameters these settings fix (the rest stay the extractor's defaults)."""
        if self.method != "channel":
            return {}
        params: dict[str, object] = {}
        if self.trunk == "none":
            params.update(trunk_fraction=None, tail_goal=STANDALONE_TAIL_GOAL)
        elif self.trunk != "auto":
            params["trunk_fraction"] = self.trunk
        given = {"trunk_goal": self.trunk_goal, "tail_goal": self.flops_goal, "augment": self.augment}
        if self.epochs is not None:
            given.update(tail_epochs=self.epochs, trunk_epochs=self.epochs / 3)
        params.update({k: v for k, v in given.items() if v is not None})
        return params


def _trunk(value: str | float | None) -> str | float:
    """``auto``, ``none`` or a fraction in (0, 1), from the option's text or a number (None: none)."""
    if value is None:
        return "none"
    if isinstance(value, str):
        if value in ("auto", "none"):
            return value
        try:
            number = float(value)
        except ValueError:
            raise UsageError(
                f"--trunk must be auto, none or a fraction in (0, 1), got {value!r}", hint="e.g. --trunk 0.5"
            ) from None
        return fraction("--trunk", number, high_open=True)
    return fraction("--trunk", value, high_open=True)
