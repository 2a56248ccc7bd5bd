"""nnparts.client.data: data specs, splits and loaders (numpy only; no torch).

The torch-side helpers (``to_tensor``, ``iterate_batches``) live in :mod:`nnparts.client.data.transforms`
so that parsing a data spec never imports torch.
"""

from __future__ import annotations

from nnparts.client.data._cache import default_cache_dir
from nnparts.client.data._load import check_spec, clear_memory_cache, load_split
from nnparts.client.data._spec import KINDS, DataSpec, parse_spec
from nnparts.client.data._split import SPLIT_SEED, SPLITS, VAL_FRACTION, DataSplit, Split, stratified_holdout

__all__ = [
    "KINDS",
    "SPLITS",
    "SPLIT_SEED",
    "VAL_FRACTION",
    "DataSpec",
    "DataSplit",
    "Split",
    "check_spec",
    "clear_memory_cache",
    "default_cache_dir",
    "load_split",
    "parse_spec",
    "stratified_holdout",
]
