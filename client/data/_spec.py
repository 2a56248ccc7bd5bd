"""Data-spec parsing: the one string syntax every command uses to name a data set.

===================  ==========================================================================
spec                 meaning
===================  ==========================================================================
``digits``           scikit-learn's bundled 8x8 digits (1797 images, 10 classes, 1 channel)
``cifar10:DIR``      the CIFAR-10 ``.npz`` chunks (``cifar10_train_*.npz``, ``cifar10_test.npz``)
``fashion-mnist:DIR``  the official Fashion-MNIST ``*-ubyte(.gz)`` files, in DIR or DIR/FashionMNIST/raw
``imagefolder:DIR``  one sub-folder per class (``DIR/train`` + ``DIR/test`` when both exist)
===================  ==========================================================================

A directory spec may end in ``?val=test``: the origin model was trained on the whole official train
set, so a val split carved from it would be training data to the model and model selection on it
would be blind. ``val`` then comes from the official test set instead (see ``_split``).

Parsing is pure string work: it neither touches the file system nor imports numpy or torch.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from nnparts.schemas.errors import DataSpecError

Kind = Literal["digits", "cifar10", "fashion-mnist", "imagefolder"]
ValFrom = Literal["train", "test"]
VAL_FROM_TEST = "?val=test"
KINDS: tuple[Kind, ...] = ("digits", "cifar10", "fashion-mnist", "imagefolder")
_BY_NAME: dict[str, Kind] = {k: k for k in KINDS}
_USE = "use digits, cifar10:DIR, fashion-mnist:DIR or imagefolder:DIR"


@dataclass(frozen=True)
class DataSpec:
    """A parsed data spec: its ``kind`` and, for every kind but ``digits``, a directory.

    ``str(spec)`` gives back the canonical spec string (``kind``, ``kind:DIR`` or ``kind:DIR?val=test``).
    ``val_from`` says which official split ``val`` is carved from.
    """

    kind: Kind
    path: Path | None = None
    val_from: ValFrom = "train"

    def __str__(self) -> str:
        if self.path is None:
            return self.kind
        return f"{self.kind}:{self.path}" + (VAL_FROM_TEST if self.val_from == "test" else "")


def parse_spec(spec: str | DataSpec) -> DataSpec:
    """Parse a data spec string such as ``cifar10:/data/cifar10``.

    ``~`` in the directory is expanded; whether the directory exists is checked when loading.

    Raises:
        DataSpecError: unknown kind, a missing directory for a kind that needs one, or a
            directory given to ``digits``.
    """
    if isinstance(spec, DataSpec):
        return spec
    text = spec.strip()
    name, sep, rest = text.partition(":")
    kind = _BY_NAME.get(name.strip().lower())
    if kind is None:
        close = difflib.get_close_matches(name.strip().lower(), KINDS, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]}? {_USE}" if close else _USE
        raise DataSpecError(f"unknown data spec {spec!r}", hint=hint)
    if kind == "digits":
        if sep:
            raise DataSpecError(f"data spec {spec!r}: digits takes no directory", hint="write just 'digits'")
        return DataSpec("digits")
    if not rest.strip():
        raise DataSpecError(
            f"data spec {spec!r} names no directory", hint=f"write {kind}:DIR with the folder that holds it"
        )
    folder, val_from = rest.strip(), "train"
    if folder.endswith(VAL_FROM_TEST):
        folder, val_from = folder[: -len(VAL_FROM_TEST)], "test"
    elif "?" in folder and folder.rpartition("?")[2].startswith("val"):
        raise DataSpecError(
            f"data spec {spec!r}: unknown option {folder.rpartition('?')[2]!r}",
            hint=f"the only option is {VAL_FROM_TEST} (val carved from the official test set)",
        )
    if not folder:
        raise DataSpecError(
            f"data spec {spec!r} names no directory", hint=f"write {kind}:DIR with the folder that holds it"
        )
    return DataSpec(kind, Path(folder).expanduser(), "test" if val_from == "test" else "train")
