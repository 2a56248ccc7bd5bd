"""``load_split(spec, split)``: a data spec plus a split name in, a :class:`DataSplit` out.

Decoded sources and their splits are cached per process (keyed by kind and resolved path;
:func:`clear_memory_cache` frees them) and, for CIFAR-10, also on disk (see :mod:`._cache`). The split
policy is documented in :mod:`._split`.
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path

import numpy as np
import numpy.typing as npt

from nnparts.client.data import _formats
from nnparts.client.data._cache import default_cache_dir, fingerprint, read_cached, write_cached
from nnparts.client.data._formats import RawData
from nnparts.client.data._spec import DataSpec, Kind, ValFrom, parse_spec
from nnparts.client.data._split import (
    DIGITS_VAL_OF_REST,
    SPLIT_SEED,
    TEST_FRACTION,
    VAL_FRACTION,
    VAL_OF_TEST,
    DataSplit,
    Split,
    check_split,
    stratified_holdout,
)
from nnparts.schemas.errors import DataSpecError

IndexArray = npt.NDArray[np.int64]
_MEMORY: dict[tuple[Kind, Path | None], RawData] = {}
_SPLITS: dict[tuple[Kind, Path | None, Split, ValFrom], DataSplit] = {}
_MEMORY_LOCK = threading.Lock()


def load_split(
    spec: str | DataSpec, split: str, *, disk_cache: bool = True, cache_dir: Path | None = None
) -> DataSplit:
    """Load one split (``train``, ``val`` or ``test``) of a data set.

    Args:
        spec: a data spec string (see :func:`parse_spec`) or a parsed :class:`DataSpec`.
        split: ``train``, ``val`` or ``test``; the policy is documented in ``nnparts.client.data._split``.
        disk_cache: allow the on-disk decoded-array cache (only slow sources use it).
        cache_dir: where that cache lives; default ``$NNPARTS_HOME/data-cache``.

    Returns:
        The split, with read-only arrays shared with the per-process cache.

    Raises:
        DataSpecError: malformed spec, or a folder without the expected files.
        FileMissing: the spec's directory does not exist.
        UsageError: unknown split name.
    """
    parsed = parse_spec(spec)
    which = check_split(split)
    path = _formats.require_dir(parsed.path, parsed.kind) if parsed.path is not None else None
    memo_key = (parsed.kind, path, which, parsed.val_from)
    with _MEMORY_LOCK:
        memo = _SPLITS.get(memo_key)
    if memo is not None:
        return memo
    cache = (cache_dir or default_cache_dir()).expanduser().resolve() if disk_cache else None
    raw = _read_raw(parsed.kind, path, cache)
    canonical = str(DataSpec(parsed.kind, path, parsed.val_from))
    if parsed.val_from == "test":
        result = _val_from_test(raw, which, canonical)
    else:
        result = _val_from_train(raw, parsed.kind, which, canonical)
    with _MEMORY_LOCK:
        return _SPLITS.setdefault(memo_key, result)


def _val_from_train(raw: RawData, kind: Kind, which: Split, canonical: str) -> DataSplit:
    """The default policy of ``_split``: val carved from the training images."""
    # digits: 60/20/20, i.e. val is a quarter of the 80 % left after the test hold-out.
    val_fraction = DIGITS_VAL_OF_REST if kind == "digits" else VAL_FRACTION
    train_idx, val_idx, test_idx = _split_indices(raw, val_fraction)
    if which == "test":
        if raw.test_x is not None and raw.test_y is not None:
            x, y = raw.test_x, raw.test_y
        else:
            x, y = raw.train_x[test_idx], raw.train_y[test_idx]
    else:
        idx = train_idx if which == "train" else val_idx
        x, y = raw.train_x[idx], raw.train_y[idx]
    return DataSplit(raw.name, which, x, y, raw.classes, canonical)


def _val_from_test(raw: RawData, which: Split, canonical: str) -> DataSplit:
    """The ``?val=test`` policy: all of train; val and test are the two stratified halves of test."""
    if raw.test_x is None or raw.test_y is None:
        raise DataSpecError(
            f"data spec {canonical!r}: this source has no official test set to carve val from",
            hint="drop ?val=test (val is then carved from the training images)",
        )
    if which == "train":
        return DataSplit(raw.name, which, raw.train_x, raw.train_y, raw.classes, canonical)
    keep, val = stratified_holdout(raw.test_y, VAL_OF_TEST, seed=SPLIT_SEED)
    idx = val if which == "val" else keep
    return DataSplit(raw.name, which, raw.test_x[idx], raw.test_y[idx], raw.classes, canonical)


def check_spec(spec: str | DataSpec) -> DataSpec:
    """Parse ``spec`` and check that its directory exists (cheap; no files are read).

    Commands call this before slow work, so a mistyped path fails at once.

    Raises:
        DataSpecError: malformed spec, or the path is not a directory.
        FileMissing: the directory does not exist.
    """
    parsed = parse_spec(spec)
    if parsed.path is None:
        return parsed
    return DataSpec(parsed.kind, _formats.require_dir(parsed.path, parsed.kind), parsed.val_from)


def clear_memory_cache() -> None:
    """Drop the per-process cache of decoded sources (frees memory)."""
    with _MEMORY_LOCK:
        _MEMORY.clear()
        _SPLITS.clear()
    _split_indices.cache_clear()


def _read_raw(kind: Kind, path: Path | None, cache_dir: Path | None) -> RawData:
    """Decoded source, memoised per process by (kind, resolved path); ``cache_dir`` is only used on a miss."""
    key = (kind, path)
    with _MEMORY_LOCK:
        hit = _MEMORY.get(key)
    if hit is not None:
        return hit
    if kind == "digits" or path is None:
        raw = _formats.read_digits()
    elif kind == "cifar10":
        raw = _read_with_disk_cache(path, cache_dir)
    elif kind == "fashion-mnist":
        raw = _formats.read_fashion_mnist(path)
    else:
        raw = _formats.read_imagefolder(path)
    for arr in (raw.train_x, raw.train_y, raw.test_x, raw.test_y):
        if arr is not None:
            arr.flags.writeable = False
    with _MEMORY_LOCK:
        return _MEMORY.setdefault(key, raw)


def _read_with_disk_cache(path: Path, cache_dir: Path | None) -> RawData:
    if cache_dir is None:
        return _formats.read_cifar10(path)
    sources = [*path.glob("cifar10_train_*.npz"), path / "cifar10_test.npz"]
    if not all(f.is_file() for f in sources):
        return _formats.read_cifar10(path)
    key = fingerprint(path, sources)
    cached = read_cached(cache_dir, "cifar10", key)
    if cached is not None:
        return cached
    raw = _formats.read_cifar10(path)
    write_cached(cache_dir, key, raw)
    return raw


@functools.cache
def _split_indices(raw: RawData, val_fraction: float) -> tuple[IndexArray, IndexArray, IndexArray]:
    """(train, val, test) indices into ``raw.train_*``; test is empty when the source has its own.

    ``val_fraction`` is the share of what remains after the test hold-out that becomes val.
    """
    if raw.test_x is None:
        rest, test = stratified_holdout(raw.train_y, TEST_FRACTION, seed=SPLIT_SEED)
    else:
        rest, test = np.arange(len(raw.train_y), dtype=np.int64), np.zeros(0, dtype=np.int64)
    keep, val = stratified_holdout(raw.train_y[rest], val_fraction, seed=SPLIT_SEED)
    return rest[keep], rest[val], test
