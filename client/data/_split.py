"""The in-memory data split every command works on, and the seeded stratified hold-out behind val.

Split policy (documented contract; every later model selection uses ``val``):

* ``cifar10``, ``fashion-mnist``, ``imagefolder`` with ``train/`` and ``test/``: ``test`` is the
  official test set; ``val`` is a stratified 10 % of the official train set (seed 0, per class
  ``round(0.1 * n)`` images); ``train`` is the rest.
* ``imagefolder`` without ``train/``/``test/``: a stratified 20 % (seed 0) becomes ``test``, then
  ``val`` is carved from the remaining 80 % as above.
* ``digits``: the 1797 bundled images split 60/20/20 (train/val/test), stratified, seed 0.
* ``?val=test`` after a directory spec (``cifar10:DIR?val=test``), for origins trained on the whole
  official train set: ``train`` is all of it, ``val`` a stratified half of the official test set
  (seed 0, per class ``round(0.5 * n)``) and ``test`` the other half, so selection and reporting
  never share an image and neither is training data. Only sources with an official test set.

Within a split, images keep their source order; shuffle when training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from nnparts.schemas.errors import UsageError

Split = Literal["train", "val", "test"]
SPLITS: tuple[Split, ...] = ("train", "val", "test")
SPLIT_SEED = 0
VAL_FRACTION = 0.1
TEST_FRACTION = 0.2
DIGITS_VAL_OF_REST = 0.25
VAL_OF_TEST = 0.5


@dataclass(frozen=True, eq=False)
class DataSplit:
    """Images and labels of one split.

    Attributes:
        name: the data set's name (``digits``, ``cifar10``, ``fashionmnist`` or the image folder's name).
        split: ``train``, ``val`` or ``test``.
        x: uint8 images, NHWC (read-only).
        y: int64 labels, indices into ``classes`` (read-only).
        classes: class names in label order.
        spec: the canonical data spec it was loaded from.
    """

    name: str
    split: Split
    x: npt.NDArray[np.uint8]
    y: npt.NDArray[np.int64]
    classes: tuple[str, ...]
    spec: str = ""

    def __post_init__(self) -> None:
        if self.x.ndim != 4 or self.x.dtype != np.uint8:
            raise ValueError(f"x must be uint8 NHWC, got {self.x.dtype} {self.x.shape}")
        if self.y.shape != (self.x.shape[0],) or self.y.dtype != np.int64:
            raise ValueError(
                f"y must be int64 of shape ({self.x.shape[0]},), got {self.y.dtype} {self.y.shape}"
            )
        self.x.flags.writeable = False
        self.y.flags.writeable = False

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def channels(self) -> int:
        return int(self.x.shape[3])

    @property
    def image_size(self) -> tuple[int, int]:
        """(height, width) of the images."""
        return int(self.x.shape[1]), int(self.x.shape[2])

    def class_counts(self) -> tuple[int, ...]:
        return tuple(int(c) for c in np.bincount(self.y, minlength=len(self.classes)))

    def select_classes(self, names: Sequence[str]) -> DataSplit:
        """Keep only images of the classes ``names`` and relabel them ``0..len(names)-1`` in that order.

        Raises:
            UsageError: a name is not one of this split's classes.
        """
        unknown = [n for n in names if n not in self.classes]
        if unknown:
            raise UsageError(
                f"classes {unknown} are not in data set {self.name!r}",
                hint=f"its classes are {list(self.classes)}",
            )
        mapping = np.full(len(self.classes), -1, dtype=np.int64)
        for new, n in enumerate(names):
            mapping[self.classes.index(n)] = new
        relabeled = mapping[self.y]
        keep = relabeled >= 0
        return DataSplit(self.name, self.split, self.x[keep], relabeled[keep], tuple(names), self.spec)


def stratified_holdout(
    y: npt.NDArray[np.int64], fraction: float, *, seed: int = SPLIT_SEED
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Split indices ``0..len(y)-1`` into (kept, held out), holding out ``round(fraction * n)`` per class.

    Deterministic for a given ``y``, ``fraction`` and ``seed``; both index arrays are sorted.
    """
    rng = np.random.default_rng(seed)
    held: list[npt.NDArray[np.int64]] = []
    for label in np.unique(y):
        idx = np.flatnonzero(y == label)
        take = round(fraction * len(idx))
        held.append(np.sort(rng.permutation(idx)[:take]))
    held_out = np.sort(np.concatenate(held)) if held else np.zeros(0, dtype=np.int64)
    mask = np.ones(len(y), dtype=bool)
    mask[held_out] = False
    return np.flatnonzero(mask).astype(np.int64), held_out.astype(np.int64)


def check_split(split: str) -> Split:
    """Return ``split`` as a :data:`Split`.

    Raises:
        UsageError: it is not train, val or test.
    """
    for s in SPLITS:
        if split == s:
            return s
    raise UsageError(f"unknown split {split!r}", hint="use train, val or test")
