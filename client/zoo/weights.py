"""State dicts on disk: safetensors only (nothing is ever unpickled), sharded reads, strict loading.

``read_weights`` merges one or more safetensors files; ``load_strict`` checks names and shapes before
``load_state_dict`` so the error lists every missing, unexpected and mis-shaped key;
``weights_bytes`` serialises a state dict deterministically (one metadata key, canonical JSON).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save
from torch import nn

from nnparts.schemas.errors import FileMissing, IntegrityError, UsageError, WeightsError
from nnparts.schemas.integrity import canonical_json, read_safetensors_header

PICKLE_SUFFIXES = frozenset({".pt", ".pth", ".bin", ".ckpt", ".pkl", ".pickle", ".tar", ".h5"})
METADATA_KEY = "nnparts"


def convert_hint(path: Path) -> str:
    """The one-liner converting a pickled PyTorch checkpoint to safetensors (run it on trusted files only)."""
    out = path.with_suffix(".safetensors")
    return (
        'convert it once, on a trusted machine: python -c "import torch; from safetensors.torch import '
        f"save_file; save_file(torch.load('{path}', weights_only=True), '{out}')\""
    )


def check_safetensors(path: Path) -> None:
    """Refuse anything but a readable safetensors file, without loading tensors.

    Raises:
        FileMissing: no such file.
        UsageError: a pickle-based checkpoint (with the conversion command) or another format.
    """
    if not path.is_file():
        raise FileMissing(str(path), hint="--weights names safetensors files")
    try:
        read_safetensors_header(path)
    except (IntegrityError, OSError) as exc:
        if path.suffix.lower() in PICKLE_SUFFIXES:
            raise UsageError(
                f"{path} is a pickle-based checkpoint; nnparts only reads safetensors",
                hint=convert_hint(path),
            ) from exc
        raise UsageError(
            f"{path} is not a safetensors file ({exc})", hint="pass .safetensors weights"
        ) from exc


def read_weights(files: Sequence[str | Path]) -> dict[str, torch.Tensor]:
    """Load and merge safetensors files (a sharded state dict) on the CPU.

    Raises:
        UsageError: no files, or a file that is not safetensors (see :func:`check_safetensors`).
        FileMissing: a file does not exist.
        WeightsError: the same key appears in two files.
    """
    if not files:
        raise UsageError("no weights files given", hint="pass --weights FILE (repeat it for shards)")
    merged: dict[str, torch.Tensor] = {}
    seen_in: dict[str, Path] = {}
    for f in files:
        path = Path(f)
        check_safetensors(path)
        for key, tensor in load_file(str(path), device="cpu").items():
            if key in merged:
                raise WeightsError(
                    f"key {key!r} is in both {seen_in[key]} and {path}", hint="pass each shard once"
                )
            merged[key] = tensor
            seen_in[key] = path
    return merged


def load_strict(module: nn.Module, state: Mapping[str, torch.Tensor]) -> None:
    """Load ``state`` into ``module`` only if every key and shape matches exactly.

    Raises:
        WeightsError: with ``missing``, ``unexpected`` and ``mismatched`` (``key: file shape vs model``).
    """
    expected = module.state_dict()
    missing = sorted(k for k in expected if k not in state)
    unexpected = sorted(k for k in state if k not in expected)
    mismatched = sorted(
        f"{k}: {tuple(state[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    )
    if missing or unexpected or mismatched:
        raise WeightsError(
            f"weights do not fit the architecture {type(module).__name__}",
            missing=missing,
            unexpected=unexpected,
            mismatched=mismatched,
            hint="check --arch and --arch-kwargs (num_classes, in_channels, depth)",
        )
    module.load_state_dict(dict(state), strict=True)


def weights_bytes(state: Mapping[str, torch.Tensor], metadata: Mapping[str, Any]) -> bytes:
    """Serialise ``state`` to safetensors bytes; the same tensors and metadata give the same bytes.

    ``metadata`` is stored as exactly one header key, ``"nnparts"``, holding its canonical JSON.
    """
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state.items()}
    return save(tensors, metadata={METADATA_KEY: canonical_json(dict(metadata)).decode()})
